using MemorySql.Workers.Extraction;

namespace MemorySql.Workers.Tests;

public sealed class HeuristicExtractorTests
{
    private static Conversation Chat(string? entity, params (string Role, string Content)[] messages) =>
        Conversation.Parse(Guid.NewGuid(), "ws", entity, null, null, "conversation",
            System.Text.Json.JsonSerializer.Serialize(messages.Select(m => new Dictionary<string, string> { ["role"] = m.Role, ["content"] = m.Content })), "{}");

    [Theory]
    [InlineData("I'm allergic to peanuts.", "Dana is allergic to peanuts.", "preference")]
    [InlineData("I usually fly out of Lisbon", "Dana usually flies out of Lisbon.", "fact")]
    [InlineData("I really like window seats!", "Dana really likes window seats.", "preference")]
    [InlineData("I don't eat meat.", "Dana doesn't eat meat.", "fact")]
    [InlineData("I have two cats and my sister has a dog.", "Dana has two cats and Dana's sister has a dog.", "fact")]
    [InlineData("I moved to Porto last month.", "Dana moved to Porto last month.", "event")]
    [InlineData("I went to Japan two years ago", "Dana went to Japan two years ago.", "event")]
    [InlineData("I'm going to visit my parents next week.", "Dana is going to visit Dana's parents next week.", "plan")]
    [InlineData("I'll start the new job on Monday.", "Dana will start the new job on Monday.", "plan")]
    [InlineData("I'd like an aisle seat next time.", "Dana would like an aisle seat next time.", "plan")]
    [InlineData("My favorite food is sushi.", "Dana's favorite food is sushi.", "preference")]
    [InlineData("I work as a nurse at the city hospital.", "Dana works as a nurse at the city hospital.", "fact")]
    [InlineData("i hate flying early in the morning", "Dana hates flying early in the morning.", "preference")]
    [InlineData("Well, I live in Berlin now.", "Dana lives in Berlin now.", "fact")]
    [InlineData("Please remember that I'm vegetarian.", "Dana is vegetarian.", "preference")]
    [InlineData("Remind me to call my mom tomorrow.", "Dana needs to call Dana's mom tomorrow.", "plan")]
    [InlineData("We adopted a puppy last year.", "Dana: We adopted a puppy last year.", "event")]
    public void FirstPersonStatements_BecomeThirdPersonMemories(string sentence, string expected, string kind)
    {
        var statement = HeuristicExtractor.Statement(sentence, "Dana");
        Assert.NotNull(statement);
        Assert.Equal(expected, statement.Value.Content);
        Assert.Equal(kind, statement.Value.Kind);
    }

    [Theory]
    [InlineData("Hi there!")]
    [InlineData("Thanks so much!")]
    [InlineData("Where should I sit?")]
    [InlineData("Can you book me a flight to Oslo?")]
    [InlineData("Please find a hotel near the station.")]
    [InlineData("I see.")]
    [InlineData("I'm not sure.")]
    [InlineData("Sounds good, thanks.")]
    [InlineData("I agree with you")]
    [InlineData("The weather is nice today.")]
    [InlineData("Let me know when it's done.")]
    [InlineData("I'll do it.")]
    public void SmallTalkQuestionsRequestsAndThirdPartyRemarks_AreDropped(string sentence) =>
        Assert.Null(HeuristicExtractor.Statement(sentence, "Dana"));

    [Fact]
    public void WithoutAName_TheSpeakerIsTheUser() =>
        Assert.Equal("The user prefers tea over coffee.", HeuristicExtractor.Statement("I prefer tea over coffee.", null)!.Value.Content);

    [Fact]
    public void Extract_TakesOnlyPeoplesMessages_SplitsSentences_AndAttributesThem()
    {
        var conversation = Chat("dana",
            ("user", "Hi! I moved to Porto last month. Can you update my address? Dr. Silva is my new doctor and I like her."),
            ("assistant", "I have updated your profile. I love helping!"),
            ("system", "I am a system prompt."));
        var items = HeuristicExtractor.Extract(conversation);
        Assert.Equal(new[] { "Dana moved to Porto last month.", "Dr. Silva is Dana's new doctor and Dana likes her." }, items.Select(i => i.Content).ToArray());
        Assert.All(items, i => Assert.Equal("dana", i.Entity));
        Assert.All(items, i => Assert.Equal(1, i.Message));
        Assert.Equal("event", items[0].Kind);
        Assert.Equal("episodic", items[0].Type);
        Assert.Equal("semantic", items[1].Type);
    }

