using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MemorySql.Embeddings.Llm;

namespace MemorySql.Workers.Extraction;

/// <summary>
/// Extraction with the LLM: the conversation (numbered messages with speaker and time) goes to the model in
/// chunks of at most <c>maxChunkChars</c>, one call per chunk, asking for schema-validated JSON
/// <c>{memories: [{content, kind, type, entity, importance, message}]}</c>. The entity must be one of the
/// conversation's speakers and the message one of its numbers (the schema enumerates them), so the answer can
/// only attribute memories to people who spoke and date them from messages that exist.
/// </summary>
internal sealed class LlmExtractor
{
    public const string Purpose = "extract";

    private static readonly string[] Kinds = ["fact", "preference", "plan", "event", "relationship", "skill"];
    private static readonly string[] Types = ["semantic", "episodic", "procedural"];

    private const string Instructions = """
        You turn conversations into long-term memories for an AI assistant. Extract every fact, preference, plan, event,
        relationship or skill that a person in the conversation states about themselves or about the people and things in
        their life, and that will still be useful in a later conversation.
        Rules:
        - One memory per item: one short, self-contained sentence in the third person that names the person it is about
          (for example "Dana is allergic to peanuts"). Never write "I", "you" or "the user" when a name is known.
        - Only what is stated. Do not infer, guess or add advice. Keep dates, places, names and numbers exactly.
        - Skip greetings, thanks, questions, small talk, requests to the assistant, and what the assistant says unless the
          person confirms it.
        - kind: fact, preference, plan, event, relationship or skill. type: semantic for lasting facts and preferences,
          episodic for things that happen at a time (events, plans), procedural for how to do something.
        - importance: from 0.0 (trivial) to 1.0 (essential: health, safety, identity, strong preferences).
        - message: the number of the message the memory comes from. entity: who the memory is about, from the speakers listed.
        - If nothing is worth remembering, answer {"memories": []}.
        """;

    private const string SessionInstructions = """
        The input is the working memory an AI agent kept during a session: notes it chose to keep. Turn each note into
        long-term memories following the same rules (a note may hold several facts, or none worth keeping).
        """;

    private readonly ILlmProvider _llm;
    private readonly int _maxChunkChars;

    public LlmExtractor(ILlmProvider llm, int maxChunkChars)
    {
        _llm = llm;
        _maxChunkChars = maxChunkChars;
    }

    public string Model => _llm.Model;

    /// <summary>
    /// The memories the model finds, in order, without duplicates. <paramref name="onCall"/> sees every call's
    /// usage (and error, when it failed) so the caller can account for it even when a later chunk fails. Throws
    /// <see cref="LlmException"/> when a call fails after its retries and repair.
    /// </summary>
    public async Task<(List<ExtractedItem> Items, int Calls)> ExtractAsync(Conversation conversation, Func<LlmUsage, string?, Task> onCall,
        CancellationToken cancellationToken)
    {
        var speakers = Speakers(conversation);
        var schema = Schema(speakers.Select(s => s.Entity).Distinct(StringComparer.Ordinal).ToList(), conversation.Messages.Count);
        var items = new List<ExtractedItem>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var chunks = Chunks(conversation);
        foreach (var chunk in chunks)
        {
            var request = new LlmRequest(Purpose,
            [
                LlmMessage.System(conversation.IsSession ? Instructions + "\n" + SessionInstructions : Instructions),
                LlmMessage.User(Prompt(conversation, speakers, chunk)),
            ], schema, MaxTokens: null, Temperature: 0);
            LlmResult result;
            try
            {
                result = await _llm.CompleteAsync(request, cancellationToken);
            }
            catch (LlmException e)
            {
                await onCall(e.Usage, e.Message);
                throw;
            }
            await onCall(result.Usage, null);
            foreach (var item in Items(result.Json!.Value, conversation, speakers))
                if (seen.Add(item.Content)) items.Add(item);
        }
        return (items, chunks.Count);
    }

    private sealed record Speaker(string Label, string Entity);

    /// <summary>Who speaks (people only), with the entity their memories get.</summary>
    private static List<Speaker> Speakers(Conversation conversation)
    {
        var speakers = new List<Speaker>();
        foreach (var message in conversation.Messages)
        {
            if (!conversation.IsSession && !message.IsHuman) continue;
            var entity = conversation.IsSession ? conversation.Entity : conversation.EntityOf(message);
            if (entity is null || speakers.Exists(s => s.Entity == entity)) continue;
            var name = conversation.SpeakerName(message);
            speakers.Add(new Speaker(name is null || name == entity ? entity : $"{name} (entity \"{entity}\")", entity));
        }
        return speakers;
    }

