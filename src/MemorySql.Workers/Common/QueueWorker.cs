using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace MemorySql.Workers.Common;

/// <summary>What one batch did.</summary>
/// <param name="Claimed">Queue items claimed; 0 means nothing was ready and the loop may sleep.</param>
/// <param name="Paused">True when an outside dependency (the provider) failed: the loop backs off before the next batch instead of draining on.</param>
internal readonly record struct BatchOutcome(int Claimed, bool Paused)
{
    public static readonly BatchOutcome Idle = new(0, false);
}

/// <summary>How a queue worker's loop paces itself.</summary>
internal sealed record QueueWorkerPacing
{
    /// <summary>Sleep between looks at an empty queue when no NOTIFY arrives.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>Independent loops claiming batches in parallel (SKIP LOCKED keeps them apart).</summary>
    public int Concurrency { get; init; } = 1;
    /// <summary>Backoff of the loop itself after a failed batch (database unreachable, provider down).</summary>
    public Backoff ErrorBackoff { get; init; } = new(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));
    /// <summary>How often the queue depth is counted while the queue drains.</summary>
    public TimeSpan DepthInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The pacing of a worker that retries its rows with backoff between <paramref name="retryBaseSeconds"/> and
    /// <paramref name="retryMaxSeconds"/>: its loop backs off the same way after a failed batch, but starts at 1 s at
    /// the most and waits 60 s at the longest, so an outage that ends is noticed soon whatever the rows' backoff.
    /// </summary>
    public static QueueWorkerPacing WithRetries(double pollIntervalSeconds, int concurrency, double retryBaseSeconds, double retryMaxSeconds) => new()
    {
        PollInterval = TimeSpan.FromSeconds(pollIntervalSeconds),
        Concurrency = concurrency,
        ErrorBackoff = new Backoff(TimeSpan.FromSeconds(Math.Min(1, retryBaseSeconds)), TimeSpan.FromSeconds(Math.Min(60, retryMaxSeconds))),
    };

    /// <summary>Refuses a worker's options with every problem their Validate() found, each naming its key.</summary>
    /// <exception cref="ArgumentException">Thrown for <paramref name="paramName"/> when <paramref name="errors"/> is not empty.</exception>
    public static void ThrowIfInvalid(string worker, IReadOnlyList<string> errors, string paramName)
    {
        if (errors.Count > 0) throw new ArgumentException($"invalid {worker} worker configuration: " + string.Join("; ", errors), paramName);
    }
}

/// <summary>
/// The common shape of every MemorySql worker: a table queue claimed with FOR UPDATE SKIP LOCKED,
/// drained in batches while there is work, woken by NOTIFY and polling as a fallback, backing off
/// when batches fail, and reporting health. Subclasses say how to start (<see cref="InitializeAsync"/>)
/// and what one batch is (<see cref="RunBatchAsync"/>).
/// </summary>
internal abstract class QueueWorker : BackgroundService
{
    // A wake-up that never comes: after a failure only the backoff delay ends the wait.
    private static readonly Task Never = new TaskCompletionSource().Task;

    private readonly QueueWorkerPacing _pacing;
    private readonly WorkerHealthRegistry? _registry;
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _lastDepthCheck;

