using MemorySql.Workers.Dedup;

namespace MemorySql.Workers.Tests.Lifecycle;

public sealed class MergeRulesTests
{
    private static readonly Guid Old = Guid.Parse("00000000-0000-7000-8000-000000000001");
    private static readonly Guid New = Guid.Parse("00000000-0000-7000-8000-000000000002");
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static MergeSide Older(bool pinned = false, bool archived = false) => new(Old, T0, pinned, archived);
    private static MergeSide Newer(bool pinned = false, bool archived = false) => new(New, T0.AddDays(1), pinned, archived);

    [Fact]
    public void TheOlderAbsorbsTheNewer_WhicheverWayRoundTheyAreGiven()
    {
        Assert.Equal((New, Old), MergeRules.Direction(Older(), Newer()));
        Assert.Equal((New, Old), MergeRules.Direction(Newer(), Older()));
    }

    [Fact]
    public void APinnedMemory_IsNeverAbsorbed()
    {
        Assert.Equal((Old, New), MergeRules.Direction(Older(), Newer(pinned: true)));
        Assert.Equal((New, Old), MergeRules.Direction(Older(pinned: true), Newer()));
        Assert.Null(MergeRules.Direction(Older(pinned: true), Newer(pinned: true)));
    }

    [Fact]
    public void AnArchivedMemory_OnlySurvives()
    {
        Assert.Equal((Old, New), MergeRules.Direction(Older(), Newer(archived: true)));
        Assert.Null(MergeRules.Direction(Older(pinned: true), Newer(archived: true)));
        Assert.Null(MergeRules.Direction(Older(archived: true), Newer(archived: true)));
    }
}
