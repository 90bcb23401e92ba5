using System.Text.Json;
using System.Threading.Channels;
using MemorySql.Embeddings.Llm;
using MemorySql.Workers.Common;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;

namespace MemorySql.Workers.Llm;

/// <summary>
/// Writes LLM usage to memory.llm_usage as the admin, outside any client or worker transaction: what a call cost
/// is recorded even when the statement or batch that made it rolls back. <see cref="Record"/> never waits (the
/// proxy calls it); <see cref="WriteNowAsync"/> writes before returning (workers, so the next budget check sees
/// it). Rows that cannot be written yet are kept (up to <see cref="MaxBuffered"/>) and retried with backoff;
/// stopping flushes what is left.
/// </summary>
internal sealed class LlmUsageWriter : BackgroundService, ILlmUsageSink
{
    public const int MaxBuffered = 100_000;
    private const int MaxBatch = 500;

    private readonly NpgsqlDataSource _dataSource;
    private readonly ILogger _logger;
    private readonly Channel<LlmUsageRecord> _pending = Channel.CreateBounded<LlmUsageRecord>(
        new BoundedChannelOptions(MaxBuffered) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
    private readonly Backoff _backoff = new(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));
    private long _written;
    private List<LlmUsageRecord> _leftover = [];

    public LlmUsageWriter(NpgsqlDataSource adminDataSource, ILogger<LlmUsageWriter> logger)
    {
        _dataSource = adminDataSource ?? throw new ArgumentNullException(nameof(adminDataSource));
        _logger = logger;
    }

    /// <summary>Rows written since start (tests, health).</summary>
    public long Written => Interlocked.Read(ref _written);

    public void Record(LlmUsageRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (!_pending.Writer.TryWrite(Stamp(record)))
            _logger.LogWarning("LLM usage of workspace {Workspace} could not be queued for memory.llm_usage", record.Workspace);
    }

    /// <summary>Writes one row now; if the database cannot be reached it is queued like <see cref="Record"/>. Never throws but for cancellation.</summary>
    public async Task WriteNowAsync(LlmUsageRecord record, CancellationToken cancellationToken)
    {
        var stamped = Stamp(record);
        try
        {
            await InsertAsync([stamped], cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException or IOException)
        {
            _logger.LogWarning("Could not write LLM usage now ({Error}); it is queued and retried", e.Message);
            Record(stamped);
        }
    }

    private static LlmUsageRecord Stamp(LlmUsageRecord record) => record.At is null ? record with { At = DateTimeOffset.UtcNow } : record;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await WorkerSynchronizationContext.Enter(); // never continue on a socket thread
        var batch = new List<LlmUsageRecord>(MaxBatch);
        var failures = 0;
        try
        {
            while (await _pending.Reader.WaitToReadAsync(stoppingToken))
            {
                while (batch.Count < MaxBatch && _pending.Reader.TryRead(out var record)) batch.Add(record);
                try
                {
                    await InsertAsync(batch, stoppingToken);
                    batch.Clear();
                    failures = 0;
                }
                catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException or IOException)
                {
                    failures++;
                    var delay = _backoff.Delay(failures);
                    _logger.LogWarning("Could not write {Count} LLM usage rows to memory.llm_usage ({Error}); trying again in {Delay:F1} s",
                        batch.Count, e.Message, delay.TotalSeconds);
                    await Task.Delay(delay, stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: StopAsync flushes what is left.
        }
        while (_pending.Reader.TryRead(out var record)) batch.Add(record);
        _leftover = batch;
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        var left = _leftover;
        while (_pending.Reader.TryRead(out var record)) left.Add(record);
        if (left.Count == 0) return;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        try
        {
            for (var i = 0; i < left.Count; i += MaxBatch) await InsertAsync(left.GetRange(i, Math.Min(MaxBatch, left.Count - i)), timeout.Token);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException or IOException or OperationCanceledException)
        {
            _logger.LogError("{Count} LLM usage rows could not be written to memory.llm_usage before stopping: {Error}", left.Count, e.Message);
        }
    }

    private async Task InsertAsync(List<LlmUsageRecord> records, CancellationToken cancellationToken)
    {
        if (records.Count == 0) return;
        var rows = records.Select(r => new Dictionary<string, object?>
        {
            ["workspace"] = r.Workspace,
            ["at"] = r.At,
            ["purpose"] = r.Purpose,
            ["model"] = r.Model,
            ["prompt_tokens"] = r.Usage.PromptTokens,
            ["completion_tokens"] = r.Usage.CompletionTokens,
            ["ok"] = r.Ok,
            ["error"] = r.Error is { Length: > 2000 } text ? text[..2000] + "…" : r.Error,
            ["detail"] = r.Detail is null ? null : JsonDocument.Parse(r.Detail).RootElement.Clone(),
        });
        await using var command = _dataSource.CreateCommand("""
            INSERT INTO memory.llm_usage (workspace, at, purpose, model, prompt_tokens, completion_tokens, ok, error, detail)
            SELECT u.workspace, u.at, u.purpose, u.model, u.prompt_tokens, u.completion_tokens, u.ok, u.error, coalesce(u.detail, '{}')
            FROM jsonb_to_recordset($1) AS u(workspace name, at timestamptz, purpose text, model text, prompt_tokens integer,
                                            completion_tokens integer, ok boolean, error text, detail jsonb)
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = JsonSerializer.Serialize(rows), NpgsqlDbType = NpgsqlDbType.Jsonb });
        await command.ExecuteNonQueryAsync(cancellationToken);
        Interlocked.Add(ref _written, records.Count);
    }
}
