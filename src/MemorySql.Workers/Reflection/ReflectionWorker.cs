using System.Text.Json.Nodes;
using MemorySql.Embeddings.Llm;
using MemorySql.Workers.Common;
using MemorySql.Workers.Llm;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace MemorySql.Workers.Reflection;

/// <summary>
/// Keeps a category-layer summary of every group of item memories — per workspace, entity and topic, the
/// topics being each memory's kind and each of its tags (sql/120_reflection.sql) — linked to its members by
/// summarizes edges. Only groups marked since their last summary (a trigger marks them on every change that
/// matters) and settled for <see cref="ReflectionWorkerOptions.DebounceSeconds"/> are looked at; a group whose
/// members did not change (same fingerprint) is left alone; otherwise its summary is revised (the previous version
/// stays in history as superseded) or, the first time, written. Summaries come from the LLM when one is configured
/// and the workspace's policy and budget allow, and are extractive otherwise — the summary's first line, its
/// metadata and memory.reflection_status say which. Per group, in one transaction holding an advisory lock on
/// it: claim its marks FOR UPDATE SKIP LOCKED, summarise, write as the workspace, delete the claimed marks. An LLM
/// failure leaves the marks and records attempts, last_error and a later run_after on the group ('failed' after
/// the last attempt).
/// </summary>
internal sealed class ReflectionWorker : QueueWorker
{
    private readonly ReflectionWorkerOptions _options;
    private readonly ILlmProvider? _llm;
    private readonly LlmUsageWriter? _usage;
    private readonly Backoff _groupBackoff;

    public ReflectionWorker(NpgsqlDataSource adminDataSource, ReflectionWorkerOptions options, ILlmProvider? llm, LlmUsageWriter? usage,
        ILogger<ReflectionWorker> logger, WorkerHealthRegistry? registry = null)
        : base("reflection", options?.UseLlm == true && llm is not null ? "llm:" + llm.Model : "extractive", adminDataSource, Pacing(options!), logger, registry)
    {
        _options = options!;
        _llm = options!.UseLlm ? llm : null;
        _usage = usage;
        _groupBackoff = new Backoff(TimeSpan.FromSeconds(options.RetryBaseSeconds), TimeSpan.FromSeconds(options.RetryMaxSeconds));
    }

    // Marks come from a trigger on every memory write; a NOTIFY for each would be noise. The worker polls.
    protected override string? NotifyChannel => null;

    private static QueueWorkerPacing Pacing(ReflectionWorkerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        QueueWorkerPacing.ThrowIfInvalid("reflection", options.Validate(), nameof(options));
        return QueueWorkerPacing.WithRetries(options.IntervalSeconds, options.Concurrency, options.RetryBaseSeconds, options.RetryMaxSeconds);
    }

