using System.Text.Json;

namespace MemorySql.Embeddings.Llm;

/// <summary>One chat message: role is system, user or assistant.</summary>
public sealed record LlmMessage(string Role, string Content)
{
    public static LlmMessage System(string content) => new("system", content);
    public static LlmMessage User(string content) => new("user", content);
}

/// <summary>What to ask: the messages, an optional JSON schema the answer must follow, and limits.</summary>
/// <param name="Purpose">What the call is for (reflect, extract, contradiction, summary): recorded with the usage.</param>
/// <param name="Messages">The conversation sent to the model.</param>
/// <param name="JsonSchema">A JSON Schema (draft 2020-12 subset: type, properties, required, items, enum) the answer must match, or null for free text.</param>
/// <param name="MaxTokens">Upper bound on the answer's tokens.</param>
/// <param name="Temperature">Sampling temperature; 0 for the most repeatable answers.</param>
public sealed record LlmRequest(string Purpose, IReadOnlyList<LlmMessage> Messages, JsonElement? JsonSchema = null,
    int? MaxTokens = null, double? Temperature = 0);

/// <summary>Tokens a call used, as the endpoint reported them.</summary>
public readonly record struct LlmUsage(int PromptTokens, int CompletionTokens)
{
    public int TotalTokens => PromptTokens + CompletionTokens;
}

/// <summary>The answer: its text, the parsed JSON when a schema was given, and the tokens spent (all attempts included).</summary>
public sealed record LlmResult(string Content, JsonElement? Json, LlmUsage Usage, string Model);
