using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Npgsql;
using NpgsqlTypes;

namespace MemorySql.Eval;

/// <summary>How a LoCoMo run stores the conversations and asks the questions.</summary>
/// <param name="Ks">The cut-offs to score (the largest is the k every recall asks for).</param>
/// <param name="Modes">Ranking modes (<see cref="RecallModes"/>).</param>
/// <param name="KeepWorkspaces">Leave the evaluation's workspaces behind (default: dropped at the end).</param>
/// <param name="ReuseWorkspaces">Keep a conversation that an earlier kept run stored completely (ranking experiments skip ingestion).</param>
internal sealed record LocomoRunOptions(IReadOnlyList<int> Ks, IReadOnlyList<string> Modes, bool KeepWorkspaces = false, bool ReuseWorkspaces = false);

/// <summary>One question asked in one mode: where its evidence turns ranked (0-based; -1 beyond the largest k) and how long recall took.</summary>
internal sealed record QuestionOutcome(string SampleId, int Question, int Category, string Mode, int[] EvidenceRanks, double LatencyMs);

internal sealed class LocomoRunResult
{
    public List<ModeResult> Modes { get; } = [];
    public List<QuestionOutcome> Outcomes { get; } = [];
    public TimeSpan Ingestion { get; set; }
    public int Memories { get; set; }
}

/// <summary>
/// Runs the LoCoMo retrieval evaluation against a MemorySql proxy, as any client would: each conversation
/// goes into a workspace of its own, one turn = one memory (CALL remember through the proxy, so the proxy
/// embeds it), each LoCoMo session a MemorySql session; then every question is asked with recall() in
/// each ranking mode, and the fraction of its evidence turns in the top k is scored.
/// </summary>
internal sealed class LocomoRunner
{
    private const int BatchSize = 64;

    private readonly EvalTarget _target;
    private readonly LocomoRunOptions _options;
    private readonly Action<string> _progress;

    public LocomoRunner(EvalTarget target, LocomoRunOptions options, Action<string> progress)
    {
        _target = target;
        _options = options;
        _progress = progress;
    }

