using System.Diagnostics;
using System.Globalization;
using MemorySql.Embeddings;
using MemorySql.Workers.Common;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace MemorySql.Workers.Embed;

/// <summary>
/// Embeds queued memories and recall texts with one provider's model (docs/architecture.md, "models,
/// embeddings and the embed queue"). Per batch, in one transaction: claim ready rows FOR UPDATE SKIP
/// LOCKED, embed them in one provider call, upsert memory.embeddings, delete the claimed queue rows,
/// commit. A provider failure rolls the claim back and records the attempt (with backoff, 'failed' after
/// the last one) in a new transaction. A crash or a stop mid-batch rolls back: nothing is lost, nothing
/// is embedded twice by concurrent workers. Wakes on NOTIFY memory_embed (payload: the model), polls
/// otherwise. Connects as the admin role (schema owner), so row-level security does not apply.
/// </summary>
internal sealed class EmbedWorker : QueueWorker
{
    public const string Channel = "memory_embed";

    private readonly IEmbeddingProvider _provider;
    private readonly EmbedWorkerOptions _options;
    private readonly EmbedStore _store;
    private readonly Backoff _rowBackoff;

    public EmbedWorker(NpgsqlDataSource adminDataSource, IEmbeddingProvider provider, EmbedWorkerOptions options, ILogger<EmbedWorker> logger,
        WorkerHealthRegistry? registry = null)
        : base("embed", provider?.Model, adminDataSource, Pacing(options), logger, registry)
    {
        ArgumentNullException.ThrowIfNull(provider);
        _provider = provider;
        _options = options;
        _store = new EmbedStore(provider.Model, provider.Dimension, options.VectorTransfer);
        _rowBackoff = new Backoff(TimeSpan.FromSeconds(options.RetryBaseSeconds), TimeSpan.FromSeconds(options.RetryMaxSeconds));
    }

    /// <summary>The model this worker embeds for.</summary>
    public string Model => _provider.Model;

    protected override string? NotifyChannel => Channel;

    protected override bool AcceptsNotification(string payload) => payload.Length == 0 || payload == _provider.Model;

    private static QueueWorkerPacing Pacing(EmbedWorkerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        QueueWorkerPacing.ThrowIfInvalid("embed", options.Validate(), nameof(options));
        return QueueWorkerPacing.WithRetries(options.PollIntervalSeconds, options.Concurrency, options.RetryBaseSeconds, options.RetryMaxSeconds);
    }

