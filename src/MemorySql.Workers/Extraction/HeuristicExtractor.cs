using System.Collections.Frozen;
using System.Text.RegularExpressions;

namespace MemorySql.Workers.Extraction;

/// <summary>
/// Extraction without an LLM: general sentence-level rules, no model, deterministic (docs/sql.md, "Extraction").
/// From every message of a person (not the assistant, the system or a tool):
/// <list type="number">
/// <item>split into sentences; drop leading fillers ("Well,", "Oh,", "Btw,") and turn "remember that …" /
/// "remind me to …" into the statement itself;</item>
/// <item>drop questions, greetings, thanks and other small talk, requests to the assistant, bare replies
/// ("I see", "I agree", "I'm not sure") and sentences without a content word;</item>
/// <item>keep first-person statements (I, my, me; "we" ones are kept with the speaker's name in front),
/// classified by general cues as a preference (like, love, prefer, hate, favourite …), a plan (will, going to,
/// want to, next week …), an event (yesterday, ago, last month, a past-tense verb) or else a fact;</item>
/// <item>rewrite them in the third person naming the speaker, so each memory stands alone.</item>
/// </list>
/// Working-memory resources (session_commit) keep every item as it is: the agent chose to keep them.
/// </summary>
internal static partial class HeuristicExtractor
{
    /// <summary>Longer sentences are not statements about someone; they are left to the resource.</summary>
    private const int MaxSentenceLength = 1000;

    [GeneratedRegex(@"^(?:(?:well|so|oh|ah|um|uh|hmm+|actually|also|btw|by the way|anyway|anyways|honestly|yeah|yes|yep|no|nope|ok|okay|sure|haha+|lol|hey|hi|hello|thanks|thank you|great|cool|nice|alright|right)\b[,!.:;\s-]*)+", RegexOptions.IgnoreCase)]
    private static partial Regex LeadingFiller();

    [GeneratedRegex(@"^(?:please\s+)?(?:remember|note|keep in mind|fyi|for the record|just so you know|for your information)(?:\s+that)?[,:]?\s+", RegexOptions.IgnoreCase)]
    private static partial Regex RememberThat();

    [GeneratedRegex(@"^(?:please\s+)?remind me to\s+", RegexOptions.IgnoreCase)]
    private static partial Regex RemindMeTo();

    [GeneratedRegex(@"^(?:please|pls|can you|could you|would you|will you|can u|let me know|tell me|show me|help me|find me|book me|give me|send me|get me|let's|lets)\b", RegexOptions.IgnoreCase)]
    private static partial Regex Request();

    private static readonly FrozenSet<string> SmallTalk = new[]
    {
        "hi", "hello", "hey", "there", "thanks", "thank", "you", "so", "much", "ok", "okay", "sure", "yes", "yeah", "yep", "no", "nope",
        "bye", "goodbye", "good", "morning", "evening", "night", "afternoon", "great", "cool", "nice", "awesome", "lol", "haha",
        "please", "see", "later", "welcome", "alright", "right", "fine", "perfect", "got", "it", "sounds", "that", "this", "is",
        "oh", "wow", "hmm", "well", "indeed", "exactly", "agreed", "true", "that's", "it's", "a", "lot", "very", "too", "again",
        "cheers", "bro", "dude", "man", "sir", "madam", "all", "for", "the", "help", "me", "i", "am", "i'm", "fine", "doing", "how",
        "are", "and", "to", "be", "was", "glad", "happy", "sorry", "really", "just",
    }.ToFrozenSet();

