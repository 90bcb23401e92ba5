using System.Text.Json.Nodes;
using MemorySql.Embeddings.Llm;
using MemorySql.Workers.Contradictions;
using MemorySql.Workers.Llm;
using Npgsql;

namespace MemorySql.Workers.Check;

/// <summary>
/// The LLM budget and usage of one memory's check, as the extraction and reflection workers keep them: the
/// workspace's permission and daily token budget (memory.llm_budget) are asked before the first pair that would
/// go to the LLM (a check that never needs the LLM costs no query) and again after every call, which is written
/// to memory.llm_usage (purpose 'contradiction') first — so a memory with several close neighbours stops calling
/// the LLM as soon as a call spent the budget, instead of finishing its pairs on it.
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

    public async Task RecordAsync(LlmUsage usage, string? error, CancellationToken cancellationToken)
    {
        if (_usage is not null)
            await _usage.WriteNowAsync(new LlmUsageRecord(_workspace, LlmContradictionJudge.Purpose, _model, usage, error is null, error,
                new JsonObject { ["memory"] = _memoryId.ToString() }.ToJsonString()), CancellationToken.None);
        _asked = false; // the call spent tokens: ask the budget again before the next one
    }
}