    /// <summary>Registers the model (memory.register_model is idempotent), so its rows get queued and indexed.</summary>
    protected override async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await using var command = DataSource.CreateCommand("SELECT memory.register_model($1, $2, $3)");
        command.Parameters.Add(new NpgsqlParameter { Value = _provider.Model });
        command.Parameters.Add(new NpgsqlParameter { Value = _provider.Dimension });
        command.Parameters.Add(new NpgsqlParameter { Value = _options.MakeDefault });
        try
        {
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedFunction)
        {
            throw new InvalidOperationException(
                "the database has no memory.register_model(text, integer, boolean): its memory schema is older than this MemorySql; apply the migrations (memorysql migrate) and restart", e);
        }
        Logger.LogInformation("Embed worker ready for model {Model} ({Dimension} dimensions), batches of {BatchSize}, {Concurrency} at a time",
            _provider.Model, _provider.Dimension, _options.BatchSize, _options.Concurrency);
    }

    protected override bool IsPermanent(Exception exception) =>
        exception is InvalidOperationException { InnerException: PostgresException { SqlState: PostgresErrorCodes.UndefinedFunction } }
        || exception is PostgresException { SqlState: "22023" or PostgresErrorCodes.CheckViolation };

    protected override async Task<BatchOutcome> RunBatchAsync(CancellationToken cancellationToken)
    {
        // Recall texts first: a person may be waiting for the next recall to rank by vector.
        var queries = await EmbedQueriesAsync(cancellationToken);
        if (queries.Paused) return queries;
        var memories = await EmbedMemoriesAsync(cancellationToken);
        return new BatchOutcome(queries.Claimed + memories.Claimed, memories.Paused);
    }

    private async Task<BatchOutcome> EmbedMemoriesAsync(CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        List<ClaimedMemory> claimed;
        List<RowFailure>? failures = null;
        string? batchError = null;
        await using (var connection = await DataSource.OpenConnectionAsync(cancellationToken))
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            claimed = await _store.ClaimMemoriesAsync(connection, _options.BatchSize, cancellationToken);
            if (claimed.Count == 0) return BatchOutcome.Idle;

            var live = claimed.Where(r => !r.Deleted).ToList();
            var (vectors, error, perRow) = await EmbedAsync(live.Select(r => r.Content).ToList(), cancellationToken);
            if (error is not null)
            {
                // Nothing written: roll the claim back and count the attempt in a new transaction (below).
                await transaction.RollbackAsync(cancellationToken);
                batchError = error;
            }
            else
            {
                var done = new List<ClaimedMemory>(live.Count);
                var doneVectors = new List<float[]>(live.Count);
                for (var i = 0; i < live.Count; i++)
                {
                    if (vectors![i] is null) continue;
                    done.Add(live[i]);
                    doneVectors.Add(vectors[i]!);
                }
                var dequeue = claimed.Where(r => r.Deleted).Select(r => r.Id).Concat(done.Select(r => r.Id)).ToList();
                await _store.WriteMemoriesAsync(connection, done, [.. doneVectors], dequeue, cancellationToken);
                if (perRow is { Count: > 0 })
                {
                    // Some texts fail on their own (e.g. too long for the model): count their attempt in this
                    // transaction, so the rest of the batch is not held hostage.
                    failures = perRow.Select(f => f with { Index = claimed.IndexOf(live[f.Index]) }).ToList();
                    var nowFailed = await _store.RecordMemoryFailuresAsync(connection, claimed, failures, _options.MaxAttempts, _rowBackoff.Delay, cancellationToken);
                    NoteFailures(failures.Count, nowFailed, failures[0].Error, "memories");
                }
                await transaction.CommitAsync(cancellationToken);
                Health.RecordSuccess(done.Count);
                Health.Count("memories", done.Count);
                Logger.LogDebug("Embedded {Count} memories with {Model} in {Elapsed:F1} ms", done.Count, _provider.Model,
                    Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                return new BatchOutcome(claimed.Count, false);
            }
        }

        // Soft-deleted rows are not the provider's business: they stay queued untouched and are dequeued by the next good batch.
        failures = claimed.Select((row, i) => (row, i)).Where(x => !x.row.Deleted).Select(x => new RowFailure(x.i, batchError)).ToList();
        var failedNow = await RecordWithNewConnectionAsync(
            (connection, ct) => _store.RecordMemoryFailuresAsync(connection, claimed, failures, _options.MaxAttempts, _rowBackoff.Delay, ct),
            cancellationToken);
        NoteFailures(failures.Count, failedNow, batchError, "memories");
        return new BatchOutcome(claimed.Count, true);
    }

    private async Task<BatchOutcome> EmbedQueriesAsync(CancellationToken cancellationToken)
    {
        List<ClaimedQuery> claimed;
        string? batchError;
        await using (var connection = await DataSource.OpenConnectionAsync(cancellationToken))
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            claimed = await _store.ClaimQueriesAsync(connection, _options.QueryBatchSize, _options.MaxAttempts, cancellationToken);
            if (claimed.Count == 0) return BatchOutcome.Idle;

            var (vectors, error, perRow) = await EmbedAsync(claimed.Select(r => r.Query).ToList(), cancellationToken);
            if (error is null)
            {
                var done = Enumerable.Range(0, claimed.Count).Where(i => vectors![i] is not null).ToList();
                await _store.WriteQueriesAsync(connection, done.Select(i => claimed[i]).ToList(), done.Select(i => vectors![i]!).ToArray(), cancellationToken);
                if (perRow is { Count: > 0 })
                {
                    await _store.RecordQueryFailuresAsync(connection, claimed, perRow, cancellationToken);
                    NoteFailures(perRow.Count, 0, perRow[0].Error, "recall texts");
                }
                await transaction.CommitAsync(cancellationToken);
                Health.RecordSuccess(done.Count);
                Health.Count("queries", done.Count);
                // Recall texts have no run_after column: pause after any failure so they are not retried at once.
                return new BatchOutcome(claimed.Count, perRow is { Count: > 0 });
            }
            await transaction.RollbackAsync(cancellationToken);
            batchError = error;
        }

        var failures = claimed.Select((_, i) => new RowFailure(i, batchError)).ToList();
        await RecordWithNewConnectionAsync(async (connection, ct) =>
        {
            await _store.RecordQueryFailuresAsync(connection, claimed, failures, ct);
            return 0;
        }, cancellationToken);
        NoteFailures(failures.Count, 0, batchError, "recall texts");
        return new BatchOutcome(claimed.Count, true);
    }

    /// <summary>
    /// Embeds <paramref name="texts"/>. Returns the vectors; or a batch error (the provider failed for the
    /// batch as a whole); or, when the provider rejected the batch because of some of its texts, the
    /// vectors of the others and one failure per rejected text.
    /// </summary>
    private async Task<(float[]?[]? Vectors, string? Error, List<RowFailure>? PerRow)> EmbedAsync(List<string> texts, CancellationToken cancellationToken)
    {
        if (texts.Count == 0) return ([], null, null);
        try
        {
            var vectors = await _provider.EmbedAsync(texts, cancellationToken);
            CheckShape(vectors, texts.Count);
            return (vectors, null, null);
        }
        catch (EmbeddingException e) when (!e.IsTransient && texts.Count > 1)
        {
            return await EmbedOneByOneAsync(texts, e, cancellationToken);
        }
        catch (EmbeddingException e)
        {
            return (null, e.Message, null);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A provider bug or an unwrapped error still counts as a failed attempt, so the rows cannot loop forever.
            return (null, $"{e.GetType().Name}: {e.Message}", null);
        }
    }

    /// <summary>After a non-transient batch failure: embeds each text alone to find the ones the provider rejects.</summary>
    private async Task<(float[]?[]? Vectors, string? Error, List<RowFailure>? PerRow)> EmbedOneByOneAsync(List<string> texts, EmbeddingException batchFailure, CancellationToken cancellationToken)
    {
        var vectors = new float[]?[texts.Count];
        var failures = new List<RowFailure>();
        for (var i = 0; i < texts.Count; i++)
        {
            try
            {
                var one = await _provider.EmbedAsync([texts[i]], cancellationToken);
                CheckShape(one, 1);
                vectors[i] = one[0];
            }
            catch (EmbeddingException e) when (!e.IsTransient)
            {
                failures.Add(new RowFailure(i, e.Message));
            }
            catch (EmbeddingException e)
            {
                return (null, e.Message, null);
            }
        }
        // Every text failed alone too: the provider itself is the problem (bad key, bad model), not the texts.
        if (failures.Count == texts.Count) return (null, batchFailure.Message, null);
        return (vectors, null, failures);
    }

    private void CheckShape(float[][] vectors, int expected)
    {
        if (vectors.Length != expected)
            throw new EmbeddingException(_provider.Model, string.Create(CultureInfo.InvariantCulture,
                $"the {_provider.Model} provider returned {vectors.Length} vectors for {expected} texts"), isTransient: false);
        foreach (var vector in vectors)
        {
            if (vector is null || vector.Length != _provider.Dimension)
                throw new EmbeddingException(_provider.Model, string.Create(CultureInfo.InvariantCulture,
                    $"the {_provider.Model} provider returned a vector of {vector?.Length ?? 0} dimensions; the model is registered with {_provider.Dimension}"), isTransient: false);
        }
    }

    private async Task<int> RecordWithNewConnectionAsync(Func<NpgsqlConnection, CancellationToken, Task<int>> record, CancellationToken cancellationToken)
    {
        await using var connection = await DataSource.OpenConnectionAsync(cancellationToken);
        return await record(connection, cancellationToken);
    }

    private void NoteFailures(int count, int nowFailed, string error, string what)
    {
        Health.RecordError(error);
        Health.RecordRetried(count - nowFailed);
        Health.RecordFailed(nowFailed);
        if (nowFailed > 0)
            Logger.LogError("Embedding {Count} {What} with {Model} failed for the last time ({MaxAttempts} attempts); they stay in memory.embedding_queue as 'failed': {Error}",
                nowFailed, what, _provider.Model, _options.MaxAttempts, error);
        if (count > nowFailed)
            Logger.LogWarning("Embedding {Count} {What} with {Model} failed; they stay queued and are retried with backoff: {Error}",
                count - nowFailed, what, _provider.Model, error);
    }

    protected override async Task RefreshQueueDepthAsync(CancellationToken cancellationToken)
    {
        var (queued, failed) = await _store.QueueDepthAsync(DataSource, cancellationToken);
        Health.RecordQueue(queued, failed);
    }
}
