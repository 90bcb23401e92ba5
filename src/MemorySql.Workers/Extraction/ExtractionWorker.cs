using System.Text.Json.Nodes;
using MemorySql.Embeddings.Llm;
using MemorySql.Workers.Common;
using MemorySql.Workers.Llm;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace MemorySql.Workers.Extraction;

/// <summary>
/// Turns ingested resources (conversations, session_commit notes) into item memories. Per batch, in one
/// transaction: claim ready memory.extraction_queue rows FOR UPDATE SKIP LOCKED; for each resource extract its
/// memories — with the LLM when one is configured and the workspace's policy and budget allow it, else with
/// sentence-level heuristics, saying why in the items' metadata, on the resource (<c>extraction</c>), in the
/// audit event and in the log — and, on its own savepoint, write them through memory.store, record the outcome
/// on the resource and delete its queue row. A resource whose extraction fails (the LLM failing after its retries,
/// an answer that never validates) rolls back to its savepoint — no item of it stays — and gets attempts + 1,
/// last_error and a later run_after ('failed' after the last attempt, shown by memory.extraction_status). A crash
/// or stop mid-batch rolls everything back: nothing is lost and nothing is written twice. LLM usage is written to
/// memory.llm_usage outside the transaction, so a rollback does not hide its cost.
/// </summary>
internal sealed class ExtractionWorker : QueueWorker
{
    public const string Channel = "memory_extract";

    private readonly ExtractionWorkerOptions _options;
    private readonly LlmExtractor? _llm;
    private readonly LlmUsageWriter? _usage;
    private readonly Backoff _rowBackoff;

    public ExtractionWorker(NpgsqlDataSource adminDataSource, ExtractionWorkerOptions options, ILlmProvider? llm, LlmUsageWriter? usage,
        ILogger<ExtractionWorker> logger, WorkerHealthRegistry? registry = null)
        : base("extraction", Target(options, llm), adminDataSource, Pacing(options), logger, registry)
    {
        _options = options;
        _llm = options.UseLlm && llm is not null ? new LlmExtractor(llm, options.MaxChunkChars) : null;
        _usage = usage;
        _rowBackoff = new Backoff(TimeSpan.FromSeconds(options.RetryBaseSeconds), TimeSpan.FromSeconds(options.RetryMaxSeconds));
    }

    /// <summary>The model extraction uses, or null for heuristics only.</summary>
    public string? Model => _llm?.Model;

    protected override string? NotifyChannel => Channel;

    private static string Target(ExtractionWorkerOptions options, ILlmProvider? llm) =>
        options?.UseLlm == true && llm is not null ? "llm:" + llm.Model : "heuristic";

    private static QueueWorkerPacing Pacing(ExtractionWorkerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        QueueWorkerPacing.ThrowIfInvalid("extraction", options.Validate(), nameof(options));
        return QueueWorkerPacing.WithRetries(options.PollIntervalSeconds, options.Concurrency, options.RetryBaseSeconds, options.RetryMaxSeconds);
    }

