using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace MemorySql.Embeddings.Builtin;

/// <summary>
/// The builtin model's feature extraction: tokens → stemmed unigrams, content-word bigrams and
/// character n-grams → signed feature hashing into the vector, with sub-linear term frequency
/// (1 + ln tf) per distinct feature, each feature group L2-normalised and weighted, the sum
/// L2-normalised. Pure and allocation-free except for pooled buffers on long texts.
/// </summary>
internal static class BuiltinFeaturizer
{
    private const byte KindUnigram = (byte)'U';
    private const byte KindBigram = (byte)'B';
    private const byte KindCharGram = (byte)'C';
    private const byte KindConcept = (byte)'W';
    private const int GroupUnigram = 0;
    private const int GroupBigram = 1;
    private const int GroupCharGram = 2;
    private const int GroupConcept = 3;
    private const int Groups = 4;
    private const int StackChars = 512;
    private const int StackSlots = 1024;

    // 1 + ln(tf) for tf = 0..15 as literals (libm's logf may differ by an ulp between platforms);
    // larger counts use the double-precision log, rounded.
    private static readonly float[] TermWeights =
    [
        0f, 1f, 1.6931472f, 2.0986123f, 2.3862944f, 2.609438f, 2.7917595f, 2.9459102f,
        3.0794415f, 3.1972246f, 3.3025851f, 3.3978953f, 3.4849067f, 3.5649493f, 3.6390574f, 3.7080503f,
    ];

    /// <summary>Writes the unit vector of <paramref name="text"/> into <paramref name="output"/>; false when the text has no tokens (empty or whitespace).</summary>
    [SkipLocalsInit]
    public static bool TryEmbed(ReadOnlySpan<char> text, BuiltinFeatureSpec spec, Span<float> output)
    {
        char[]? rentedChars = null;
        Token[]? rentedTokens = null;
        try
        {
            var tokenCapacity = TextNormalizer.MaxTokens(text.Length);
            Span<char> chars = text.Length * 2 <= StackChars
                ? stackalloc char[StackChars]
                : (rentedChars = ArrayPool<char>.Shared.Rent(text.Length * 2));
            Span<Token> tokens = tokenCapacity <= StackChars / 4
                ? stackalloc Token[StackChars / 4]
                : (rentedTokens = ArrayPool<Token>.Shared.Rent(tokenCapacity));
            var normalised = chars[..text.Length];
            var stems = chars.Slice(text.Length, text.Length);

            var tokenCount = TextNormalizer.Tokenize(text, normalised, tokens, spec.MaxTokenLength);
            if (tokenCount == 0) return false;
            tokens = tokens[..tokenCount];
            Featurize(normalised, stems, tokens, spec, output);
            return true;
        }
        finally
        {
            if (rentedChars is not null) ArrayPool<char>.Shared.Return(rentedChars);
            if (rentedTokens is not null) ArrayPool<Token>.Shared.Return(rentedTokens);
        }
    }

    [SkipLocalsInit]
    private static void Featurize(ReadOnlySpan<char> normalised, Span<char> stems, ReadOnlySpan<Token> tokens,
        BuiltinFeatureSpec spec, Span<float> output)
    {
        var dropStopwords = spec.DropStopwords && HasContentWord(normalised, tokens);
        var capacity = SlotCapacity(tokens, spec);
        ulong[]? rentedKeys = null;
        int[]? rentedCounts = null;
        float[]? rentedAccumulator = null;
        try
        {
            Span<ulong> keys = capacity <= StackSlots ? stackalloc ulong[StackSlots] : (rentedKeys = ArrayPool<ulong>.Shared.Rent(capacity));
            Span<int> counts = capacity <= StackSlots ? stackalloc int[StackSlots] : (rentedCounts = ArrayPool<int>.Shared.Rent(capacity));
            keys = keys[..capacity];
            counts = counts[..capacity];
            keys.Clear();
            var table = new FeatureTable(keys, counts);

            var dimension = output.Length;
            Span<float> accumulator = dimension * Groups <= Groups * 1024
                ? stackalloc float[Groups * 1024]
                : (rentedAccumulator = ArrayPool<float>.Shared.Rent(dimension * Groups));
            accumulator = accumulator[..(dimension * Groups)];
            accumulator.Clear();
            var concepts = spec.ConceptWeight > 0 ? WordNetConcepts.Instance : null;

            Span<char> padded = stackalloc char[spec.MaxCharGramWordLength + 2];
            var stemOffset = 0;
            var previous = 0UL;
            var hasPrevious = false;
            foreach (var token in tokens)
            {
                var word = normalised.Slice(token.Start, token.Length);
                if (dropStopwords && Stopwords.Contains(word)) continue;

                var stem = stems.Slice(stemOffset, word.Length);
                word.CopyTo(stem);
                if (spec.Stem && PorterStemmer.CanStem(stem)) stem = stem[..PorterStemmer.Stem(stem)];
                stemOffset += stem.Length;

                var unigram = FeatureHash.Of(KindUnigram, stem);
                table.Add(unigram, GroupUnigram);
                if (hasPrevious) table.Add(FeatureHash.Combine(KindBigram, previous, unigram), GroupBigram);
                previous = unigram;
                hasPrevious = true;

                if (!IsAllDigits(word)) AddCharGrams(ref table, word, padded, spec);
                if (concepts is not null && concepts.Lookup(word, out var own, out var lemma))
                {
                    AddConcepts(own, accumulator.Slice(GroupConcept * dimension, dimension));
                    AddConcepts(lemma, accumulator.Slice(GroupConcept * dimension, dimension));
                }
            }

            table.ScatterInto(accumulator, dimension);
            Combine(accumulator, spec, output);
        }
        finally
        {
            if (rentedKeys is not null) ArrayPool<ulong>.Shared.Return(rentedKeys);
            if (rentedCounts is not null) ArrayPool<int>.Shared.Return(rentedCounts);
            if (rentedAccumulator is not null) ArrayPool<float>.Shared.Return(rentedAccumulator);
        }
    }

