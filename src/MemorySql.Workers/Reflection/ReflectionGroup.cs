namespace MemorySql.Workers.Reflection;

/// <summary>A reflection group: the item memories of one entity ('' = none) in a workspace sharing a topic (kind:x or tag:y).</summary>
internal sealed record ReflectionGroup(string Workspace, string Entity, string Topic)
{
    /// <summary>How summaries name the group: "Dana's preferences", "memories tagged travel about Dana", "the workspace's facts".</summary>
    public string Describe()
    {
        var who = Entity.Length == 0 ? "the workspace" : Entity;
        if (Topic.StartsWith("kind:", StringComparison.Ordinal))
        {
            var kind = Topic[5..];
            var plural = kind.EndsWith('s') ? kind : kind.EndsWith('y') && kind.Length > 1 && kind[^2] is not ('a' or 'e' or 'i' or 'o' or 'u') ? kind[..^1] + "ies" : kind + "s";
            return $"{who}'s {plural}";
        }
        return $"{who}'s memories tagged {Topic[4..]}";
    }

    /// <summary>The tag a summary of this group carries besides "summary" (its topic's tag), or null.</summary>
    public string? Tag => Topic.StartsWith("tag:", StringComparison.Ordinal) ? Topic[4..] : null;
}
