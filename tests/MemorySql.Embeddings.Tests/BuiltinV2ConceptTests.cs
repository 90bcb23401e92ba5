using MemorySql.Embeddings.Builtin;

namespace MemorySql.Embeddings.Tests;

/// <summary>builtin-v2: v1's lexical features plus WordNet concepts, so related words that share no letters meet.</summary>
public sealed class BuiltinV2ConceptTests
{
    private readonly BuiltinEmbeddingProvider _v2 = new(BuiltinModels.V2, BuiltinEmbeddingProvider.DefaultDimension);
    private readonly BuiltinEmbeddingProvider _v1 = new(BuiltinModels.V1, BuiltinEmbeddingProvider.DefaultDimension);

    private static float Cosine(float[] a, float[] b)
    {
        var dot = 0f;
        for (var i = 0; i < a.Length; i++) dot += a[i] * b[i];
        return dot;
    }

    [Theory]
    [InlineData("car", "automobile", "banana")]
    [InlineData("window seat", "seat by the window", "tax return")]
    [InlineData("she paints landscapes", "her painting of a lake", "the quarterly budget")]
    [InlineData("I chose the agency", "why did she choose it", "the river flooded")]
    [InlineData("a big dog", "a large puppy", "a tiny receipt")]
    public void Synonyms_AreCloserThanUnrelatedWords(string word, string related, string unrelated)
    {
        var a = _v2.Embed(word);
        Assert.True(Cosine(a, _v2.Embed(related)) > Cosine(a, _v2.Embed(unrelated)),
            $"cos({word}, {related}) = {Cosine(a, _v2.Embed(related))} should exceed cos({word}, {unrelated}) = {Cosine(a, _v2.Embed(unrelated))}");
    }

    [Fact]
    public void Synonyms_ShareNothingInV1_AndMeetInV2()
    {
        Assert.True(Cosine(_v1.Embed("car"), _v1.Embed("automobile")) < 0.2f);
        Assert.True(Cosine(_v2.Embed("car"), _v2.Embed("automobile")) > 0.3f);
    }

    [Fact]
    public void V2_IsDeterministicAcrossInstances()
    {
        var other = new BuiltinEmbeddingProvider(BuiltinModels.V2, BuiltinEmbeddingProvider.DefaultDimension);
        Assert.Equal(_v2.Embed("Dana prefers window seats and flies out of Lisbon."), other.Embed("Dana prefers window seats and flies out of Lisbon."));
    }

    [Fact]
    public void V2_NamesItsModelAndDimension()
    {
        Assert.Equal("builtin-v2", _v2.Model);
        Assert.Equal("builtin-v2-d256", new BuiltinEmbeddingProvider(BuiltinModels.V2, 256).Model);
        Assert.Same(BuiltinModels.V2, BuiltinModels.Find("builtin-v2"));
    }

    [Fact]
    public void V2_TextsWithoutEnglishWords_StillGetAUnitVector()
    {
        var vector = _v2.Embed("東京に行きたい 12345");
        Assert.Equal(1f, MathF.Sqrt(Cosine(vector, vector)), 3);
    }

    [Theory]
    [InlineData("chose", "choose")]
    [InlineData("mice", "mouse")]
    [InlineData("paintings", "painting")]
    [InlineData("tried", "try")]
    [InlineData("running", "run")]
    [InlineData("made", "make")]
    public void ConceptTable_FindsInflectedForms(string form, string lemma)
    {
        var concepts = WordNetConcepts.Instance;
        Assert.True(concepts.Words > 50_000);
        Assert.True(concepts.Lookup(form, out _, out var fromLemma));
        Assert.True(concepts.Lookup(lemma, out var lemmaOwn, out _));
        Assert.Contains(lemmaOwn[0], fromLemma.ToArray());
    }

    [Fact]
    public void ConceptTable_UnknownWord_HasNoConcepts() => Assert.False(WordNetConcepts.Instance.Lookup("qzxv", out _, out _));
}