    private static readonly string[] BareReplies =
    [
        "i see", "i agree", "i understand", "i know", "i don't know", "i do not know", "i'm not sure", "i am not sure", "i think so",
        "i guess so", "i hope so", "i mean", "i'm sorry", "i am sorry", "i'm fine", "i'm good", "i'm okay", "i'm ok", "i'm back",
        "i'm here", "i will", "i can", "i do", "i did", "i'd love to", "i would love to", "i'm glad", "i am glad", "i appreciate",
        "i got it", "i'm in", "me too", "i'm sure", "i wonder", "i think", "i believe", "i see what you mean", "i'm doing well",
        "i'm doing good", "i'm great", "i'm excited", "i can't wait", "i feel you", "i hear you", "i'll try", "i'll think about it",
        "i'll check", "i'll let you know", "i have a question", "i've got a question", "i need help", "i need your help",
    ];

    /// <summary>Words that carry no content of their own (pronouns, auxiliaries, articles, prepositions).</summary>
    private static readonly FrozenSet<string> Empty = new[]
    {
        "i", "i'm", "i've", "i'll", "i'd", "me", "my", "mine", "myself", "we", "we're", "we've", "we'll", "we'd", "us", "our", "you",
        "it", "it's", "this", "that", "a", "an", "the", "am", "is", "are", "was", "were", "be", "been", "have", "has", "had", "do",
        "does", "did", "don't", "didn't", "will", "would", "can", "could", "should", "to", "of", "in", "on", "at", "and", "or", "but",
        "so", "not", "just", "really", "very", "too", "also", "some", "any", "there", "here", "then", "now", "go", "get", "got",
        "one", "thing", "things", "stuff", "lot", "bit", "kind", "sort", "much", "more", "about", "with", "for", "from", "what",
    }.ToFrozenSet();

    private static readonly FrozenSet<string> PreferenceWords = new[]
    {
        "prefer", "prefers", "preferred", "enjoy", "enjoys", "love", "loves", "adore", "adores", "hate", "hates", "dislike",
        "dislikes", "despise", "favorite", "favourite", "favorites", "favourites", "fond", "fan", "allergic", "vegetarian", "vegan",
    }.ToFrozenSet();

    private static readonly FrozenSet<string> PlanWords = new[]
    {
        "will", "i'll", "we'll", "gonna", "plan", "plans", "planning", "intend", "intending", "tomorrow", "soon", "upcoming", "wanna",
    }.ToFrozenSet();

    private static readonly FrozenSet<string> TimeUnits = new[]
    {
        "week", "weekend", "month", "year", "time", "night", "summer", "winter", "spring", "autumn", "fall", "monday", "tuesday",
        "wednesday", "thursday", "friday", "saturday", "sunday", "semester", "term", "season", "trip",
    }.ToFrozenSet();

    private static readonly FrozenSet<string> PastWords = new[] { "yesterday", "ago", "earlier", "recently", "once", "formerly" }.ToFrozenSet();

