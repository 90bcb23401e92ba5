using System.Diagnostics;
using MemorySql.Embeddings.Llm;
using MemorySql.Workers.Common;
using MemorySql.Workers.Contradictions;
using MemorySql.Workers.Llm;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace MemorySql.Workers.Check;

/// <summary>
/// Checks each newly embedded memory against its nearest neighbours (docs/lifecycle.md): near duplicates are
/// merged, contradictions superseded or opened for review. Per batch: lease ready memory.check_queue rows
/// (FOR UPDATE SKIP LOCKED); per row, outside any transaction, read the memory and its neighbours and judge
/// them (the LLM when one is configured and the workspace's policy and token budget allow it, else heuristics,
/// saying why in the contradiction's detail; every LLM call is written to memory.llm_usage with purpose
/// 'contradiction'); then in one short transaction re-check the lease,
/// apply the plan (memory.merge_duplicate, memory.record_contradiction — each re-checks the rows it locks)
/// and delete the row. A memory that changed meanwhile makes the plan stale and it is made again. A worker
/// that dies mid-batch leaves its leases to run out; the rows are then checked by another, exactly once.
/// Wakes on NOTIFY memory_check, polls otherwise. Connects as the admin role (RLS does not apply).
/// </summary>
internal sealed class CheckWorker : QueueWorker
{
    public const string Channel = "memory_check";
    public const string WorkerName = "check-worker";
    private const int PlanRounds = 3;

    private readonly CheckWorkerOptions _options;
    private readonly CheckStore _store;
    private readonly CheckPlanner _planner;
    private readonly Backoff _rowBackoff;
    private readonly TimeSpan _lease;
    private readonly LlmContradictionJudge? _judge;
    private readonly LlmUsageWriter? _usage;
    private readonly Dictionary<string, string> _loggedOfflineReasons = new(StringComparer.Ordinal);

    /// <param name="usage">Where LLM usage is written (memory.llm_usage); null writes none (the budget is still checked).</param>
    public CheckWorker(NpgsqlDataSource adminDataSource, CheckWorkerOptions options, ILogger<CheckWorker> logger,
        WorkerHealthRegistry? registry = null, ILlmProvider? llm = null, LlmUsageWriter? usage = null)
        : base("check", Target(options, llm), adminDataSource, Pacing(options), logger, registry)
    {
        _options = options;
        _store = new CheckStore(adminDataSource);
        _judge = options.UseLlm && llm is not null ? new LlmContradictionJudge(llm) : null;
        _usage = usage;
        _planner = new CheckPlanner(new JudgeChain(_judge));
        _rowBackoff = new Backoff(TimeSpan.FromSeconds(options.RetryBaseSeconds), TimeSpan.FromSeconds(options.RetryMaxSeconds));
        _lease = TimeSpan.FromSeconds(options.LeaseSeconds);
    }

    protected override string? NotifyChannel => Channel;

    private static string Target(CheckWorkerOptions options, ILlmProvider? llm) =>
        options is { UseLlm: true } && llm is not null ? "llm:" + llm.Model : "heuristics";

    private static QueueWorkerPacing Pacing(CheckWorkerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        QueueWorkerPacing.ThrowIfInvalid("check", options.Validate(), nameof(options));
        return QueueWorkerPacing.WithRetries(options.PollIntervalSeconds, options.Concurrency, options.RetryBaseSeconds, options.RetryMaxSeconds);
    }

