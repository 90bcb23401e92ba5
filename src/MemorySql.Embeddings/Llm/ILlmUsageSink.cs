namespace MemorySql.Embeddings.Llm;

/// <summary>One LLM call to account for: whose, what for, which model, the tokens (all attempts) and the outcome.</summary>
/// <param name="Workspace">The workspace the call was made for.</param>
/// <param name="Purpose">reflect, extract, reflection, contradiction, …</param>
/// <param name="Error">Why the call gave no usable answer; null when it did.</param>
/// <param name="Detail">A small JSON object with context (e.g. the resource id), or null.</param>
public sealed record LlmUsageRecord(string Workspace, string Purpose, string Model, LlmUsage Usage, bool Ok, string? Error = null,
    string? Detail = null, DateTimeOffset? At = null);

/// <summary>
/// Where LLM usage goes (memory.llm_usage). Recording never waits for the database and never fails the caller:
/// the sink writes in the background, as the admin, outside any client transaction — so a rolled-back
/// statement cannot hide what its LLM call cost.
/// </summary>
public interface ILlmUsageSink
{
    void Record(LlmUsageRecord record);
}
