using System.Globalization;
using System.Text;
using System.Text.Json;
using MemorySql.Embeddings.Llm;

namespace MemorySql.Workers.Reflection;

/// <summary>Writes a group's summary: with the LLM (schema-validated <c>{summary}</c>), or extractively (its members, best first).</summary>
internal static class Summarizer
{
    public const string Purpose = "reflection";

    private static readonly JsonElement Schema = JsonDocument.Parse("""
        {
          "type": "object",
          "properties": { "summary": { "type": "string", "minLength": 1 } },
          "required": ["summary"],
          "additionalProperties": false
        }
        """).RootElement.Clone();

    /// <summary>The first line of every summary, naming the group.</summary>
    public static string Header(ReflectionGroup group, int members, string mode) =>
        string.Create(CultureInfo.InvariantCulture, $"Summary of {group.Describe()} ({members} memories, {mode}):");

    /// <summary>The members as a bullet list, most important first, cut at <paramref name="maxChars"/>.</summary>
    public static string Extractive(ReflectionGroup group, IReadOnlyList<GroupMember> members, int maxChars)
    {
        var sb = new StringBuilder(Header(group, members.Count, "extractive"));
        foreach (var member in members)
        {
            var line = "\n- " + member.Content.ReplaceLineEndings(" ");
            if (sb.Length + line.Length > maxChars)
            {
                sb.Append("\n- …");
                break;
            }
            sb.Append(line);
        }
        return sb.ToString();
    }

    /// <summary>The LLM request for a group's summary (members dated, most important first, at most <paramref name="maxInputChars"/>).</summary>
    public static LlmRequest Request(ReflectionGroup group, IReadOnlyList<GroupMember> members, int maxSummaryChars, int maxInputChars)
    {
        var sb = new StringBuilder();
        sb.Append("Memories (").Append(group.Describe()).Append("), most important first:\n");
        var shown = 0;
        foreach (var m in members)
        {
            var line = string.Create(CultureInfo.InvariantCulture, $"- ({m.CreatedAt.UtcDateTime:yyyy-MM-dd}, {m.Kind}) {m.Content.ReplaceLineEndings(" ")}\n");
            if (sb.Length + line.Length > maxInputChars && shown > 0) break;
            sb.Append(line);
            shown++;
        }
        var system = string.Create(CultureInfo.InvariantCulture, $"""
            You keep an AI assistant's long-term memory tidy. Summarise the memories given into one short paragraph (at most
            {maxSummaryChars} characters) that the assistant can read instead of them: keep every distinct fact, preference,
            plan and event, with names, dates and numbers exactly as given; merge repetitions; when memories disagree, keep the
            newest and say that it changed. Do not add anything that is not in the memories, and do not give advice.
            """);
        return new LlmRequest(Purpose, [LlmMessage.System(system), LlmMessage.User(sb.ToString())], Schema, MaxTokens: null, Temperature: 0);
    }

    /// <summary>The summary text of a validated answer, cut at <paramref name="maxChars"/>.</summary>
    public static string FromAnswer(LlmResult result, ReflectionGroup group, int members, int maxChars)
    {
        var text = result.Json!.Value.GetProperty("summary").GetString()!.Trim();
        var content = Header(group, members, "LLM") + "\n" + text;
        return content.Length <= maxChars ? content : content[..(maxChars - 1)] + "…";
    }
}