    protected QueueWorker(string name, string? target, NpgsqlDataSource dataSource, QueueWorkerPacing pacing, ILogger logger, WorkerHealthRegistry? registry)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentNullException.ThrowIfNull(pacing);
        if (pacing.Concurrency < 1) throw new ArgumentOutOfRangeException(nameof(pacing), "concurrency must be at least 1");
        DataSource = dataSource;
        _pacing = pacing;
        Logger = logger;
        Health = new WorkerHealth(name, target);
        _registry = registry;
        _registry?.Add(Health);
    }

    public WorkerHealth Health { get; }

    /// <summary>Completes once the worker initialised and (when it has a channel) listens for NOTIFY.</summary>
    public Task Ready => _ready.Task;

    protected NpgsqlDataSource DataSource { get; }
    protected ILogger Logger { get; }
    protected WakeSignal Wake { get; } = new();

    /// <summary>The NOTIFY channel that announces new work; null to rely on polling.</summary>
    protected abstract string? NotifyChannel { get; }

    /// <summary>Whether a notification's payload concerns this worker.</summary>
    protected virtual bool AcceptsNotification(string payload) => true;

    /// <summary>Prepares the database side (registrations, checks); retried with backoff until it succeeds.</summary>
    protected abstract Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>Claims and completes one batch in its own transaction(s).</summary>
    protected abstract Task<BatchOutcome> RunBatchAsync(CancellationToken cancellationToken);

    /// <summary>Counts the queue for <see cref="WorkerHealth"/>.</summary>
    protected virtual Task RefreshQueueDepthAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Failures of initialisation that retrying cannot fix; the worker stops with the error in its health.</summary>
    protected virtual bool IsPermanent(Exception exception) => false;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await WorkerSynchronizationContext.Enter(); // never continue on a socket thread
        Health.MarkRunning(true);
        try
        {
            if (!await InitializeWithRetriesAsync(stoppingToken)) return;
            var loops = new List<Task>();
            if (NotifyChannel is { } channel)
            {
                var listener = new NotificationListener(DataSource, channel, AcceptsNotification, Wake, Logger, _pacing.ErrorBackoff);
                loops.Add(listener.RunAsync(stoppingToken));
                await listener.FirstAttempt.WaitAsync(stoppingToken);
            }
            _ready.TrySetResult();
            for (var i = 0; i < _pacing.Concurrency; i++) loops.Add(DrainLoopAsync(stoppingToken));
            await Task.WhenAll(loops);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: an interrupted batch rolled back, its rows are still queued.
        }
        finally
        {
            _ready.TrySetCanceled(CancellationToken.None);
            Health.MarkRunning(false);
        }
    }

    private async Task<bool> InitializeWithRetriesAsync(CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await InitializeAsync(cancellationToken);
                return true;
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                Health.RecordError(e.Message);
                if (IsPermanent(e))
                {
                    Logger.LogError(e, "{Worker} worker cannot start: {Error}", Health.Worker, e.Message);
                    _ready.TrySetException(e);
                    return false;
                }
                var delay = _pacing.ErrorBackoff.Delay(attempt);
                Logger.LogWarning("{Worker} worker could not start ({Error}); trying again in {Delay:F1} s", Health.Worker, e.Message, delay.TotalSeconds);
                await Task.Delay(delay, cancellationToken);
            }
        }
    }

    private async Task DrainLoopAsync(CancellationToken cancellationToken)
    {
        var failures = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            var wake = Wake.Current;
            var wait = _pacing.PollInterval;
            try
            {
                var paused = await DrainAsync(cancellationToken);
                if (paused)
                {
                    // The provider is failing: back off instead of claiming the next rows at once; a NOTIFY does not cut this short.
                    failures++;
                    wait = _pacing.ErrorBackoff.Delay(failures);
                    wake = Never;
                }
                else
                {
                    failures = 0;
                }
                await RefreshDepthIfDueAsync(force: true, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                failures++;
                Health.RecordError(e.Message);
                wait = _pacing.ErrorBackoff.Delay(failures);
                wake = Never;
                Logger.LogWarning(e, "{Worker} worker batch failed ({Error}); next try in {Delay:F1} s", Health.Worker, e.Message, wait.TotalSeconds);
            }
            try
            {
                await WakeSignal.WaitAsync(wake, wait, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Runs batches while there is ready work; true when a batch asked to pause.</summary>
    private async Task<bool> DrainAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var outcome = await RunBatchAsync(cancellationToken);
            if (outcome.Paused) return true;
            if (outcome.Claimed == 0) return false;
            await RefreshDepthIfDueAsync(force: false, cancellationToken);
        }
    }

    private async Task RefreshDepthIfDueAsync(bool force, CancellationToken cancellationToken)
    {
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastDepthCheck);
        if (!force && now - last < _pacing.DepthInterval.TotalMilliseconds) return;
        if (Interlocked.CompareExchange(ref _lastDepthCheck, now, last) != last) return;
        await RefreshQueueDepthAsync(cancellationToken);
    }

    public override void Dispose()
    {
        _registry?.Remove(Health);
        base.Dispose();
        GC.SuppressFinalize(this);
    }
}
