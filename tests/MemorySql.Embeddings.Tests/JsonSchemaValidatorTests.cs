using System.Text.Json;
using MemorySql.Embeddings.Llm;

namespace MemorySql.Embeddings.Tests;

public sealed class JsonSchemaValidatorTests
{
    private const string Schema = """
        {
          "type": "object",
          "properties": {
            "answer": { "type": "string", "minLength": 1 },
            "cited": { "type": "array", "items": { "type": "integer", "enum": [1, 2, 3] }, "maxItems": 3 },
            "confidence": { "type": "number", "minimum": 0, "maximum": 1 },
            "note": { "type": ["string", "null"] }
          },
          "required": ["answer", "cited"],
          "additionalProperties": false
        }
        """;

    private static IReadOnlyList<string> Errors(string json) =>
        JsonSchemaValidator.Validate(JsonDocument.Parse(json).RootElement, JsonDocument.Parse(Schema).RootElement);

    [Fact]
    public void AMatchingValue_HasNoErrors() =>
        Assert.Empty(Errors("""{"answer": "yes", "cited": [1, 3], "confidence": 0.5, "note": null}"""));

    [Theory]
    [InlineData("""{"cited": []}""", "$: the property \"answer\" is required")]
    [InlineData("""{"answer": "a", "cited": [], "extra": 1}""", "$: the property \"extra\" is not allowed (allowed: answer, cited, confidence, note)")]
    [InlineData("""{"answer": 5, "cited": []}""", "$.answer: expected string, got a number")]
    [InlineData("""{"answer": "a", "cited": [4]}""", "$.cited[0]: 4 is not one of 1, 2, 3")]
    [InlineData("""{"answer": "a", "cited": [1.5]}""", "$.cited[0]: expected integer, got a number")]
    [InlineData("""{"answer": "a", "cited": [1, 2, 3, 1]}""", "$.cited: has 4 items, at most 3 allowed")]
    [InlineData("""{"answer": "", "cited": []}""", "$.answer: is 0 characters long, at least 1 required")]
    [InlineData("""{"answer": "a", "cited": [], "confidence": 2}""", "$.confidence: 2 is above the maximum 1")]
    [InlineData("""{"answer": "a", "cited": [], "note": 3}""", "$.note: expected string or null, got a number")]
    [InlineData("""[1]""", "$: expected object, got an array")]
    public void Mismatches_AreNamedByTheirPath(string json, string expected) => Assert.Contains(expected, Errors(json));

    [Fact]
    public void ManyErrors_AreCappedForTheRepairPrompt()
    {
        var many = "{\"answer\": \"a\", \"cited\": [" + string.Join(",", Enumerable.Repeat("9", 50)) + "]}";
        Assert.Equal(JsonSchemaValidator.MaxErrors, Errors(many).Count);
    }
}
