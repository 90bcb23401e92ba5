namespace MemorySql.Workers.Reflection;

/// <summary>A member memory of a group, as the summary sees it.</summary>
internal sealed record GroupMember(Guid Id, string Content, string Kind, float Importance, DateTimeOffset CreatedAt, byte[] ContentHash);
