using System.Text.Json.Nodes;
using MemorySql.Embeddings.Llm;
using MemorySql.Workers.Contradictions;
using MemorySql.Workers.Llm;
using Npgsql;

namespace MemorySql.Workers.Check;

/// <summary>
/// The LLM budget and usage of one memory's check, as the extraction and reflection workers keep them: the
/// workspace's permission and daily token budget (memory.llm_budget) are asked once, on the first pair that
/// would go to the LLM (a check that never needs the LLM costs no query), and every call is written to
/// memory.llm_usage (purpose 'contradiction') before the next budget check can happen.
/// </summary>
internal sealed class CheckLlmScope : ILlmJudgeScope
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly LlmUsageWriter? _usage;
    private readonly string _model;
    private readonly string _workspace;
    private readonly Guid _memoryId;
    private bool _asked;
    private string? _offlineReason;

    public CheckLlmScope(NpgsqlDataSource dataSource, LlmUsageWriter? usage, string model, string workspace, Guid memoryId)
    {
        _dataSource = dataSource;
        _usage = usage;
        _model = model;
        _workspace = workspace;
        _memoryId = memoryId;
    }

    /// <summary>The reason the LLM was not used for this check, once asked; null when it may be (or was not asked).</summary>
    public string? OfflineReason => _offlineReason;

    public async Task<string?> OfflineReasonAsync(CancellationToken cancellationToken)
    {
        if (_asked) return _offlineReason;
        await using (var connection = await _dataSource.OpenConnectionAsync(cancellationToken))
            _offlineReason = await LlmBudget.OfflineReasonAsync(connection, _workspace, cancellationToken);
        _asked = true;
        return _offlineReason;
    }

    public Task RecordAsync(LlmUsage usage, string? error, CancellationToken cancellationToken) =>
        _usage is null
            ? Task.CompletedTask
            : _usage.WriteNowAsync(new LlmUsageRecord(_workspace, LlmContradictionJudge.Purpose, _model, usage, error is null, error,
                new JsonObject { ["memory"] = _memoryId.ToString() }.ToJsonString()), CancellationToken.None);
}