    /// <summary>The workspace a conversation is stored in: "eval_" and its sample id, lower case.</summary>
    public static string WorkspaceName(string sampleId)
    {
        var safe = new string(sampleId.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '_').ToArray());
        var name = "eval_" + safe;
        return name.Length > 63 ? name[..63] : name;
    }

    public async Task<LocomoRunResult> RunAsync(IReadOnlyList<LocomoConversation> conversations, CancellationToken cancellationToken)
    {
        var result = new LocomoRunResult();
        foreach (var mode in _options.Modes) result.Modes.Add(new ModeResult(mode));
        var workspaces = new List<(LocomoConversation Conversation, string Name, string Password)>();
        try
        {
            var ingestion = Stopwatch.StartNew();
            foreach (var conversation in conversations)
            {
                var name = WorkspaceName(conversation.SampleId);
                var password = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
                var reused = await CreateWorkspaceAsync(name, password, conversation.Turns.Count, cancellationToken);
                workspaces.Add((conversation, name, password));
                if (reused)
                {
                    _progress($"{conversation.SampleId}: reusing workspace {name} ({conversation.Turns.Count} memories)");
                    continue;
                }
                await IngestAsync(conversation, name, password, cancellationToken);
                result.Memories += conversation.Turns.Count;
                _progress($"{conversation.SampleId}: {conversation.Turns.Count} turns stored ({result.Memories} in {ingestion.Elapsed.TotalSeconds:0.0} s)");
            }
            result.Ingestion = ingestion.Elapsed;
            await WaitForWorkersAsync(workspaces.Select(w => w.Name).ToArray(), cancellationToken);
            foreach (var (conversation, name, password) in workspaces)
                await AskAsync(conversation, name, password, result, cancellationToken);
        }
        finally
        {
            if (!_options.KeepWorkspaces)
                foreach (var (_, name, _) in workspaces)
                    await DropWorkspaceAsync(name, CancellationToken.None);
        }
        return result;
    }

    private string ProxyConnectionString(string user, string password, bool readOnly) => new NpgsqlConnectionStringBuilder
    {
        Host = _target.ProxyHost,
        Port = _target.ProxyPort,
        Database = _target.Database,
        Username = user,
        Password = password,
        Pooling = false,
        ApplicationName = "memorysql-eval",
        // Questions are asked read-only: recall then leaves access statistics alone, so one question's
        // answer cannot change the ranking of the next (and the run is repeatable).
        Options = readOnly ? "-c default_transaction_read_only=on" : null,
        CommandTimeout = 300,
    }.ConnectionString;

    /// <summary>Creates the conversation's workspace; true when an earlier run's complete copy is reused instead.</summary>
    private async Task<bool> CreateWorkspaceAsync(string name, string password, int turns, CancellationToken cancellationToken)
    {
        await using var admin = new NpgsqlConnection(_target.AdminConnectionString);
        await admin.OpenAsync(cancellationToken);
        await using (var exists = new NpgsqlCommand(
            // The conversation's turns (they carry a dia_id), whatever the workers did with them since: the check worker
            // supersedes near-duplicates and the reflection worker adds summaries, so "active memories" never matched.
            "SELECT (SELECT count(*) FROM memory.memories m WHERE m.workspace = w.name AND m.metadata ? 'dia_id' AND m.status <> 'deleted') " +
            "  FROM memory.workspaces w WHERE w.name = $1", admin))
        {
            exists.Parameters.Add(new() { Value = name });
            if (await exists.ExecuteScalarAsync(cancellationToken) is long stored)
            {
                if (_options.ReuseWorkspaces && stored == turns)
                {
                    await using var alter = new NpgsqlCommand($"ALTER ROLE \"{name}\" PASSWORD '{password}'", admin);
                    await alter.ExecuteNonQueryAsync(cancellationToken);
                    return true;
                }
                _progress($"dropping workspace {name} left from an earlier run");
                await using var drop = new NpgsqlCommand("SELECT memory.drop_workspace($1)", admin);
                drop.Parameters.Add(new() { Value = name });
                await drop.ExecuteNonQueryAsync(cancellationToken);
            }
        }
        await using var create = new NpgsqlCommand("SELECT memory.create_workspace($1, $2)", admin);
        create.Parameters.Add(new() { Value = name });
        create.Parameters.Add(new() { Value = password });
        await create.ExecuteNonQueryAsync(cancellationToken);
        return false;
    }

    /// <summary>
    /// Waits until the workers have embedded and checked (dedup, contradictions) everything just stored: a question
    /// asked while the check worker still merges near-duplicates sees a different set of memories than one asked
    /// after, and two runs of the same build would rank differently.
    /// </summary>
    private async Task WaitForWorkersAsync(string[] workspaces, CancellationToken cancellationToken)
    {
        await using var admin = new NpgsqlConnection(_target.AdminConnectionString);
        await admin.OpenAsync(cancellationToken);
        var waited = Stopwatch.StartNew();
        var lastReport = TimeSpan.Zero;
        var lastProgress = TimeSpan.Zero;
        var lastCount = long.MaxValue;
        while (true)
        {
            await using var pending = new NpgsqlCommand(
                """
                SELECT (SELECT count(*) FROM memory.embedding_queue WHERE workspace = ANY($1) AND state = 'queued')
                     + (SELECT count(*) FROM memory.check_queue WHERE workspace = ANY($1) AND state = 'queued')
                """, admin);
            pending.Parameters.Add(new() { Value = workspaces });
            var count = (long)(await pending.ExecuteScalarAsync(cancellationToken))!;
            if (count == 0) return;
            if (count < lastCount)
            {
                lastCount = count;
                lastProgress = waited.Elapsed;
            }
            else if (waited.Elapsed - lastProgress > TimeSpan.FromSeconds(15))
            {
                // No worker is draining these queues (a target without workers, or workers stopped): ask anyway.
                _progress($"{count} memories wait for the embed or check worker and none was done for 15 s; asking anyway (is a worker running?)");
                return;
            }
            if (waited.Elapsed - lastReport >= TimeSpan.FromSeconds(5))
            {
                _progress($"waiting for the workers: {count} memories to embed or check");
                lastReport = waited.Elapsed;
            }
            await Task.Delay(250, cancellationToken);
        }
    }

    private async Task DropWorkspaceAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            await using var admin = new NpgsqlConnection(_target.AdminConnectionString);
            await admin.OpenAsync(cancellationToken);
            await using var drop = new NpgsqlCommand("SELECT memory.drop_workspace($1)", admin);
            drop.Parameters.Add(new() { Value = name });
            await drop.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
        {
            _progress($"could not drop workspace {name}: {e.Message}");
        }
    }

    /// <summary>
    /// Stores a conversation through the proxy: each LoCoMo session becomes a MemorySql session, each turn a
    /// memory whose entity is the speaker and whose valid_from is the session's date (turns a second apart,
    /// in order): recall's recency counts from valid_from, the time the memory speaks of.
    /// </summary>
    private async Task IngestAsync(LocomoConversation conversation, string workspace, string password, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(ProxyConnectionString(workspace, password, readOnly: false));
        await connection.OpenAsync(cancellationToken);
        foreach (var session in conversation.Turns.GroupBy(t => t.Session))
        {
            await using (var start = new NpgsqlCommand("SELECT session_start(process => 'locomo', metadata => $1::jsonb)", connection))
            {
                start.Parameters.Add(new() { Value = JsonSerializer.Serialize(new Dictionary<string, object> { ["locomo_session"] = session.Key }), NpgsqlDbType = NpgsqlDbType.Text });
                await start.ExecuteScalarAsync(cancellationToken);
            }
            foreach (var chunk in session.Chunk(BatchSize))
            {
                await using var batch = new NpgsqlBatch(connection);
                foreach (var turn in chunk)
                {
                    var command = new NpgsqlBatchCommand(
                        "CALL remember($1, type => 'episodic', kind => 'message', entity => $2, valid_from => $3, metadata => $4::jsonb)");
                    command.Parameters.Add(new() { Value = turn.Text });
                    command.Parameters.Add(new() { Value = turn.Speaker });
                    command.Parameters.Add(new() { Value = turn.SessionTime, NpgsqlDbType = NpgsqlDbType.TimestampTz });
                    command.Parameters.Add(new() { Value = TurnMetadata(turn), NpgsqlDbType = NpgsqlDbType.Text });
                    batch.BatchCommands.Add(command);
                }
                await batch.ExecuteNonQueryAsync(cancellationToken);
            }
        }
    }

    private static string TurnMetadata(LocomoTurn turn)
    {
        var metadata = new Dictionary<string, object> { ["dia_id"] = turn.DiaId, ["locomo_session"] = turn.Session };
        if (turn.ImageCaption is not null) metadata["image_caption"] = turn.ImageCaption;
        return JsonSerializer.Serialize(metadata);
    }

    private async Task AskAsync(LocomoConversation conversation, string workspace, string password, LocomoRunResult result, CancellationToken cancellationToken)
    {
        var maxK = _options.Ks.Max();
        await using var connection = new NpgsqlConnection(ProxyConnectionString(workspace, password, readOnly: true));
        await connection.OpenAsync(cancellationToken);
        var commands = new Dictionary<string, NpgsqlCommand>(StringComparer.Ordinal);
        try
        {
            foreach (var mode in _options.Modes)
            {
                var command = new NpgsqlCommand("SELECT metadata ->> 'dia_id' FROM recall($1, k => $2, entity => '*', ranking => $3)", connection);
                command.Parameters.Add(new() { NpgsqlDbType = NpgsqlDbType.Text });
                command.Parameters.Add(new() { Value = maxK, NpgsqlDbType = NpgsqlDbType.Integer });
                command.Parameters.Add(new() { Value = (object?)RecallModes.Known[mode] ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
                commands[mode] = command;
            }
            var scored = conversation.Questions.Select((q, i) => (Question: q, Index: i)).Where(x => x.Question.Evidence.Count > 0).ToList();
            var ranked = new List<string>(maxK);
            for (var n = 0; n < scored.Count; n++)
            {
                var (question, index) = scored[n];
                foreach (var mode in result.Modes)
                {
                    var command = commands[mode.Mode];
                    command.Parameters[0].Value = question.Question;
                    ranked.Clear();
                    var watch = Stopwatch.StartNew();
                    await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
                        while (await reader.ReadAsync(cancellationToken))
                            ranked.Add(reader.IsDBNull(0) ? "" : reader.GetString(0));
                    var latency = watch.Elapsed.TotalMilliseconds;
                    var atK = _options.Ks.Select(k => RetrievalMetrics.EvidenceRecall(ranked, question.Evidence, k)).ToArray();
                    mode.Questions.Add((question.Category, atK));
                    mode.LatenciesMs.Add(latency);
                    result.Outcomes.Add(new QuestionOutcome(conversation.SampleId, index, question.Category, mode.Mode,
                        question.Evidence.Select(e => ranked.IndexOf(e)).ToArray(), latency));
                }
                if ((n + 1) % 50 == 0 || n + 1 == scored.Count)
                    _progress(ProgressLine(conversation.SampleId, n + 1, scored.Count, result.Modes));
            }
        }
        finally
        {
            foreach (var command in commands.Values) await command.DisposeAsync();
        }
    }

    private string ProgressLine(string sampleId, int done, int total, IReadOnlyList<ModeResult> modes)
    {
        var kIndex = _options.Ks.Select((k, i) => (k, i)).OrderBy(x => Math.Abs(x.k - 10)).First().i;
        var line = new StringBuilder();
        line.Append(CultureInfo.InvariantCulture, $"{sampleId}: {done}/{total} questions; so far @{_options.Ks[kIndex]}:");
        foreach (var mode in modes)
            line.Append(CultureInfo.InvariantCulture, $" {mode.Mode} {mode.Mean(null, kIndex):0.0}");
        return line.ToString();
    }
}