    [Fact]
    public void Extract_NamedSpeakers_AreTheirOwnEntities_AndTimestampsBecomeValidFrom()
    {
        var conversation = Conversation.Parse(Guid.NewGuid(), "ws", "caroline", null, null, "conversation", """
            [{"role": "user", "name": "Caroline", "content": "I went to a support group yesterday.", "timestamp": "2023-05-08T13:56:00Z"},
             {"role": "user", "name": "Melanie", "content": "I painted a sunrise last week.", "timestamp": 1683554160}]
            """, "{}");
        var items = HeuristicExtractor.Extract(conversation);
        Assert.Equal(2, items.Count);
        Assert.Equal(("caroline", "Caroline went to a support group yesterday."), (items[0].Entity, items[0].Content));
        Assert.Equal(("Melanie", "Melanie painted a sunrise last week."), (items[1].Entity, items[1].Content));
        Assert.Equal(new DateTimeOffset(2023, 5, 8, 13, 56, 0, TimeSpan.Zero), items[0].ValidFrom);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1683554160), items[1].ValidFrom);
    }

    [Fact]
    public void Extract_RepeatedStatements_AreKeptOnce()
    {
        var items = HeuristicExtractor.Extract(Chat("kim", ("user", "I love jazz."), ("user", "I love jazz!")));
        Assert.Single(items);
    }

    [Theory]
    [InlineData("I live in Lisbon and I work as a nurse.", new[] { "Dana lives in Lisbon.", "Dana works as a nurse." })]
    [InlineData("I moved to Porto, but I'm still working remotely!", new[] { "Dana moved to Porto.", "Dana is still working remotely." })]
    [InlineData("I have two cats and my sister has a dog.", new[] { "Dana has two cats and Dana's sister has a dog." })]
    [InlineData("I like tea and coffee.", new[] { "Dana likes tea and coffee." })]
    [InlineData("Dr. Silva is my new doctor and I like her.", new[] { "Dr. Silva is Dana's new doctor and Dana likes her." })]
    public void Extract_ClausesWithTheirOwnFirstPersonSubject_BecomeSeparateFacts(string message, string[] expected)
    {
        var items = HeuristicExtractor.Extract(Chat("dana", ("user", message)));
        Assert.Equal(expected, items.Select(i => i.Content).ToArray());
    }

    [Fact]
    public void Extract_SessionResources_KeepEveryItemAsCommitted()
    {
        var conversation = Conversation.Parse(Guid.NewGuid(), "ws", "dana", "agent", Guid.NewGuid(), "session", """
            [{"role": "note", "key": "seat", "content": "Dana asked for an aisle seat to Oslo"},
             {"role": "note", "key": "budget", "content": "budget: {\"max_eur\": 400}"}]
            """, """{"session_commit": {"type": "episodic", "kind": "travel", "importance": 0.7, "tags": ["trip"]}}""");
        var items = HeuristicExtractor.Extract(conversation);
        Assert.Equal(new[] { "Dana asked for an aisle seat to Oslo", "budget: {\"max_eur\": 400}" }, items.Select(i => i.Content).ToArray());
        Assert.All(items, i => Assert.Equal(("travel", "episodic", 0.7f, "dana"), (i.Kind, i.Type, i.Importance!.Value, i.Entity!)));
        Assert.Equal("seat", items[0].SessionKey);
        Assert.Equal(new[] { "trip" }, items[0].Tags);
    }

    [Fact]
    public void Sentences_SplitAtTerminators_NotAtAbbreviationsOrDecimals()
    {
        Assert.Equal(new[] { "I met Dr. Smith at 3 p.m. today.", "It cost 2.5 euros!", "Really?" },
            SentenceSplitter.Split("I met Dr. Smith at 3 p.m. today. It cost 2.5 euros! Really?"));
        Assert.Equal(new[] { "First line", "Second line." }, SentenceSplitter.Split("First line\n- Second line."));
    }
}
