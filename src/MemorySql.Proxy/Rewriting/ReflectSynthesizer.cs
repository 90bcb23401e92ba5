using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MemorySql.Embeddings.Llm;
using Microsoft.Extensions.Logging;

namespace MemorySql.Proxy.Rewriting;

/// <summary>
/// The LLM part of reflect through the proxy: from what memory.reflect_context returned (the workspace, its LLM
/// budget, the recalled memories) to the arguments that make reflect record an LLM synthesis — or an offline one
/// that says why (no budget, nothing recalled, the LLM failing after its retries). Asks for schema-validated JSON
/// <c>{answer, cited}</c> where cited must be numbers of the memories shown, so the recorded sources are always
/// a subset of what recall found. Every call's tokens go to the usage sink (memory.llm_usage) under the workspace.
/// </summary>
internal sealed partial class ReflectSynthesizer
{
    public const string Purpose = "reflect";
    private const int MaxMemoryChars = 2000;
    private const int MaxPromptChars = 24_000;

    private const string Instructions = """
        You answer a question for an AI agent using only its memories, listed with reference numbers. Write a short, direct
        answer (a few sentences) and cite the numbers of the memories it relies on. When memories disagree, prefer the newer
        one and say that it changed. If the memories do not answer the question, say so plainly. Never add facts that are not
        in the memories.
        """;

    private readonly ILlmProvider _llm;
    private readonly ILlmUsageSink? _usage;
    private readonly ILogger _logger;

    public ReflectSynthesizer(ILlmProvider llm, ILlmUsageSink? usage, ILogger logger)
    {
        _llm = llm;
        _usage = usage;
        _logger = logger;
    }

    /// <summary>The session's statement_timeout that reflect_context reported; null when none is set (0) or reported.</summary>
    public static TimeSpan? StatementTimeout(string? contextJson)
    {
        if (contextJson is null) return null;
        using var document = JsonDocument.Parse(contextJson);
        return document.RootElement.TryGetProperty("statement_timeout_ms", out var ms) && ms.ValueKind == JsonValueKind.Number
               && ms.TryGetInt64(out var value) && value > 0
            ? TimeSpan.FromMilliseconds(value)
            : null;
    }

    [GeneratedRegex(@"\s*\[(?:\d+\s*(?:,\s*)?)+\]")]
    private static partial Regex Citation();

