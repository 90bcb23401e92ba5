using System.Text.Json;
using System.Text.RegularExpressions;

namespace MemorySql.Embeddings.Llm;

/// <summary>
/// Finds the JSON value in a model's answer, however it was wrapped: the whole answer, a ```json fence (or
/// any fence), or the first balanced {…} / […] inside prose. Reasoning models' &lt;think&gt;…&lt;/think&gt;
/// blocks are dropped first. Comments and trailing commas are tolerated (local models add them); anything
/// else must be valid JSON — a repair round with the validator's errors deals with the rest.
/// </summary>
public static partial class JsonExtractor
{
    private static readonly JsonDocumentOptions Lenient = new() { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip, MaxDepth = 64 };

    [GeneratedRegex(@"<think>.*?(</think>|\z)", RegexOptions.Singleline | RegexOptions.IgnoreCase)]
    private static partial Regex ThinkBlock();

    [GeneratedRegex(@"```[ \t]*(?:json[c5]?|JSON)?[ \t]*\r?\n?(.*?)```", RegexOptions.Singleline)]
    private static partial Regex Fence();

    /// <summary>The answer without reasoning blocks (&lt;think&gt;…&lt;/think&gt;), trimmed.</summary>
    public static string StripReasoning(string text) => ThinkBlock().Replace(text ?? "", "").Trim();

    /// <summary>The JSON value in <paramref name="text"/> (cloned, safe to keep), or null with the reason.</summary>
    public static JsonElement? Extract(string text, out string? problem)
    {
        var answer = StripReasoning(text);
        problem = null;
        if (answer.Length == 0)
        {
            problem = "the answer was empty";
            return null;
        }
        string? firstError = null;
        foreach (var candidate in Candidates(answer))
        {
            try
            {
                using var document = JsonDocument.Parse(candidate, Lenient);
                return document.RootElement.Clone();
            }
            catch (JsonException e)
            {
                firstError ??= e.Message;
            }
        }
        problem = "the answer is not valid JSON" + (firstError is null ? "" : $" ({firstError})");
        return null;
    }

    private static IEnumerable<string> Candidates(string answer)
    {
        yield return answer;
        foreach (Match fence in Fence().Matches(answer))
        {
            var inner = fence.Groups[1].Value.Trim();
            if (inner.Length > 0) yield return inner;
        }
        // The first few balanced {…} / […] in the prose (a bound, so a long answer full of brackets stays linear).
        var tried = 0;
        for (var start = 0; start < answer.Length && tried < 8; start++)
        {
            if (answer[start] is not ('{' or '[')) continue;
            var end = MatchingBracket(answer, start);
            if (end < 0) continue;
            tried++;
            yield return answer[start..(end + 1)];
            start = end;
        }
    }

    /// <summary>The index of the bracket closing the one at <paramref name="start"/>, respecting strings; -1 when none.</summary>
    private static int MatchingBracket(string text, int start)
    {
        var depth = 0;
        var inString = false;
        for (var i = start; i < text.Length; i++)
        {
            var c = text[i];
            if (inString)
            {
                if (c == '\\') i++;
                else if (c == '"') inString = false;
                continue;
            }
            switch (c)
            {
                case '"':
                    inString = true;
                    break;
                case '{' or '[':
                    depth++;
                    break;
                case '}' or ']':
                    if (--depth == 0) return i;
                    break;
            }
        }
        return -1;
    }
}
