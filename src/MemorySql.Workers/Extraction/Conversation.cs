using System.Globalization;
using System.Text.Json;

namespace MemorySql.Workers.Extraction;

/// <summary>The messages of a resource and who its entity is.</summary>
internal sealed record Conversation(Guid ResourceId, string Workspace, string? Entity, string? Process, Guid? SessionId, string Kind,
    IReadOnlyList<ConversationMessage> Messages, SessionCommitDefaults? SessionCommit)
{
    /// <summary>A session_commit resource: one working-memory item per message.</summary>
    public bool IsSession => Kind == "session" && SessionCommit is not null;

    /// <summary>
    /// The entity a speaker's statements are about: the resource's entity for its user (role user without a name,
    /// or a name equal to the entity ignoring case), the name itself for anyone else.
    /// </summary>
    public string? EntityOf(ConversationMessage message)
    {
        if (message.Name is not { Length: > 0 } name) return Entity;
        if (Entity is not null && string.Equals(name, Entity, StringComparison.OrdinalIgnoreCase)) return Entity;
        return name;
    }

    /// <summary>
    /// How a speaker is named in a memory: the message's name, else the entity (capitalised when it is one
    /// lower-case word, "dana" → "Dana"), else null ("the user").
    /// </summary>
    public string? SpeakerName(ConversationMessage message)
    {
        if (message.Name is { Length: > 0 } name) return name;
        if (Entity is null) return null;
        return Entity.All(char.IsAsciiLetterLower) ? char.ToUpperInvariant(Entity[0]) + Entity[1..] : Entity;
    }

    /// <summary>Reads ingest's messages (a JSON array of objects with "content", optional "role", "name", "timestamp").</summary>
    public static Conversation Parse(Guid resourceId, string workspace, string? entity, string? process, Guid? sessionId, string kind,
        string contentJson, string metadataJson)
    {
        var messages = new List<ConversationMessage>();
        using (var document = JsonDocument.Parse(contentJson))
        {
            var number = 0;
            foreach (var m in document.RootElement.EnumerateArray())
            {
                number++;
                if (m.ValueKind != JsonValueKind.Object || !m.TryGetProperty("content", out var c) || c.ValueKind != JsonValueKind.String) continue;
                var role = Text(m, "role")?.Trim().ToLowerInvariant() is { Length: > 0 } r ? r : "user";
                var name = (Text(m, "name") ?? Text(m, "speaker"))?.Trim();
                messages.Add(new ConversationMessage(number, role, string.IsNullOrEmpty(name) ? null : name, c.GetString()!,
                    Time(m, "timestamp") ?? Time(m, "time") ?? Time(m, "created_at") ?? Time(m, "date"), Text(m, "key")));
            }
        }
        SessionCommitDefaults? session = null;
        using (var metadata = JsonDocument.Parse(metadataJson))
        {
            if (metadata.RootElement.ValueKind == JsonValueKind.Object && metadata.RootElement.TryGetProperty("session_commit", out var sc) && sc.ValueKind == JsonValueKind.Object)
            {
                session = new SessionCommitDefaults(
                    Text(sc, "type") ?? "episodic", Text(sc, "kind") ?? "note",
                    sc.TryGetProperty("importance", out var i) && i.ValueKind == JsonValueKind.Number ? i.GetSingle() : null,
                    sc.TryGetProperty("tags", out var t) && t.ValueKind == JsonValueKind.Array ? [.. t.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()!)] : []);
            }
        }
        return new Conversation(resourceId, workspace, string.IsNullOrWhiteSpace(entity) ? null : entity, process, sessionId, kind, messages, session);
    }

    private static string? Text(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static DateTimeOffset? Time(JsonElement e, string name)
    {
        if (!e.TryGetProperty(name, out var v)) return null;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var seconds) && seconds is > 0 and < 32503680000)
            return DateTimeOffset.FromUnixTimeMilliseconds((long)(seconds * 1000));
        if (v.ValueKind == JsonValueKind.String
            && DateTimeOffset.TryParse(v.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AllowWhiteSpaces, out var at))
            return at;
        return null;
    }
}
