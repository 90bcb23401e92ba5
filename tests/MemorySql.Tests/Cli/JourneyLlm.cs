using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MemorySql.Testing;

namespace MemorySql.Tests.Cli;

/// <summary>
/// The chat model of the new-user journey: a deterministic stand-in for an OpenAI-compatible LLM that reads the
/// prompts MemorySql sends (extraction, contradiction, reflect, summaries) and answers as a sensible model would,
/// worded differently from the offline paths so a test can tell which one ran.
/// </summary>
internal static partial class JourneyLlm
{
    public const string Model = "journey-chat";

    /// <summary>What the extraction answer says about Dana's daughter (the heuristics write "Dana's daughter is called Ana.").</summary>
    public const string DaughterFact = "Dana has a daughter named Ana.";

    public const string ReflectAnswer = "Dana now prefers aisle seats on flights; she used to prefer window seats.";

    [GeneratedRegex(@"^\[(\d+)\] .*?\buser\)?: (.*)$", RegexOptions.Multiline)]
    private static partial Regex UserLine();

    [GeneratedRegex(@"^\[(\d+)\] \([^)]*\) (.*)$", RegexOptions.Multiline)]
    private static partial Regex MemoryLine();

    public static LlmReply Answer(LlmCall call) => call.SchemaName switch
    {
        "memorysql_extract" => Extract(call),
        "memorysql_contradiction" => Judge(call),
        "memorysql_reflect" => Reflect(call),
        "memorysql_reflection" => LlmReply.Json(new JsonObject { ["summary"] = "Dana lives in Lisbon, has a daughter and flies often." }),
        _ => LlmReply.Error(400, "the journey's model does not know the request " + (call.SchemaName ?? "(no schema)")),
    };

    /// <summary>Memories for the user's lines that mention what the journey's conversation is about.</summary>
    private static LlmReply Extract(LlmCall call)
    {
        var entity = SchemaEntity(call) ?? "dana";
        var name = char.ToUpperInvariant(entity[0]) + entity[1..];
        var memories = new JsonArray();
        foreach (Match line in UserLine().Matches(call.LastUser))
        {
            var message = int.Parse(line.Groups[1].Value, CultureInfo.InvariantCulture);
            var text = line.Groups[2].Value;
            void Add(string content, string kind, double importance) => memories.Add(new JsonObject
            {
                ["content"] = content, ["kind"] = kind, ["type"] = "semantic", ["entity"] = entity, ["importance"] = importance, ["message"] = message,
            });
            if (text.Contains("Lisbon", StringComparison.Ordinal)) Add($"{name} lives in Lisbon.", "fact", 0.6);
            if (text.Contains("window seats", StringComparison.Ordinal)) Add($"{name} prefers window seats on flights.", "preference", 0.7);
            if (text.Contains("daughter", StringComparison.Ordinal)) Add(DaughterFact.Replace("Dana", name, StringComparison.Ordinal), "relationship", 0.8);
        }
        return LlmReply.Json(new JsonObject { ["memories"] = memories }, promptTokens: 300, completionTokens: 60);
    }

    /// <summary>Two statements about seats: the newer one is an update; anything else is unrelated.</summary>
    private static LlmReply Judge(LlmCall call)
    {
        using var pair = JsonDocument.Parse(call.LastUser);
        var older = pair.RootElement.GetProperty("older").GetProperty("text").GetString()!;
        var newer = pair.RootElement.GetProperty("newer").GetProperty("text").GetString()!;
        var seats = older.Contains("seats", StringComparison.Ordinal) && newer.Contains("seats", StringComparison.Ordinal);
        return LlmReply.Json(seats
            ? new JsonObject { ["verdict"] = "updates", ["current"] = "newer", ["confidence"] = 0.95, ["reason"] = "the seat preference changed" }
            : new JsonObject { ["verdict"] = "unrelated", ["current"] = "unclear", ["confidence"] = 0.9, ["reason"] = "different attributes" },
            promptTokens: 150, completionTokens: 20);
    }

    /// <summary>Answers from the memory that mentions aisle seats, citing its number.</summary>
    private static LlmReply Reflect(LlmCall call)
    {
        var cited = MemoryLine().Matches(call.LastUser)
            .Where(m => m.Groups[2].Value.Contains("aisle", StringComparison.Ordinal))
            .Select(m => (JsonNode)int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).Take(1).ToArray();
        var answer = cited.Length == 0 ? "The memories do not say which seats Dana prefers." : $"{ReflectAnswer} [{cited[0]}]";
        return LlmReply.Json(new JsonObject { ["answer"] = answer, ["cited"] = new JsonArray(cited) }, promptTokens: 400, completionTokens: 40);
    }

    /// <summary>The first speaker entity the extraction schema allows, if the request carried a schema.</summary>
    private static string? SchemaEntity(LlmCall call) =>
        call.Body.TryGetProperty("response_format", out var format)
        && format.TryGetProperty("json_schema", out var js)
        && js.TryGetProperty("schema", out var schema)
        && schema.GetProperty("properties").GetProperty("memories").GetProperty("items").GetProperty("properties").TryGetProperty("entity", out var entity)
        && entity.TryGetProperty("enum", out var values) && values.GetArrayLength() > 0
            ? values[0].GetString()
            : null;
}