    /// <summary>The memories heuristics find in a resource, in message order, without duplicates.</summary>
    public static List<ExtractedItem> Extract(Conversation conversation)
    {
        var items = new List<ExtractedItem>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var message in conversation.Messages)
        {
            if (conversation.IsSession)
            {
                var defaults = conversation.SessionCommit!;
                if (message.Content.Trim().Length > 0 && seen.Add(message.Content.Trim()))
                    items.Add(new ExtractedItem(message.Content.Trim(), defaults.Kind, defaults.Type, conversation.Entity, defaults.Importance,
                        message.Number, message.At, defaults.Tags, message.Key));
                continue;
            }
            if (!message.IsHuman) continue;
            foreach (var sentence in SentenceSplitter.Split(message.Content).SelectMany(SentenceSplitter.Clauses))
            {
                if (Statement(sentence, conversation.SpeakerName(message)) is not { } statement) continue;
                if (!seen.Add(statement.Content)) continue;
                items.Add(new ExtractedItem(statement.Content, statement.Kind, statement.Kind is "plan" or "event" ? "episodic" : "semantic",
                    conversation.EntityOf(message), null, message.Number, message.At, []));
            }
        }
        return items;
    }

    /// <summary>The memory one sentence makes, or null when it is not a statement worth keeping.</summary>
    internal static (string Content, string Kind)? Statement(string sentence, string? speaker)
    {
        var text = sentence.Trim();
        if (text.Length == 0 || text.Length > MaxSentenceLength) return null;
        if (text.EndsWith('?') || text.EndsWith("?\"", StringComparison.Ordinal)) return null;
        text = LeadingFiller().Replace(text, "");
        text = RememberThat().Replace(text, "");
        var remind = RemindMeTo().Match(text);
        if (remind.Success) text = "I need to " + text[remind.Length..];
        if (Request().IsMatch(text)) return null;

        var words = FirstPerson.Words(text);
        if (words.Count < 2 || words.All(SmallTalk.Contains)) return null;
        var normalized = string.Join(' ', words);
        foreach (var reply in BareReplies)
        {
            if (normalized == reply) return null;
            // "I agree with you", "I see, thanks": the reply and nothing of substance after it.
            if (normalized.StartsWith(reply + " ", StringComparison.Ordinal)
                && words.Skip(reply.Split(' ').Length).All(w => Empty.Contains(w) || SmallTalk.Contains(w)))
                return null;
        }
        if (!words.Any(w => !Empty.Contains(w) && !FirstPerson.Adverbs.Contains(w))) return null;

        var singular = FirstPerson.IsSingular(words);
        if (!singular && !FirstPerson.IsPlural(words)) return null;
        var kind = Classify(words);
        var content = singular
            ? FirstPerson.Rewrite(text, speaker)
            : $"{speaker ?? "The user"}: {char.ToUpperInvariant(text[0])}{text[1..].TrimEnd('!', ' ')}".TrimEnd('.') + ".";
        return (content, kind);
    }

    /// <summary>preference, plan, event or fact, from general cues in the words.</summary>
    internal static string Classify(List<string> words)
    {
        for (var i = 0; i < words.Count; i++)
        {
            var w = words[i];
            if (PreferenceWords.Contains(w)) return "preference";
            if (w is "like" or "likes" && i > 0 && (IsSubject(words[i - 1]) || FirstPerson.Adverbs.Contains(words[i - 1]) || words[i - 1] is "don't" or "doesn't" or "didn't")
                && !(i + 1 < words.Count && words[i + 1] == "to"))
                return "preference";
            if (w == "stand" && i > 0 && words[i - 1] is "can't" or "cannot") return "preference";
            if (w is "rather" && i > 0 && words[i - 1] is "i'd" or "would") return "preference";
        }
        for (var i = 0; i < words.Count; i++)
        {
            var w = words[i];
            if (PlanWords.Contains(w)) return "plan";
            var next = i + 1 < words.Count ? words[i + 1] : "";
            if (w is "going" or "want" or "wants" or "hope" or "hoping" or "about" or "like" or "need" or "have" && next == "to"
                && (w != "like" || (i > 0 && words[i - 1] is "i'd" or "would")) && (w is not ("need" or "have") || i > 0 && IsSubject(words[i - 1])))
                return "plan";
            if (w == "next" && TimeUnits.Contains(next)) return "plan";
        }
        for (var i = 0; i < words.Count; i++)
        {
            var w = words[i];
            if (PastWords.Contains(w)) return "event";
            if (w == "last" && i + 1 < words.Count && TimeUnits.Contains(words[i + 1])) return "event";
            if (FirstPerson.IsPastTense(w) && i > 0 && (IsSubject(words[i - 1]) || FirstPerson.Adverbs.Contains(words[i - 1])))
                return "event";
            if (i > 0 && IsSubject(words[i - 1]) && w is "went" or "got" or "bought" or "met" or "saw" or "made" or "took" or "came" or "became"
                    or "began" or "left" or "lost" or "won" or "found" or "gave" or "ran" or "wrote" or "flew" or "ate" or "drove" or "sold" or "spent"
                    or "built" or "grew" or "broke" or "fell" or "visited" or "moved" or "finished" or "started")
                return "event";
        }
        return "fact";
    }

    private static bool IsSubject(string word) => word is "i" or "we" or "he" or "she" or "they";
}
