using System.Globalization;
using System.Text.Json;
using MemorySql.Embeddings.Llm;

namespace MemorySql.Workers.Contradictions;

/// <summary>
/// Asks the configured chat model (<see cref="ILlmProvider"/>) how a newer memory relates to an older one,
/// with a JSON schema the provider validates: verdict (contradicts | updates | unrelated), which one is
/// current (newer | older | unclear), a confidence and a one-line reason. An answer that does not fit the
/// schema after the provider's repair attempt is an <see cref="LlmException"/> (not transient).
/// </summary>
internal sealed class LlmContradictionJudge : IContradictionJudge
{
    public const string Purpose = "contradiction";

    private const string Instructions = """
        You maintain the long-term memory of an AI agent. Two memories about the same subject were recorded at
        different times. Decide how the NEWER memory relates to the OLDER one:
        - "updates": the newer states a changed value of the same attribute (moved to another city, changed a
          preference, a new number or date), so the older one is no longer current;
        - "contradicts": both cannot be true at the same time, and it is not simply a later change (for example a
          correction, or two conflicting reports);
        - "unrelated": both can be true together (different attributes, extra detail, the same fact reworded).
        Then say which memory holds now: "newer", "older" or "unclear". Give a confidence between 0 and 1 and a
        short reason. Answer with one JSON object only.
        """;

    private static readonly JsonElement Schema = JsonDocument.Parse("""
        {
          "type": "object",
          "properties": {
            "verdict": { "type": "string", "enum": ["contradicts", "updates", "unrelated"] },
            "current": { "type": "string", "enum": ["newer", "older", "unclear"] },
            "confidence": { "type": "number" },
            "reason": { "type": "string" }
          },
          "required": ["verdict", "current", "confidence", "reason"]
        }
        """).RootElement.Clone();

    private readonly ILlmProvider _provider;
    private readonly int _maxTokens;

    public LlmContradictionJudge(ILlmProvider provider, int maxTokens = 200)
    {
        ArgumentNullException.ThrowIfNull(provider);
        _provider = provider;
        _maxTokens = maxTokens;
    }

    public string Method => "llm";

    /// <summary>The model that judges (recorded in the contradiction's detail).</summary>
    public string Model => _provider.Model;

    public async Task<Judgement> JudgeAsync(StatementPair pair, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(pair);
        var question = JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["subject"] = pair.Entity,
            ["older"] = new Dictionary<string, string> { ["text"] = pair.Older, ["valid_from"] = Iso(pair.OlderValidFrom) },
            ["newer"] = new Dictionary<string, string> { ["text"] = pair.Newer, ["valid_from"] = Iso(pair.NewerValidFrom) },
        });
        var request = new LlmRequest(Purpose, [LlmMessage.System(Instructions), LlmMessage.User(question)], Schema, _maxTokens, 0);
        var result = await _provider.CompleteAsync(request, cancellationToken);
        if (result.Json is not { ValueKind: JsonValueKind.Object } answer)
            throw new LlmException($"the {_provider.Model} model gave no JSON object for the contradiction check", isTransient: false, result.Usage);
        var verdict = Read(answer, "verdict") switch
        {
            "contradicts" => ContradictionVerdict.Contradicts,
            "updates" => ContradictionVerdict.Updates,
            "unrelated" => ContradictionVerdict.Unrelated,
            var other => throw Invalid($"verdict \"{other}\"", result.Usage),
        };
        var current = Read(answer, "current") switch
        {
            "newer" => CurrentSide.Newer,
            "older" => CurrentSide.Older,
            "unclear" => CurrentSide.Unclear,
            var other => throw Invalid($"current \"{other}\"", result.Usage),
        };
        if (!answer.TryGetProperty("confidence", out var confidenceElement) || confidenceElement.ValueKind != JsonValueKind.Number ||
            !double.IsFinite(confidenceElement.GetDouble()))
            throw Invalid("confidence that is not a number", result.Usage);
        var confidence = Math.Clamp(confidenceElement.GetDouble(), 0, 1);
        var reason = answer.TryGetProperty("reason", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString()! : "";
        if (reason.Length > 500) reason = reason[..500] + "…";
        return verdict == ContradictionVerdict.Unrelated
            ? Judgement.Unrelated(Method, reason, result.Usage)
            : new Judgement(verdict, verdict == ContradictionVerdict.Updates && current == CurrentSide.Unclear ? CurrentSide.Newer : current,
                confidence, reason, Method, result.Usage);
    }

    private static string? Read(JsonElement answer, string name) =>
        answer.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private LlmException Invalid(string what, LlmUsage usage) =>
        new($"the {_provider.Model} model answered the contradiction check with {what}", isTransient: false, usage);

    private static string Iso(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
