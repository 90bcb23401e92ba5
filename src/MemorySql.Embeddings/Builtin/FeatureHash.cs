using System.Runtime.CompilerServices;
using System.Text;

namespace MemorySql.Embeddings.Builtin;

/// <summary>
/// The stable 64-bit hash behind the feature hashing: FNV-1a over the UTF-8 bytes of the text, seeded
/// per feature kind, finished with MurmurHash3's fmix64 so every output bit depends on every input bit.
/// Defined on UTF-8 bytes (not .NET's UTF-16 or string.GetHashCode, which is randomised per process),
/// so vectors are identical across runs, machines and runtimes.
/// </summary>
internal static class FeatureHash
{
    private const ulong OffsetBasis = 14695981039346656037UL;
    private const ulong Prime = 1099511628211UL;

    /// <summary>A fresh hash state for one feature of the given kind.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Start(byte kind) => (OffsetBasis ^ kind) * Prime;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong AddByte(ulong state, byte value) => (state ^ value) * Prime;

    /// <summary>Feeds the UTF-8 encoding of <paramref name="text"/>; an unpaired surrogate counts as U+FFFD.</summary>
    public static ulong AddChars(ulong state, ReadOnlySpan<char> text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c < 0x80)
            {
                state = (state ^ c) * Prime;
                continue;
            }
            Rune rune;
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                rune = new Rune(c, text[i + 1]);
                i++;
            }
            else if (char.IsSurrogate(c))
            {
                rune = Rune.ReplacementChar;
            }
            else
            {
                rune = new Rune(c);
            }
            state = AddRune(state, rune.Value);
        }
        return state;
    }

    /// <summary>Feeds the UTF-8 bytes of one non-ASCII scalar value.</summary>
    private static ulong AddRune(ulong state, int value)
    {
        if (value < 0x800)
        {
            state = (state ^ (uint)(0xC0 | (value >> 6))) * Prime;
        }
        else
        {
            if (value < 0x10000)
            {
                state = (state ^ (uint)(0xE0 | (value >> 12))) * Prime;
            }
            else
            {
                state = (state ^ (uint)(0xF0 | (value >> 18))) * Prime;
                state = (state ^ (uint)(0x80 | ((value >> 12) & 0x3F))) * Prime;
            }
            state = (state ^ (uint)(0x80 | ((value >> 6) & 0x3F))) * Prime;
        }
        return (state ^ (uint)(0x80 | (value & 0x3F))) * Prime;
    }

    /// <summary>Combines two finished hashes into a feature for the pair (order matters).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Combine(byte kind, ulong first, ulong second) =>
        Finish((Start(kind) ^ first) * Prime ^ (second * 0x9E3779B97F4A7C15UL));

    /// <summary>MurmurHash3's 64-bit finaliser.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Finish(ulong h)
    {
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdUL;
        h ^= h >> 33;
        h *= 0xc4ceb9fe1a85ec53UL;
        h ^= h >> 33;
        return h;
    }

    /// <summary>Hash of a whole string of one kind, finished.</summary>
    public static ulong Of(byte kind, ReadOnlySpan<char> text) => Finish(AddChars(Start(kind), text));
}
