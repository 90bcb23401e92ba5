namespace MemorySql.Benchmarks;

/// <summary>Deterministic memory-like sentences of about ten words, the shape of what agents store.</summary>
internal static class SampleTexts
{
    private static readonly string[] Subjects =
        ["Dana", "The user", "Sam", "Our team", "Alex", "The customer", "Maria", "The agent", "Priya", "Tom"];
    private static readonly string[] Verbs =
        ["prefers", "booked", "asked about", "dislikes", "is planning", "mentioned", "ordered", "cancelled", "recommended", "forgot"];
    private static readonly string[] Objects =
        ["window seats on long flights", "a vegetarian meal for the conference", "the quarterly budget review",
         "early morning meetings with the design team", "Italian restaurants near the office", "a refund for the broken laptop",
         "hiking trips in the Swiss Alps", "the new onboarding checklist", "jazz concerts on Friday evenings",
         "two tickets to Lisbon in September", "the database migration next Tuesday", "dark roast coffee without sugar"];
    private static readonly string[] Tails =
        ["again", "last week", "because of the delays", "according to the notes", "after the call", "for the third time", "", "yesterday"];

    public static string[] Create(int count, int seed = 42)
    {
        var random = new Random(seed);
        var texts = new string[count];
        for (var i = 0; i < count; i++)
        {
            var tail = Tails[random.Next(Tails.Length)];
            texts[i] = $"{Subjects[random.Next(Subjects.Length)]} {Verbs[random.Next(Verbs.Length)]} {Objects[random.Next(Objects.Length)]}{(tail.Length > 0 ? " " + tail : "")} (note {i})";
        }
        return texts;
    }
}