    private static JsonElement Schema(List<string> entities, int messages)
    {
        var item = new JsonObject
        {
            ["type"] = "object",
            ["properties"] = new JsonObject
            {
                ["content"] = new JsonObject { ["type"] = "string", ["minLength"] = 3, ["maxLength"] = 2000 },
                ["kind"] = new JsonObject { ["type"] = "string", ["enum"] = new JsonArray([.. Kinds.Select(k => (JsonNode)k)]) },
                ["type"] = new JsonObject { ["type"] = "string", ["enum"] = new JsonArray([.. Types.Select(t => (JsonNode)t)]) },
                ["importance"] = new JsonObject { ["type"] = "number", ["minimum"] = 0, ["maximum"] = 1 },
                ["message"] = new JsonObject { ["type"] = "integer", ["minimum"] = 1, ["maximum"] = Math.Max(messages, 1) },
            },
            ["required"] = new JsonArray("content", "kind", "type", "importance", "message"),
            ["additionalProperties"] = false,
        };
        if (entities.Count > 0)
        {
            item["properties"]!["entity"] = new JsonObject { ["type"] = "string", ["enum"] = new JsonArray([.. entities.Select(e => (JsonNode)e)]) };
            item["required"]!.AsArray().Add("entity");
        }
        var schema = new JsonObject
        {
            ["type"] = "object",
            ["properties"] = new JsonObject { ["memories"] = new JsonObject { ["type"] = "array", ["items"] = item } },
            ["required"] = new JsonArray("memories"),
            ["additionalProperties"] = false,
        };
        return JsonDocument.Parse(schema.ToJsonString()).RootElement.Clone();
    }

    /// <summary>The message lines, grouped into chunks of at most the configured size; a longer message is cut at sentence ends.</summary>
    private List<List<string>> Chunks(Conversation conversation)
    {
        var chunks = new List<List<string>>();
        var current = new List<string>();
        var size = 0;
        foreach (var message in conversation.Messages)
        {
            var prefix = Prefix(conversation, message);
            foreach (var part in Parts(message.Content, _maxChunkChars - prefix.Length - 16))
            {
                var line = prefix + part;
                if (size + line.Length > _maxChunkChars && current.Count > 0)
                {
                    chunks.Add(current);
                    current = [];
                    size = 0;
                }
                current.Add(line);
                size += line.Length + 1;
            }
        }
        if (current.Count > 0) chunks.Add(current);
        return chunks;
    }

    private static IEnumerable<string> Parts(string content, int limit)
    {
        var text = content.ReplaceLineEndings(" ").Trim();
        if (text.Length <= limit) { yield return text; yield break; }
        var part = new StringBuilder();
        foreach (var sentence in SentenceSplitter.Split(content))
        {
            for (var offset = 0; offset < sentence.Length; offset += limit)
            {
                var piece = sentence.Substring(offset, Math.Min(limit, sentence.Length - offset));
                if (part.Length + piece.Length + 1 > limit && part.Length > 0)
                {
                    yield return part.ToString();
                    part.Clear();
                }
                if (part.Length > 0) part.Append(' ');
                part.Append(piece);
            }
        }
        if (part.Length > 0) yield return part.ToString();
    }

    private static string Prefix(Conversation conversation, ConversationMessage message)
    {
        var sb = new StringBuilder().Append('[').Append(message.Number.ToString(CultureInfo.InvariantCulture)).Append("] ");
        if (message.At is { } at) sb.Append(at.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture)).Append(' ');
        if (conversation.IsSession) sb.Append("note").Append(message.Key is null ? "" : $" \"{message.Key}\"");
        else if (message.Name is not null) sb.Append(message.Name).Append(" (").Append(message.Role).Append(')');
        else sb.Append(message.Role);
        return sb.Append(": ").ToString();
    }

    private static string Prompt(Conversation conversation, List<Speaker> speakers, List<string> lines)
    {
        var sb = new StringBuilder();
        if (speakers.Count > 0)
        {
            sb.Append("Speakers (entity values): ");
            sb.AppendJoin("; ", speakers.Select(s => s.Label));
            sb.Append('\n');
            if (!conversation.IsSession && conversation.Entity is not null && conversation.Messages.Any(m => m.IsHuman && m.Name is null))
                sb.Append("Messages of role \"user\" are by \"").Append(conversation.Entity).Append("\".\n");
        }
        else
        {
            sb.Append("The speakers are not named; write \"the user\" for the person.\n");
        }
        sb.Append(conversation.IsSession ? "Working memory notes:\n" : "Conversation:\n");
        sb.AppendJoin('\n', lines);
        return sb.ToString();
    }

    private static IEnumerable<ExtractedItem> Items(JsonElement json, Conversation conversation, List<Speaker> speakers)
    {
        foreach (var m in json.GetProperty("memories").EnumerateArray())
        {
            var content = m.GetProperty("content").GetString()!.Trim();
            if (content.Length == 0) continue;
            var number = m.GetProperty("message").GetInt32();
            var message = conversation.Messages.FirstOrDefault(x => x.Number == number);
            var entity = m.TryGetProperty("entity", out var e) ? e.GetString() : speakers.Count == 1 ? speakers[0].Entity : conversation.Entity;
            var session = conversation.SessionCommit;
            yield return new ExtractedItem(content, m.GetProperty("kind").GetString()!, m.GetProperty("type").GetString()!, entity,
                Math.Clamp(m.GetProperty("importance").GetSingle(), 0f, 1f), number, message?.At, session?.Tags ?? [], message?.Key);
        }
    }
}
