namespace MemorySql.Workers.Dedup;

/// <summary>What the merge rules need to know of a memory.</summary>
internal readonly record struct MergeSide(Guid Id, DateTimeOffset CreatedAt, bool Pinned, bool Archived);

/// <summary>
/// Which of two near-duplicates absorbs the other (docs/lifecycle.md, "Dedup"): the older one (first
/// created) survives, because it is the one people and edges have referred to longest; a pinned memory is
/// never absorbed, so a pinned newer memory absorbs an unpinned older one; two pinned memories are left
/// alone (pinning both was somebody's choice); an archived memory can only survive (it is revived).
/// </summary>
internal static class MergeRules
{
    public static (Guid Duplicate, Guid Survivor)? Direction(MergeSide x, MergeSide y)
    {
        if (x.Archived && y.Archived) return null;
        if (x.Archived || y.Archived)
        {
            var (archived, active) = x.Archived ? (x, y) : (y, x);
            return active.Pinned ? null : (active.Id, archived.Id);
        }
        var xOlder = (x.CreatedAt, x.Id).CompareTo((y.CreatedAt, y.Id)) < 0;
        var (older, newer) = xOlder ? (x, y) : (y, x);
        if (older.Pinned && newer.Pinned) return null;
        return newer.Pinned ? (older.Id, newer.Id) : (newer.Id, older.Id);
    }
}
