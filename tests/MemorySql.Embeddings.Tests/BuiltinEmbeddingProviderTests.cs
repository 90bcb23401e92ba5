using System.Globalization;
using MemorySql.Embeddings.Builtin;

namespace MemorySql.Embeddings.Tests;

public sealed class BuiltinEmbeddingProviderTests
{
    private readonly BuiltinEmbeddingProvider _provider = new();

    private float[] Embed(string text) => _provider.Embed(text);

    private static float Cosine(float[] a, float[] b)
    {
        var dot = 0f;
        for (var i = 0; i < a.Length; i++) dot += a[i] * b[i];
        return dot;
    }

    [Fact]
    public void Defaults_AreBuiltinV2With384Dimensions()
    {
        Assert.Equal("builtin-v2", _provider.Model);
        Assert.Equal(384, _provider.Dimension);
    }

    [Theory]
    [InlineData(256, "builtin-v2-d256")]
    [InlineData(1024, "builtin-v2-d1024")]
    public void NonDefaultDimension_IsPartOfTheModelName(int dimension, string model)
    {
        var provider = new BuiltinEmbeddingProvider(dimension);
        Assert.Equal(model, provider.Model);
        Assert.Equal(dimension, provider.Embed("hello world").Length);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(31)]
    [InlineData(2001)]
    public void Dimension_OutOfRange_IsRejected(int dimension) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new BuiltinEmbeddingProvider(dimension));

    [Theory]
    [InlineData("Dana prefers window seats and flies out of Lisbon")]
    [InlineData("x")]
    [InlineData("the of and")]
    [InlineData("👍")]
    [InlineData("東京に行きたい")]
    public void Embed_ReturnsUnitVector(string text)
    {
        var vector = Embed(text);
        Assert.Equal(384, vector.Length);
        Assert.All(vector, v => Assert.True(float.IsFinite(v)));
        Assert.Equal(1.0, Math.Sqrt(vector.Sum(v => (double)v * v)), 5);
    }

    [Fact]
    public void Embed_IsDeterministicAcrossInstances() =>
        Assert.Equal(Embed("Dana prefers window seats"), new BuiltinEmbeddingProvider().Embed("Dana prefers window seats"));

    [Fact]
    public void Embed_IgnoresCaseAndPunctuation() =>
        Assert.Equal(Embed("hello world"), Embed("Hello, WORLD!!!"));

    [Fact]
    public void Embed_MatchesWordFormsThroughStemming()
    {
        var query = Embed("running shoes");
        Assert.True(Cosine(query, Embed("she runs in her new shoe")) > Cosine(query, Embed("he bakes bread on sunday")));
    }

    [Fact]
    public void Embed_RanksTheRelatedMemoryFirst()
    {
        string[] memories =
        [
            "Dana prefers window seats and flies out of Lisbon",
            "The quarterly budget review moved to Thursday",
            "Sam is allergic to peanuts",
            "The office coffee machine is broken again",
        ];
        var query = Embed("which seat does Dana prefer on flights?");
        var best = memories.OrderByDescending(m => Cosine(query, Embed(m))).First();
        Assert.Equal(memories[0], best);
    }

    [Fact]
    public void Embed_UnrelatedTextsAreNearlyOrthogonal() =>
        Assert.InRange(Cosine(Embed("Sam is allergic to peanuts"), Embed("quarterly budget review moved")), -0.2f, 0.2f);

    [Fact]
    public void Embed_CharacterNGramsToleratesTypos()
    {
        var query = Embed("restaurant reservation");
        Assert.True(Cosine(query, Embed("resturant reservaton")) > Cosine(query, Embed("garden hose")) + 0.2f);
    }

    [Fact]
    public void Embed_WordOrderMattersThroughBigrams()
    {
        var a = Embed("dog bites man");
        Assert.NotEqual(a, Embed("man bites dog"));
        Assert.True(Cosine(a, Embed("man bites dog")) > 0.5f);
    }

    [Fact]
    public void Embed_LongTextUsesPooledBuffersAndStaysDeterministic()
    {
        var text = string.Join(' ', Enumerable.Range(0, 5000).Select(i => "word" + (i % 700).ToString(CultureInfo.InvariantCulture)));
        Assert.Equal(Embed(text), Embed(text));
        Assert.Equal(1.0, Math.Sqrt(Embed(text).Sum(v => (double)v * v)), 5);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("\t\r\n")]
    public async Task EmbedAsync_EmptyOrWhitespace_FailsClearlyAndNotTransient(string text)
    {
        var error = await Assert.ThrowsAsync<EmbeddingException>(async () => await _provider.EmbedAsync(["fine", text], CancellationToken.None));
        Assert.False(error.IsTransient);
        Assert.Equal("builtin-v2", error.Model);
        Assert.Contains("text 1", error.Message, StringComparison.Ordinal);
        Assert.Contains("whitespace", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Embed_Whitespace_Throws() =>
        Assert.Throws<EmbeddingException>(() => _provider.Embed("  "));

    [Fact]
    public async Task EmbedAsync_ReturnsOneVectorPerTextInOrder()
    {
        string[] texts = ["alpha beta", "gamma delta", "alpha beta"];
        var vectors = await _provider.EmbedAsync(texts, CancellationToken.None);
        Assert.Equal(3, vectors.Length);
        Assert.Equal(Embed("alpha beta"), vectors[0]);
        Assert.Equal(Embed("gamma delta"), vectors[1]);
        Assert.Equal(vectors[0], vectors[2]);
    }

    [Fact]
    public async Task EmbedAsync_CancelledToken_Throws()
    {
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await _provider.EmbedAsync(["a"], cts.Token));
    }

    [Fact]
    public void Embed_IsThreadSafe()
    {
        var texts = Enumerable.Range(0, 2000).Select(i => $"memory number {i} about topic {i % 17}").ToArray();
        var expected = texts.Select(Embed).ToArray();
        var actual = new float[texts.Length][];
        Parallel.For(0, texts.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i => actual[i] = _provider.Embed(texts[i]));
        for (var i = 0; i < texts.Length; i++) Assert.Equal(expected[i], actual[i]);
    }

    [Fact]
    public void Embed_DestinationOfWrongLength_IsRejected() =>
        Assert.Throws<ArgumentException>(() => _provider.Embed("hello", new float[10]));

    /// <summary>
    /// Pins builtin-v1's output. Stored vectors must keep matching new ones, so if this fails the features
    /// changed: publish the change as a new spec and model name (builtin-v2) instead of editing v1.
    /// </summary>
    [Fact]
    public void BuiltinV1_OutputIsPinned()
    {
        var vector = new BuiltinEmbeddingProvider(BuiltinModels.V1, BuiltinEmbeddingProvider.DefaultDimension).Embed("Dana prefers window seats and flies out of Lisbon.");
        // Four decimals: immune to a last-bit difference, sensitive to any change of features or weights.
        var rounded = string.Join(',', vector.Select(v => v.ToString("F4", CultureInfo.InvariantCulture)));
        var digest = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(rounded)));
        Assert.Equal(PinnedNonZero, vector.Count(v => v != 0));
        Assert.Equal(PinnedDigest, digest);
    }

    /// <summary>Pins builtin-v2's output the same way (its features include the WordNet concept table).</summary>
    [Fact]
    public void BuiltinV2_OutputIsPinned()
    {
        var vector = Embed("Dana prefers window seats and flies out of Lisbon.");
        var rounded = string.Join(',', vector.Select(v => v.ToString("F4", CultureInfo.InvariantCulture)));
        var digest = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(rounded)));
        Assert.Equal(PinnedV2NonZero, vector.Count(v => v != 0));
        Assert.True(PinnedV2Digest == digest, $"builtin-v2's output changed (digest {digest})");
    }

    private const int PinnedV2NonZero = 124;
    private const string PinnedV2Digest = "FFA6A474133E126B612C404890ECF788C68CBC6B457B9C7B0ED4F629E4157AC1";

    private const int PinnedNonZero = 80;
    private const string PinnedDigest = "51C22DC9D3FA56678B52AE8D19E87421A6C458052CD060925654AD011912D369";

    [Fact]
    public void BuiltinModels_FindsPublishedSpecsByName()
    {
        Assert.Same(BuiltinModels.V1, BuiltinModels.Find("builtin-v1"));
        Assert.Same(BuiltinModels.V2, BuiltinModels.Find("BUILTIN-V2"));
        Assert.Null(BuiltinModels.Find("builtin-v9"));
    }
}