    protected override async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await using var command = DataSource.CreateCommand("SELECT count(*) FROM memory.reflection_queue WHERE false");
        await command.ExecuteScalarAsync(cancellationToken);
    }

    protected override bool IsPermanent(Exception exception) =>
        exception is PostgresException { SqlState: PostgresErrorCodes.UndefinedTable or PostgresErrorCodes.InvalidSchemaName };

    protected override async Task<BatchOutcome> RunBatchAsync(CancellationToken cancellationToken)
    {
        await using var connection = await DataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        if (await ReflectionStore.ClaimAsync(connection, _options.DebounceSeconds, cancellationToken) is not var (group, marks))
            return BatchOutcome.Idle;

        var (enabled, minMembers, maxSources) = await ReflectionStore.PolicyAsync(connection, group.Workspace, cancellationToken);
        if (!enabled)
        {
            await ReflectionStore.DropMarksAsync(connection, marks, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return new BatchOutcome(1, false);
        }

        var state = await ReflectionStore.GroupStateAsync(connection, group, cancellationToken);
        var members = await ReflectionStore.MembersAsync(connection, group, maxSources, cancellationToken);
        var active = state.SummaryStatus == "active";
        if (members.Count < minMembers)
        {
            // Too small to summarise (or no longer): an old summary would describe memories that are gone.
            if (state.Summary is { } old && active) await ReflectionStore.ForgetSummaryAsync(connection, group, old, cancellationToken);
            await ReflectionStore.CompleteAsync(connection, group, marks, null, null, members.Count, null, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return new BatchOutcome(1, false);
        }
        var fingerprint = ReflectionStore.Fingerprint(members);
        if (active && state.Fingerprint is { } seen && seen.AsSpan().SequenceEqual(fingerprint))
        {
            await ReflectionStore.CompleteAsync(connection, group, marks, state.Summary, fingerprint, members.Count, null, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            Health.Count("unchanged", 1);
            return new BatchOutcome(1, false);
        }

        string content;
        JsonObject reflection;
        try
        {
            (content, reflection) = await SummariseAsync(connection, group, members, cancellationToken);
        }
        catch (LlmException e)
        {
            var groupState = await ReflectionStore.RecordFailureAsync(connection, group, e.Message, _groupBackoff.Delay(state.Attempts + 1),
                _options.MaxAttempts, cancellationToken);
            await transaction.CommitAsync(cancellationToken); // the failure is recorded; the marks stay for the next attempt
            NoteFailure(group, e.Message, groupState);
            return new BatchOutcome(1, e.IsTransient);
        }

        reflection["topic"] = group.Topic;
        reflection["members"] = members.Count;
        reflection["fingerprint"] = ReflectionStore.Hex(fingerprint);
        var metadata = new JsonObject { ["reflection"] = reflection };
        await Savepoint.CreateAsync(connection, "write_summary", cancellationToken);
        try
        {
            var summary = await ReflectionStore.WriteSummaryAsync(connection, group, state.Summary, content, members, metadata, cancellationToken);
            await ReflectionStore.CompleteAsync(connection, group, marks, summary, fingerprint, members.Count, (string)reflection["mode"]!, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }
        catch (PostgresException e)
        {
            await Savepoint.RollbackToAsync(connection, "write_summary", cancellationToken);
            var groupState = await ReflectionStore.RecordFailureAsync(connection, group, e.Message, _groupBackoff.Delay(state.Attempts + 1),
                _options.MaxAttempts, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            NoteFailure(group, e.Message, groupState);
            return new BatchOutcome(1, false);
        }
        Health.RecordSuccess(1);
        Health.Count((string)reflection["mode"]! == "llm" ? "llm" : "extractive", 1);
        Logger.LogDebug("Summarised {Group} of workspace {Workspace}: {Members} memories ({Mode})", group.Describe(), group.Workspace, members.Count, reflection["mode"]);
        return new BatchOutcome(1, false);
    }

    private async Task<(string Content, JsonObject Reflection)> SummariseAsync(NpgsqlConnection connection, ReflectionGroup group,
        List<GroupMember> members, CancellationToken cancellationToken)
    {
        var offlineReason = _llm is null
            ? _options.UseLlm ? "no LLM is configured (Llm:Provider = none)" : "the reflection worker is set to extractive summaries (Workers:Reflection:UseLlm = false)"
            : await LlmBudget.OfflineReasonAsync(connection, group.Workspace, cancellationToken);
        if (offlineReason is not null)
        {
            if (_llm is not null)
                Logger.LogInformation("Summary of {Group} (workspace {Workspace}) is extractive: {Reason}", group.Describe(), group.Workspace, offlineReason);
            return (Summarizer.Extractive(group, members, _options.MaxSummaryChars),
                    new JsonObject { ["mode"] = "extractive", ["offline_reason"] = offlineReason });
        }

        LlmResult result;
        try
        {
            result = await _llm!.CompleteAsync(Summarizer.Request(group, members, _options.MaxSummaryChars, _options.MaxInputChars), cancellationToken);
        }
        catch (LlmException e)
        {
            await RecordUsageAsync(group, e.Usage, e.Message);
            throw;
        }
        await RecordUsageAsync(group, result.Usage, null);
        return (Summarizer.FromAnswer(result, group, members.Count, _options.MaxSummaryChars), new JsonObject
        {
            ["mode"] = "llm",
            ["model"] = _llm.Model,
            ["prompt_tokens"] = result.Usage.PromptTokens,
            ["completion_tokens"] = result.Usage.CompletionTokens,
        });
    }

    private Task RecordUsageAsync(ReflectionGroup group, LlmUsage usage, string? error) =>
        _usage is null
            ? Task.CompletedTask
            : _usage.WriteNowAsync(new LlmUsageRecord(group.Workspace, Summarizer.Purpose, _llm!.Model, usage, error is null, error,
                new JsonObject { ["entity"] = group.Entity, ["topic"] = group.Topic }.ToJsonString()), CancellationToken.None);

    private void NoteFailure(ReflectionGroup group, string error, string state)
    {
        Health.RecordError(error);
        if (state == "failed")
        {
            Health.RecordFailed(1);
            Logger.LogError("Summarising {Group} of workspace {Workspace} failed for the last time ({Attempts} attempts); the group is 'failed' in memory.reflection_status: {Error}",
                group.Describe(), group.Workspace, _options.MaxAttempts, error);
        }
        else
        {
            Health.RecordRetried(1);
            Logger.LogWarning("Summarising {Group} of workspace {Workspace} failed; it is retried with backoff: {Error}", group.Describe(), group.Workspace, error);
        }
    }

    protected override async Task RefreshQueueDepthAsync(CancellationToken cancellationToken)
    {
        var (pending, failed) = await ReflectionStore.QueueDepthAsync(DataSource, cancellationToken);
        Health.RecordQueue(pending, failed);
    }
}
