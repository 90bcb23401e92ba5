using MemorySql.Workers.Contradictions;

namespace MemorySql.Workers.Tests.Lifecycle;

/// <summary>The offline contradiction judge, pair by pair: what it must flag (and how surely), what it must leave alone.</summary>
public sealed class ContradictionHeuristicsTests
{
    private static readonly DateTimeOffset Then = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static Judgement Judge(string older, string newer, string? entity = "dana", bool episodic = false) =>
        ContradictionHeuristics.Judge(new StatementPair(older, newer, entity, Then, Then.AddDays(30), episodic));

    public static TheoryData<string, string, string, double> MustFlag() => new()
    {
        // older, newer, verdict, confidence
        { "Dana likes sushi", "Dana doesn't like sushi", "contradicts", ContradictionHeuristics.NegationConfidence },
        { "Dana likes sushi", "Dana does not like sushi", "contradicts", ContradictionHeuristics.NegationConfidence },
        { "Dana is vegetarian", "Dana is not vegetarian", "contradicts", ContradictionHeuristics.NegationConfidence },
        { "Dana never drinks coffee", "Dana drinks coffee", "contradicts", ContradictionHeuristics.NegationConfidence },
        { "Dana lives in Lisbon", "Dana no longer lives in Lisbon", "contradicts", ContradictionHeuristics.NegationConfidence },
        { "I can swim", "Dana cannot swim", "contradicts", ContradictionHeuristics.NegationConfidence },
        { "Dana has kids", "Dana has no kids", "contradicts", ContradictionHeuristics.NegationConfidence },
        { "Dana loves jazz", "Dana hates jazz", "contradicts", ContradictionHeuristics.OppositeConfidence },
        { "The Lisbon office is available on Fridays", "The Lisbon office is unavailable on Fridays", "contradicts", ContradictionHeuristics.OppositeConfidence },
        { "Dana lives in Lisbon", "Dana lives in Porto", "updates", ContradictionHeuristics.ValueConfidence },
        { "Dana lives in Lisbon", "Dana moved to Porto", "updates", ContradictionHeuristics.ValueConfidence },
        { "Dana prefers window seats", "Dana prefers aisle seats", "updates", ContradictionHeuristics.ValueConfidence },
        { "Dana prefers window seats on long flights", "Dana now prefers aisle seats on long flights", "updates", ContradictionHeuristics.ValueConfidence },
        { "Dana's favorite color is blue", "Dana's favourite colour is green", "updates", ContradictionHeuristics.ValueConfidence },
        { "She works at Acme", "Dana works for Globex", "updates", ContradictionHeuristics.ValueConfidence },
        { "Dana has 2 kids", "Dana has 3 kids", "updates", ContradictionHeuristics.ValueConfidence },
        { "The meeting with Acme is on Monday", "The meeting with Acme is on Tuesday", "updates", ContradictionHeuristics.ValueConfidence },
        { "Dana's flight leaves at 10:30", "Dana's flight leaves at 11:15", "updates", ContradictionHeuristics.ValueConfidence },
        // Weak signals: flagged for a person (below the default min_confidence 0.75), never settled alone.
        { "Dana is vegetarian", "Dana is vegan", "contradicts", ContradictionHeuristics.CopulaConfidence },
        { "Dana does not eat red meat", "Dana eats meat", "contradicts", ContradictionHeuristics.NearNegationConfidence },
    };

    [Theory]
    [MemberData(nameof(MustFlag))]
    public void Conflicts_AreFlagged_WithTheRuleConfidence(string older, string newer, string verdict, double confidence)
    {
        var judgement = Judge(older, newer);
        Assert.True(judgement.IsConflict, $"not flagged: \"{older}\" / \"{newer}\" ({judgement.Reason})");
        Assert.Equal(verdict, judgement.VerdictName);
        Assert.Equal(confidence, judgement.Confidence);
        Assert.Equal(CurrentSide.Newer, judgement.Current);
        Assert.Equal("heuristic", judgement.Method);
        Assert.False(string.IsNullOrWhiteSpace(judgement.Reason));
    }

    public static TheoryData<string, string> MustNotFlag() => new()
    {
        { "Dana likes sushi", "Dana likes ramen" },                                   // liking is not single-valued
        { "Dana likes sushi", "Dana likes sushi and ramen" },                         // more detail
        { "Dana is allergic to peanuts", "Dana is allergic to peanuts and shellfish" },
        { "Dana flies out of Lisbon", "Dana flies out of Lisbon on Mondays" },
        { "Dana doesn't eat meat", "Dana doesn't eat fish" },                         // two denials
        { "Dana does not like sushi", "Dana doesn't like sushi" },                    // the same, reworded
        { "Dana prefers window seats", "dana prefers the window seats." },
        { "Dana plays tennis on Mondays", "Dana plays chess on Mondays" },
        { "Dana lives in Lisbon", "Bob lives in Porto" },                             // another subject
        { "Dana prefers window seats and likes Lisbon", "Dana prefers window seats and likes Porto" },
        { "Dana bought a red car", "Dana sold the blue bike" },
    };

    [Theory]
    [MemberData(nameof(MustNotFlag))]
    public void Compatible_AreNotFlagged(string older, string newer)
    {
        var judgement = Judge(older, newer);
        Assert.False(judgement.IsConflict, $"flagged: \"{older}\" / \"{newer}\" as {judgement.VerdictName} ({judgement.Reason})");
    }

    [Fact]
    public void Events_WithDifferentNumbers_AreNotAChangedValue()
    {
        Assert.False(Judge("Dana visited Paris in 2019", "Dana visited Paris in 2021", episodic: true).IsConflict);
        Assert.True(Judge("Dana has 2 kids", "Dana has 3 kids", episodic: false).IsConflict);
    }

    [Fact]
    public void Negation_IsCaughtInEpisodesToo()
    {
        Assert.True(Judge("Dana attended the offsite", "Dana did not attend the offsite", episodic: true).IsConflict);
    }

    [Fact]
    public void WithoutEntity_PronounsAndNamesStillMatchTheirOwnKind()
    {
        Assert.True(Judge("The build server runs on port 8080", "The build server runs on port 9090", entity: null).IsConflict);
        Assert.True(Judge("She lives in Lisbon", "She lives in Porto", entity: null).IsConflict);
    }

    [Theory]
    [InlineData("Dana doesn't like sushi", "NOT @subj like sushi")]
    [InlineData("Dana no longer lives in Lisbon", "NOT @subj live in lisbon")]
    [InlineData("Dana has moved to Porto", "@subj live in porto")]
    [InlineData("My favourite colour is blue", "@subj s favorite color be blue")]
    [InlineData("She's currently based in Berlin", "@subj live in berlin")]
    [InlineData("Dana won't fly on Fridays", "NOT @subj will fly on friday")]
    public void Normalizer_ReducesStatementsToComparableWords(string text, string expected) =>
        Assert.Equal(expected, StatementNormalizer.Normalize(text, "dana").ToString());
}
