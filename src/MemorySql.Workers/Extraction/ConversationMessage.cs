namespace MemorySql.Workers.Extraction;

/// <summary>One message of an ingested resource, as extraction sees it.</summary>
/// <param name="Number">1-based position in the resource.</param>
/// <param name="Role">user, assistant, system, tool, note (working memory), … lower-case; "user" when absent.</param>
/// <param name="Name">The speaker's name when the message gives one ("name" or "speaker").</param>
/// <param name="At">When it was said ("timestamp", "time", "created_at" or "date": ISO 8601 text or Unix seconds).</param>
/// <param name="Key">The working-memory key, for messages made by session_commit.</param>
internal sealed record ConversationMessage(int Number, string Role, string? Name, string Content, DateTimeOffset? At, string? Key)
{
    /// <summary>Said by a person whose statements are worth remembering (not the assistant, the system or a tool).</summary>
    public bool IsHuman => Role is "user" or "human" or "customer" or "participant" || (Name is not null && Role is not ("assistant" or "system" or "tool" or "function" or "developer"));
}