    /// <summary>"&lt;word&gt;" cut into n-grams of the spec's lengths; a padded word shorter than the minimum is one feature.</summary>
    private static void AddCharGrams(ref FeatureTable table, ReadOnlySpan<char> word, Span<char> padded, BuiltinFeatureSpec spec)
    {
        var length = Math.Min(word.Length, spec.MaxCharGramWordLength);
        padded[0] = '<';
        word[..length].CopyTo(padded[1..]);
        padded[length + 1] = '>';
        var full = padded[..(length + 2)];
        if (full.Length < spec.MinCharGram)
        {
            table.Add(FeatureHash.Of(KindCharGram, full), GroupCharGram);
            return;
        }
        var maxN = Math.Min(spec.MaxCharGram, full.Length);
        for (var n = spec.MinCharGram; n <= maxN; n++)
            for (var start = 0; start + n <= full.Length; start++)
                table.Add(FeatureHash.Of(KindCharGram, full.Slice(start, n)), GroupCharGram);
    }

    /// <summary>Adds ±weight of each concept of one word to its bucket (bucket and sign from the concept's hash).</summary>
    private static void AddConcepts(ReadOnlySpan<Concept> concepts, Span<float> group)
    {
        foreach (var concept in concepts)
        {
            var key = FeatureHash.Finish(FeatureHash.Start(KindConcept) ^ ((ulong)(uint)concept.Id * 0x9E3779B97F4A7C15UL));
            var bucket = (int)(((key >> 32) * (ulong)group.Length) >> 32);
            group[bucket] += (key & 4) == 0 ? concept.Weight : -concept.Weight;
        }
    }

    /// <summary>Each non-empty group scaled to its weight over its own norm; the sum normalised to unit length.</summary>
    private static void Combine(ReadOnlySpan<float> accumulator, BuiltinFeatureSpec spec, Span<float> output)
    {
        var dimension = output.Length;
        output.Clear();
        Span<float> weights = [spec.UnigramWeight, spec.BigramWeight, spec.CharGramWeight, spec.ConceptWeight];
        for (var g = 0; g < Groups; g++)
        {
            var group = accumulator.Slice(g * dimension, dimension);
            var norm = VectorMath.Norm(group);
            if (norm > 0 && weights[g] > 0) VectorMath.AddScaled(output, group, weights[g] / norm);
        }
        if (!VectorMath.TryNormalize(output))
        {
            // Every feature cancelled out (signed hashing can, in theory): a fixed unit vector rather than zeros.
            output.Clear();
            output[0] = 1f;
        }
    }

    private static bool HasContentWord(ReadOnlySpan<char> normalised, ReadOnlySpan<Token> tokens)
    {
        foreach (var token in tokens)
            if (!Stopwords.Contains(normalised.Slice(token.Start, token.Length))) return true;
        return false;
    }

    private static bool IsAllDigits(ReadOnlySpan<char> word)
    {
        foreach (var c in word)
            if (!char.IsAsciiDigit(c)) return false;
        return true;
    }

    /// <summary>A power of two at least twice the number of features the tokens can produce.</summary>
    private static int SlotCapacity(ReadOnlySpan<Token> tokens, BuiltinFeatureSpec spec)
    {
        var features = 0;
        foreach (var token in tokens)
        {
            var padded = Math.Min(token.Length, spec.MaxCharGramWordLength) + 2;
            features += 2 + 1;
            for (var n = spec.MinCharGram; n <= spec.MaxCharGram; n++) features += Math.Max(0, padded - n + 1);
        }
        return (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, features * 2));
    }

    /// <summary>Open-addressing counts of distinct features; the group lives in the key's two low bits.</summary>
    private ref struct FeatureTable
    {
        private readonly Span<ulong> _keys;
        private readonly Span<int> _counts;
        private readonly int _mask;

        public FeatureTable(Span<ulong> keys, Span<int> counts)
        {
            _keys = keys;
            _counts = counts;
            _mask = keys.Length - 1;
        }

        public readonly void Add(ulong hash, int group)
        {
            var key = (hash & ~3UL) | (uint)group;
            if (key == 0) key = 4;
            var slot = (int)(key >> 3) & _mask;
            while (true)
            {
                var existing = _keys[slot];
                if (existing == key)
                {
                    _counts[slot]++;
                    return;
                }
                if (existing == 0)
                {
                    _keys[slot] = key;
                    _counts[slot] = 1;
                    return;
                }
                slot = (slot + 1) & _mask;
            }
        }

        /// <summary>Adds ±(1 + ln tf) of every feature to its group's bucket: bucket from the high 32 bits, sign from bit 2.</summary>
        public readonly void ScatterInto(Span<float> accumulator, int dimension)
        {
            for (var slot = 0; slot < _keys.Length; slot++)
            {
                var key = _keys[slot];
                if (key == 0) continue;
                var count = _counts[slot];
                var weight = count < TermWeights.Length ? TermWeights[count] : (float)(1d + Math.Log(count));
                var bucket = (int)(((key >> 32) * (ulong)dimension) >> 32);
                var group = (int)(key & 3);
                accumulator[group * dimension + bucket] += (key & 4) == 0 ? weight : -weight;
            }
        }
    }
}