    protected override async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await SchemaRequirement.RequireAsync(DataSource, "check",
            ["memory.check_queue", "memory.record_contradiction(uuid, uuid, text, text, real, real, text, boolean, jsonb)", "memory.merge_duplicate(uuid, uuid, real, jsonb)"],
            cancellationToken);
        Logger.LogInformation("Check worker ready ({Target}), batches of {BatchSize}, {Candidates} neighbours per memory",
            Health.Target, _options.BatchSize, _options.Candidates);
    }

    protected override bool IsPermanent(Exception exception) => exception is InvalidOperationException;

    protected override async Task<BatchOutcome> RunBatchAsync(CancellationToken cancellationToken)
    {
        var token = Guid.NewGuid();
        var claims = await _store.ClaimAsync(token, _options.BatchSize, _lease, cancellationToken);
        if (claims.Count == 0) return BatchOutcome.Idle;
        var remaining = claims.Select(c => c.MemoryId).ToList();
        var leaseClock = Stopwatch.StartNew();
        var policies = new Dictionary<(string, string), CheckPolicy>();
        try
        {
            foreach (var claim in claims)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (leaseClock.Elapsed > _lease / 2)
                {
                    await _store.RenewAsync(token, remaining, _lease, cancellationToken);
                    leaseClock.Restart();
                }
                var llmFailed = await CheckOneAsync(claim, token, policies, cancellationToken);
                remaining.Remove(claim.MemoryId);
                if (llmFailed)
                {
                    // The LLM is failing: give the rest back untouched and pause instead of failing them one by one.
                    await _store.ReleaseAsync(token, remaining, cancellationToken);
                    return new BatchOutcome(claims.Count, true);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await ReleaseQuietlyAsync(token, remaining);
            throw;
        }
        return new BatchOutcome(claims.Count, false);
    }

    /// <summary>Checks one memory; true when the LLM failed transiently and the row was put back for later.</summary>
    private async Task<bool> CheckOneAsync(ClaimedCheck claim, Guid token, Dictionary<(string, string), CheckPolicy> policies, CancellationToken cancellationToken)
    {
        try
        {
            var judged = new Dictionary<Guid, Judgement>();
            CheckLlmScope? llmScope = null;
            for (var round = 1; round <= PlanRounds; round++)
            {
                var item = await _store.LoadAsync(claim.MemoryId, cancellationToken);
                IReadOnlyList<CheckAction> actions = [];
                if (item is { Status: "active" })
                {
                    if (!policies.TryGetValue((item.Workspace, claim.Model), out var policy))
                    {
                        policy = await _store.PolicyAsync(item.Workspace, claim.Model, cancellationToken);
                        policies[(item.Workspace, claim.Model)] = policy;
                    }
                    var neighbours = await _store.NeighboursAsync(item.Id, _options.Candidates, claim.Model, cancellationToken);
                    if (_judge is not null) llmScope ??= new CheckLlmScope(DataSource, _usage, _judge.Model, item.Workspace, item.Id);
                    var plan = await _planner.PlanAsync(item, neighbours, policy, claim.LlmAttempts + 1 >= _options.LlmMaxAttempts, judged,
                        llmScope, cancellationToken);
                    Count("llm_calls", plan.LlmCalls);
                    Count("llm_tokens", plan.LlmTokens);
                    Count("llm_fallbacks", plan.LlmFallbacks);
                    Count("llm_offline", plan.LlmOffline);
                    if (plan.LlmOffline > 0) LogOffline(item.Workspace, llmScope!.OfflineReason!);
                    actions = plan.Actions;
                }
                var outcome = await _store.ApplyAsync(claim, token, actions, WorkerName, CountAppliedAsync, cancellationToken);
                if (outcome == ApplyOutcome.Applied)
                {
                    Health.RecordSuccess(1);
                    return false;
                }
                if (outcome == ApplyOutcome.LostClaim)
                {
                    Count("lost_leases", 1);
                    Logger.LogWarning("Check of memory {Memory} took longer than its lease; another worker has it now", claim.MemoryId);
                    return false;
                }
                Count("replans", 1);
            }
            await FailAsync(claim, token, $"the memories around it kept changing while it was checked ({PlanRounds} plans in a row went stale)", cancellationToken);
            return false;
        }
        catch (LlmRetryException e)
        {
            Count("llm_retries", 1);
            Health.RecordError(e.Message);
            var delay = _rowBackoff.Delay(claim.LlmAttempts + 1);
            Logger.LogWarning("LLM failed while checking memory {Memory} ({Error}); it stays queued and is retried in {Delay:F0} s (after {Max} LLM attempts the heuristics decide)",
                claim.MemoryId, e.Message, delay.TotalSeconds, _options.LlmMaxAttempts);
            await _store.RecordLlmRetryAsync(claim, token, e.Message, delay, cancellationToken);
            return true;
        }
        catch (PostgresException e) when (!IsConnectionLevel(e))
        {
            await FailAsync(claim, token, $"{e.SqlState}: {e.MessageText}", cancellationToken);
            return false;
        }
    }

    private async Task FailAsync(ClaimedCheck claim, Guid token, string error, CancellationToken cancellationToken)
    {
        Health.RecordError(error);
        var failed = await _store.RecordFailureAsync(claim, token, error, _options.MaxAttempts, _rowBackoff.Delay(claim.Attempts + 1), cancellationToken);
        if (failed)
        {
            Health.RecordFailed(1);
            Logger.LogError("Checking memory {Memory} failed for the last time ({MaxAttempts} attempts); it stays in memory.check_queue as 'failed': {Error}",
                claim.MemoryId, _options.MaxAttempts, error);
        }
        else
        {
            Health.RecordRetried(1);
            Logger.LogWarning("Checking memory {Memory} failed; it stays queued and is retried with backoff: {Error}", claim.MemoryId, error);
        }
    }

    // Once per workspace and reason, not once per memory: a spent budget would otherwise log every check of the day.
    private void LogOffline(string workspace, string reason)
    {
        lock (_loggedOfflineReasons)
        {
            if (_loggedOfflineReasons.TryGetValue(workspace, out var logged) && logged == reason) return;
            _loggedOfflineReasons[workspace] = reason;
        }
        Logger.LogInformation("Contradiction checks of workspace {Workspace} use the heuristics: {Reason}", workspace, reason);
    }

    private Task CountAppliedAsync(CheckAction action, string outcome)
    {
        Count(action switch
        {
            MergeAction => "merged",
            ContradictionAction => outcome switch
            {
                "superseded" => "superseded",
                "opened" => "contradictions_opened",
                _ => "contradictions_known",
            },
            _ => "other",
        }, 1);
        return Task.CompletedTask;
    }

    private void Count(string counter, long delta)
    {
        if (delta != 0) Health.Count(counter, delta);
    }

    // Errors of the connection or the server as a whole, not of this memory: the loop backs off and the lease brings the row back.
    private static bool IsConnectionLevel(PostgresException e) =>
        e.SqlState.StartsWith("08", StringComparison.Ordinal) || e.SqlState.StartsWith("57", StringComparison.Ordinal) ||
        e.SqlState.StartsWith("53", StringComparison.Ordinal);

    private async Task ReleaseQuietlyAsync(Guid token, List<Guid> remaining)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _store.ReleaseAsync(token, remaining, timeout.Token);
        }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException or TimeoutException)
        {
            Logger.LogDebug("Could not give back {Count} leased checks while stopping ({Error}); their lease runs out instead", remaining.Count, e.Message);
        }
    }

    protected override async Task RefreshQueueDepthAsync(CancellationToken cancellationToken)
    {
        var (queued, failed) = await _store.QueueDepthAsync(cancellationToken);
        Health.RecordQueue(queued, failed);
    }
}