    /// <summary>
    /// The arguments for one call, from its reflect_context JSON. <see cref="ReflectArguments.None"/> when the
    /// context reports an error (reflect raises it itself). Cancellation propagates (the client cancelled).
    /// </summary>
    public async Task<ReflectArguments> SynthesizeAsync(string? contextJson, long session, CancellationToken cancellationToken)
    {
        if (contextJson is null) return ReflectArguments.None;
        using var document = JsonDocument.Parse(contextJson);
        var context = document.RootElement;
        if (context.TryGetProperty("error", out _)) return ReflectArguments.None;

        var workspace = context.GetProperty("workspace").GetString()!;
        var query = context.GetProperty("query").GetString()!;
        var sources = context.GetProperty("sources").EnumerateArray().ToList();
        var ids = sources.Select(s => s.GetProperty("id").GetGuid()).ToList();
        var recall = new JsonObject
        {
            ["scores"] = new JsonObject(sources.Select(s => KeyValuePair.Create(s.GetProperty("id").GetString()!,
                (JsonNode?)(s.TryGetProperty("score", out var sc) && sc.ValueKind == JsonValueKind.Number ? sc.GetDouble() : null)))),
            ["signals"] = context.TryGetProperty("signals", out var signals) && signals.ValueKind == JsonValueKind.Array
                ? JsonNode.Parse(signals.GetRawText()) : null,
        };

        if (context.GetProperty("budget").GetProperty("offline_reason") is { ValueKind: JsonValueKind.String } reason)
        {
            _logger.LogInformation("Session {Session}: reflect in workspace {Workspace} is extractive: {Reason}", session, workspace, reason.GetString());
            return new ReflectArguments(null, ids, recall.ToJsonString(), reason.GetString());
        }
        if (ids.Count == 0)
            return new ReflectArguments(null, ids, recall.ToJsonString(), "recall found no memories for the question, so there was nothing to give the LLM");

        var request = Request(query, sources);
        LlmResult result;
        try
        {
            result = await _llm.CompleteAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (LlmException e)
        {
            Record(workspace, e.Usage, e.Message, ids.Count);
            _logger.LogWarning("Session {Session}: the LLM failed for reflect in workspace {Workspace}; answering extractively: {Error}", session, workspace, e.Message);
            return new ReflectArguments(null, ids, recall.ToJsonString(), "the LLM failed: " + e.Message);
        }
        Record(workspace, result.Usage, null, ids.Count);

        var answer = result.Json!.Value;
        var cited = answer.GetProperty("cited").EnumerateArray().Select(c => c.GetInt32()).Distinct().Where(n => n >= 1 && n <= ids.Count)
            .Select(n => ids[n - 1]).ToList();
        var synthesis = Citation().Replace(answer.GetProperty("answer").GetString()!, "").Trim();
        if (synthesis.Length == 0) synthesis = answer.GetProperty("answer").GetString()!.Trim();
        recall["model"] = _llm.Model;
        recall["prompt_tokens"] = result.Usage.PromptTokens;
        recall["completion_tokens"] = result.Usage.CompletionTokens;
        recall["recalled"] = ids.Count;
        return new ReflectArguments(synthesis, cited, recall.ToJsonString(), null);
    }

    private void Record(string workspace, LlmUsage usage, string? error, int sources)
    {
        if (_usage is null)
        {
            _logger.LogInformation("LLM usage of workspace {Workspace} for reflect: {Prompt} prompt + {Completion} completion tokens (no usage sink: not recorded in memory.llm_usage)",
                workspace, usage.PromptTokens, usage.CompletionTokens);
            return;
        }
        _usage.Record(new LlmUsageRecord(workspace, Purpose, _llm.Model, usage, error is null, error,
            new JsonObject { ["sources"] = sources }.ToJsonString()));
    }

    private static LlmRequest Request(string query, List<JsonElement> sources)
    {
        var sb = new StringBuilder("Question: ").Append(query).Append("\n\nMemories:\n");
        var shown = 0;
        foreach (var source in sources)
        {
            var content = source.GetProperty("content").GetString()!.ReplaceLineEndings(" ");
            if (content.Length > MaxMemoryChars) content = content[..MaxMemoryChars] + "…";
            var created = source.TryGetProperty("created_at", out var c) && c.TryGetDateTimeOffset(out var at) ? at.UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) : "?";
            var kind = source.TryGetProperty("kind", out var k) ? k.GetString() : "memory";
            var line = string.Create(CultureInfo.InvariantCulture, $"[{shown + 1}] ({created}, {kind}) {content}\n");
            if (sb.Length + line.Length > MaxPromptChars && shown > 0) break;
            sb.Append(line);
            shown++;
        }
        var schema = new JsonObject
        {
            ["type"] = "object",
            ["properties"] = new JsonObject
            {
                ["answer"] = new JsonObject { ["type"] = "string" },
                ["cited"] = new JsonObject
                {
                    ["type"] = "array",
                    ["items"] = new JsonObject { ["type"] = "integer", ["enum"] = new JsonArray([.. Enumerable.Range(1, Math.Max(shown, 1)).Select(n => (JsonNode)n)]) },
                },
            },
            ["required"] = new JsonArray("answer", "cited"),
            ["additionalProperties"] = false,
        };
        return new LlmRequest(Purpose, [LlmMessage.System(Instructions), LlmMessage.User(sb.ToString())],
            JsonDocument.Parse(schema.ToJsonString()).RootElement.Clone(), MaxTokens: null, Temperature: 0);
    }
}
