using MemorySql.Embeddings.Builtin;

namespace MemorySql.Embeddings.Tests;

public sealed class TextNormalizerTests
{
    private static string[] Tokens(string text, int maxTokenLength = 48)
    {
        var buffer = new char[text.Length];
        var tokens = new Token[TextNormalizer.MaxTokens(text.Length)];
        var count = TextNormalizer.Tokenize(text, buffer, tokens, maxTokenLength);
        return tokens[..count].Select(t => new string(buffer, t.Start, t.Length)).ToArray();
    }

    [Fact]
    public void Tokenize_LowerCasesAndStripsPunctuation() =>
        Assert.Equal(["hello", "world", "it", "works", "42"], Tokens("Hello, World! It works (42)."));

    [Fact]
    public void Tokenize_LowerCasesBeyondAscii() =>
        Assert.Equal(["straße", "σοφία", "москва"], Tokens("STRAßE ΣΟΦΊΑ МОСКВА"));

    [Fact]
    public void Tokenize_FoldsLatinDiacritics() =>
        Assert.Equal(["cafe", "creme", "brulee", "zurich", "lodz", "istanbul"], Tokens("Café crème BRÛLÉE Zürich Łódź İstanbul"));

    [Fact]
    public void Tokenize_FoldsDecomposedAccentsLikeComposedOnes() =>
        Assert.Equal(Tokens("café"), Tokens("cafe\u0301"));

    [Fact]
    public void Tokenize_DropsPossessiveAndJoinsElisions() =>
        Assert.Equal(["dana", "car", "dont", "go", "rock", "n", "roll"], Tokens("Dana's car: don’t go, rock 'n' roll"));

    [Fact]
    public void Tokenize_SplitsHyphensAndKeepsDigitsInWords() =>
        Assert.Equal(["state", "of", "the", "art", "gpt4", "v2"], Tokens("state-of-the-art GPT4 v2"));

    [Fact]
    public void Tokenize_KeepsCjkAndAstralLetters() =>
        Assert.Equal(["東京に行きたい", "𝒜bc"], Tokens("東京に行きたい。 𝒜bc"));

    [Fact]
    public void Tokenize_TextWithoutLettersFallsBackToWhitespaceRuns() =>
        Assert.Equal(["👍👍", "?!"], Tokens("👍👍  ?!"));

    [Fact]
    public void Tokenize_CutsLongTokens() =>
        Assert.Equal(["abcd", "xy"], Tokens("abcdefgh xy", maxTokenLength: 4));

    [Theory]
    [InlineData("")]
    [InlineData("   \t\n ")]
    public void Tokenize_WhitespaceGivesNoTokens(string text) => Assert.Empty(Tokens(text));
}