    /// <summary>Checks that the schema has the extraction queue (migrations applied).</summary>
    protected override async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await using var command = DataSource.CreateCommand("SELECT count(*) FROM memory.extraction_queue WHERE false");
        await command.ExecuteScalarAsync(cancellationToken);
        Logger.LogInformation("Extraction worker started ({Mode})", _llm is null ? "heuristics: no LLM configured" : "LLM " + _llm.Model + ", heuristics when a workspace may not use it");
    }

    protected override bool IsPermanent(Exception exception) =>
        exception is PostgresException { SqlState: PostgresErrorCodes.UndefinedTable or PostgresErrorCodes.InvalidSchemaName };

    protected override async Task<BatchOutcome> RunBatchAsync(CancellationToken cancellationToken)
    {
        await using var connection = await DataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var claimed = await ExtractionStore.ClaimAsync(connection, _options.BatchSize, cancellationToken);
        if (claimed.Count == 0) return BatchOutcome.Idle;

        var done = 0;
        var paused = false;
        foreach (var resource in claimed)
        {
            var outcome = await ExtractOneAsync(connection, transaction, resource, cancellationToken);
            if (outcome == RowOutcome.Done) done++;
            if (outcome == RowOutcome.TransientFailure) paused = true;
        }
        await transaction.CommitAsync(cancellationToken);
        if (done > 0) Health.RecordSuccess(done);
        return new BatchOutcome(claimed.Count, paused);
    }

    private enum RowOutcome { Done, Failure, TransientFailure, Conflict }

    private async Task<RowOutcome> ExtractOneAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, ClaimedResource resource,
        CancellationToken cancellationToken)
    {
        const string SavepointName = "extract_resource";
        await Savepoint.CreateAsync(connection, SavepointName, cancellationToken);
        try
        {
            var conversation = Conversation.Parse(resource.Id, resource.Workspace, resource.Entity, resource.Process, resource.SessionId,
                resource.Kind, resource.Content, resource.Metadata);
            var (items, outcome) = await ExtractItemsAsync(connection, conversation, cancellationToken);
            var (written, inserted) = await ExtractionStore.CompleteAsync(connection, resource, items, outcome, cancellationToken);
            await Savepoint.ReleaseAsync(connection, SavepointName, cancellationToken);
            Health.Count("items", written);
            Health.Count("new_memories", inserted);
            Logger.LogDebug("Extracted {Items} memories ({New} new) from resource {Resource} of workspace {Workspace} ({Mode})",
                written, inserted, resource.Id, resource.Workspace, outcome["mode"]);
            return RowOutcome.Done;
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure)
        {
            // Two batches wrote the same memories (one person's fact in two conversations) in opposite orders and
            // PostgreSQL broke the deadlock by failing this one. Nothing is wrong with the resource: undo it and retry
            // it shortly, once the other batch has committed, without counting an attempt or its 30 s failure backoff.
            await Savepoint.RollbackToAsync(connection, SavepointName, cancellationToken);
            await ExtractionStore.RequeueAsync(connection, resource, $"{e.SqlState}: {e.MessageText} (retried, not counted as an attempt)",
                TimeSpan.FromMilliseconds(100 + Random.Shared.Next(400)), cancellationToken);
            Health.Count("write_conflicts", 1);
            Logger.LogInformation("Extraction of resource {Resource} (workspace {Workspace}) collided with another batch writing the same memories ({Error}); it is retried shortly",
                resource.Id, resource.Workspace, e.MessageText);
            return RowOutcome.Conflict;
        }
        catch (Exception e) when (e is LlmException or PostgresException or System.Text.Json.JsonException or FormatException
                                  || (e is InvalidOperationException && e is not ObjectDisposedException))
        {
            await Savepoint.RollbackToAsync(connection, SavepointName, cancellationToken);
            var transient = e is LlmException { IsTransient: true };
            var state = await ExtractionStore.RecordFailureAsync(connection, resource, e.Message, _rowBackoff.Delay(resource.Attempts + 1),
                _options.MaxAttempts, cancellationToken);
            Health.RecordError(e.Message);
            if (state == "failed")
            {
                Health.RecordFailed(1);
                Logger.LogError("Extraction of resource {Resource} (workspace {Workspace}) failed for the last time ({Attempts} attempts); it stays in memory.extraction_queue as 'failed' and wrote nothing: {Error}",
                    resource.Id, resource.Workspace, _options.MaxAttempts, e.Message);
            }
            else
            {
                Health.RecordRetried(1);
                Logger.LogWarning("Extraction of resource {Resource} (workspace {Workspace}) failed and wrote nothing; it is retried with backoff: {Error}",
                    resource.Id, resource.Workspace, e.Message);
            }
            return transient ? RowOutcome.TransientFailure : RowOutcome.Failure;
        }
    }

    /// <summary>The memories of one resource and how they were found (mode, model, why not the LLM, tokens).</summary>
    private async Task<(List<ExtractedItem> Items, JsonObject Outcome)> ExtractItemsAsync(NpgsqlConnection connection, Conversation conversation,
        CancellationToken cancellationToken)
    {
        var offlineReason = _llm is null
            ? _options.UseLlm ? "no LLM is configured (Llm:Provider = none)" : "the extraction worker is set to heuristics (Workers:Extraction:UseLlm = false)"
            : await LlmBudget.OfflineReasonAsync(connection, conversation.Workspace, cancellationToken);
        if (offlineReason is not null)
        {
            if (_llm is not null)
                Logger.LogInformation("Extraction of resource {Resource} (workspace {Workspace}) uses heuristics: {Reason}",
                    conversation.ResourceId, conversation.Workspace, offlineReason);
            Health.Count("heuristic", 1);
            return (HeuristicExtractor.Extract(conversation), new JsonObject { ["mode"] = "heuristic", ["offline_reason"] = offlineReason });
        }

        var usage = default(LlmUsage);
        var (items, calls) = await _llm!.ExtractAsync(conversation, async (callUsage, error) =>
        {
            usage = new LlmUsage(usage.PromptTokens + callUsage.PromptTokens, usage.CompletionTokens + callUsage.CompletionTokens);
            if (_usage is not null)
                await _usage.WriteNowAsync(new LlmUsageRecord(conversation.Workspace, LlmExtractor.Purpose, _llm.Model, callUsage, error is null, error,
                    new JsonObject { ["resource"] = conversation.ResourceId.ToString() }.ToJsonString()), CancellationToken.None);
        }, cancellationToken);
        Health.Count("llm", 1);
        return (items, new JsonObject
        {
            ["mode"] = "llm",
            ["model"] = _llm.Model,
            ["calls"] = calls,
            ["prompt_tokens"] = usage.PromptTokens,
            ["completion_tokens"] = usage.CompletionTokens,
        });
    }

    protected override async Task RefreshQueueDepthAsync(CancellationToken cancellationToken)
    {
        var (queued, failed) = await ExtractionStore.QueueDepthAsync(DataSource, cancellationToken);
        Health.RecordQueue(queued, failed);
    }
}
