using MemorySql.Embeddings.Llm;

namespace MemorySql.Embeddings.Tests;

public sealed class JsonExtractorTests
{
    [Theory]
    [InlineData("""{"a": 1}""")]
    [InlineData("  \n{\"a\": 1}\n")]
    [InlineData("Here is the JSON you asked for:\n```json\n{\"a\": 1}\n```\nHope it helps!")]
    [InlineData("```\n{\"a\": 1}\n```")]
    [InlineData("Sure! {\"a\": 1} is my answer.")]
    [InlineData("<think>The user wants {json}. Let me think about [it].</think>\n{\"a\": 1}")]
    [InlineData("{\"a\": 1,}")]
    [InlineData("{\"a\": 1 /* one */}")]
    public void FindsTheJsonHoweverItIsWrapped(string answer)
    {
        var json = JsonExtractor.Extract(answer, out var problem);
        Assert.Null(problem);
        Assert.Equal(1, json!.Value.GetProperty("a").GetInt32());
    }

    [Fact]
    public void BracesInsideStrings_DoNotConfuseTheScan()
    {
        var json = JsonExtractor.Extract("Answer: {\"text\": \"a } and { b\", \"n\": [1, \"]\"]} done", out _);
        Assert.Equal("a } and { b", json!.Value.GetProperty("text").GetString());
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("<think>only thinking</think>", "empty")]
    [InlineData("I cannot answer that.", "not valid JSON")]
    [InlineData("{\"a\": ", "not valid JSON")]
    public void NoJson_SaysWhy(string answer, string expected)
    {
        Assert.Null(JsonExtractor.Extract(answer, out var problem));
        Assert.Contains(expected, problem, StringComparison.Ordinal);
    }

    [Fact]
    public void StripReasoning_RemovesThinkBlocks_EvenUnclosed() =>
        Assert.Equal("", JsonExtractor.StripReasoning("<think>never finished"));
}
