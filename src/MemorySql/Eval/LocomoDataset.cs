using System.Globalization;
using System.Text.Json;

namespace MemorySql.Eval;

/// <summary>One turn of a LoCoMo conversation: what becomes one memory.</summary>
internal sealed record LocomoTurn(string DiaId, string Speaker, string Text, DateTimeOffset SessionTime, int Session, string? ImageCaption);

/// <summary>One question with the turns that hold its answer.</summary>
internal sealed record LocomoQuestion(string Question, int Category, IReadOnlyList<string> Evidence);

internal sealed record LocomoConversation(string SampleId, IReadOnlyList<LocomoTurn> Turns, IReadOnlyList<LocomoQuestion> Questions);

/// <summary>What the loader had to repair or drop, reported with the results so nothing is silently skipped.</summary>
internal sealed record LocomoLoadReport(int Questions, int NormalisedEvidenceIds, int DroppedEvidenceIds, int QuestionsWithoutEvidence);

/// <summary>
/// Reads the LoCoMo JSON (a list of conversations). The data is licensed for evaluation only, so it is
/// read from wherever the user keeps it and never copied into the project.
/// </summary>
internal static class LocomoDataset
{
    public static (IReadOnlyList<LocomoConversation> Conversations, LocomoLoadReport Report) Load(string path)
    {
        if (!File.Exists(path))
            throw new InvalidOperationException($"LoCoMo data not found at {path}; pass --data with the path of locomo-dev.json (or locomo10.json)");
        using var document = JsonDocument.Parse(File.ReadAllBytes(path));
        var conversations = new List<LocomoConversation>();
        int questions = 0, normalised = 0, dropped = 0, withoutEvidence = 0;
        foreach (var sample in document.RootElement.EnumerateArray())
        {
            var sampleId = sample.GetProperty("sample_id").GetString() ?? "?";
            var conversation = sample.GetProperty("conversation");
            var turns = new List<LocomoTurn>();
            for (var session = 1; conversation.TryGetProperty($"session_{session}", out var sessionTurns); session++)
            {
                var when = conversation.TryGetProperty($"session_{session}_date_time", out var dt) ? ParseSessionTime(dt.GetString()) : DateTimeOffset.UnixEpoch;
                foreach (var turn in sessionTurns.EnumerateArray())
                {
                    turns.Add(new LocomoTurn(
                        turn.GetProperty("dia_id").GetString()!,
                        turn.GetProperty("speaker").GetString()!,
                        turn.GetProperty("text").GetString()!,
                        when.AddSeconds(turns.Count), // keep turn order inside a session
                        session,
                        turn.TryGetProperty("blip_caption", out var caption) ? caption.GetString() : null));
                }
            }
            var known = turns.Select(t => t.DiaId).ToHashSet(StringComparer.Ordinal);
            var qa = new List<LocomoQuestion>();
            foreach (var q in sample.GetProperty("qa").EnumerateArray())
            {
                questions++;
                var evidence = new List<string>();
                if (q.TryGetProperty("evidence", out var ev))
                {
                    foreach (var raw in ev.EnumerateArray().Select(e => e.GetString() ?? ""))
                    {
                        foreach (var part in raw.Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                        {
                            var id = NormaliseDiaId(part);
                            if (id is not null && known.Contains(id))
                            {
                                if (id != raw) normalised++;
                                if (!evidence.Contains(id)) evidence.Add(id);
                            }
                            else
                            {
                                dropped++;
                            }
                        }
                    }
                }
                if (evidence.Count == 0) withoutEvidence++;
                qa.Add(new LocomoQuestion(q.GetProperty("question").GetString()!, q.GetProperty("category").GetInt32(), evidence));
            }
            conversations.Add(new LocomoConversation(sampleId, turns, qa));
        }
        return (conversations, new LocomoLoadReport(questions, normalised, dropped, withoutEvidence));
    }

    /// <summary>"D30:05" → "D30:5", "D:11:26" → "D11:26"; null when it cannot be read as D&lt;session&gt;:&lt;turn&gt;.</summary>
    internal static string? NormaliseDiaId(string raw)
    {
        var digits = raw.Trim().TrimStart('D', 'd').Split(':', StringSplitOptions.RemoveEmptyEntries);
        if (digits.Length != 2) return null;
        if (!int.TryParse(digits[0], NumberStyles.None, CultureInfo.InvariantCulture, out var session) ||
            !int.TryParse(digits[1], NumberStyles.None, CultureInfo.InvariantCulture, out var turn))
            return null;
        return $"D{session}:{turn}";
    }

    /// <summary>"1:56 pm on 8 May, 2023" → that time in UTC.</summary>
    internal static DateTimeOffset ParseSessionTime(string? text)
    {
        if (text is not null && DateTime.TryParseExact(text.Trim(), ["h:mm tt 'on' d MMMM, yyyy", "h:mm tt 'on' d MMM, yyyy"],
                CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var parsed))
            return new DateTimeOffset(parsed, TimeSpan.Zero);
        return DateTimeOffset.UnixEpoch;
    }
}
