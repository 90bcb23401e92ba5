using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MemorySql.Rewrite;

/// <summary>
/// A cheap test on the raw UTF-8 bytes of a Query or Parse payload: can this SQL contain a call of a memory
/// routine? False positives only cost a lex; a false negative would lose an embedding, so every way of
/// writing a call answers true: the name (any case, optionally between double quotes) not inside a longer
/// identifier, then optional whitespace, then <c>(</c> or the start of a comment; and any <c>U&amp;"</c>
/// (a quoted identifier with Unicode escapes may spell the name).
/// </summary>
/// <remarks>
/// The scan looks for the names' first two bytes, folded to lower case, 16 or 32 positions at a time, and only
/// confirms a candidate with scalar code. It allocates nothing.
/// </remarks>
public sealed class MemoryCallPrefilter
{
    private const byte CaseBit = 0x20;

    // '&' and '"' already have the case bit set, so folding leaves the anchor of U&" unchanged.
    private const byte UnicodeAnchorFirst = (byte)'&';
    private const byte UnicodeAnchorSecond = (byte)'"';

    private readonly byte[][] _names;
    private readonly int _shortestName;

    // Anchor groups: the folded first two bytes of some names, and the folded third bytes those names can
    // have (none when a two-letter name belongs to the group, so the group then has no third-byte filter).
    private readonly byte[] _anchorFirst;
    private readonly byte[] _anchorSecond;
    private readonly byte[][] _anchorThird;

    /// <summary>The default routines: recall, remember, revise, reflect.</summary>
    public static MemoryCallPrefilter Default { get; } = new(RewriteOptions.Default.Functions.Select(f => f.Name));

    /// <param name="functionNames">Lower-case ASCII identifiers of at least two characters.</param>
    public MemoryCallPrefilter(IEnumerable<string> functionNames)
    {
        ArgumentNullException.ThrowIfNull(functionNames);
        var names = functionNames.Distinct(StringComparer.Ordinal).ToArray();
        if (names.Length == 0) throw new ArgumentException("The prefilter needs at least one function name.", nameof(functionNames));
        foreach (var name in names)
        {
            if (name is null || name.Length < 2 || name.Any(c => c is not ((>= 'a' and <= 'z') or (>= '0' and <= '9') or '_' or '$')))
                throw new ArgumentException($"'{name}' is not a lower-case ASCII identifier of at least two characters.", nameof(functionNames));
        }
        _names = [.. names.Select(n => n.Select(c => (byte)c).ToArray())];
        _shortestName = names.Min(n => n.Length);
        var groups = names.GroupBy(n => ((byte)(n[0] | CaseBit), (byte)(n[1] | CaseBit))).ToArray();
        _anchorFirst = [.. groups.Select(g => g.Key.Item1), UnicodeAnchorFirst];
        _anchorSecond = [.. groups.Select(g => g.Key.Item2), UnicodeAnchorSecond];
        _anchorThird =
        [
            .. groups.Select(g => g.Any(n => n.Length < 3) ? [] : g.Select(n => (byte)(n[2] | CaseBit)).Distinct().ToArray()),
            [],
        ];
    }

    /// <summary>True when the SQL may call a memory routine and must be lexed; false when it certainly does not.</summary>
    public bool MightContainCall(ReadOnlySpan<byte> utf8Sql)
    {
        // The shortest text that can matter is a name and "(", or U&" and one character.
        if (utf8Sql.Length <= Math.Min(_shortestName, 3)) return false;
        // Each vector step reads the bytes at i, i+1 and i+2 for Count positions.
        if (Vector256.IsHardwareAccelerated && utf8Sql.Length >= Vector256<byte>.Count + 2) return ScanVector256(utf8Sql);
        if (Vector128.IsHardwareAccelerated && utf8Sql.Length >= Vector128<byte>.Count + 2) return ScanVector128(utf8Sql);
        return ScanScalar(utf8Sql);
    }

    private bool ScanScalar(ReadOnlySpan<byte> sql)
    {
        for (var i = 0; i < sql.Length - 1; i++)
        {
            var a = (byte)(sql[i] | CaseBit);
            var b = (byte)(sql[i + 1] | CaseBit);
            for (var k = 0; k < _anchorFirst.Length; k++)
            {
                if (a != _anchorFirst[k] || b != _anchorSecond[k]) continue;
                var thirds = _anchorThird[k];
                if (thirds.Length > 0 && (i + 2 >= sql.Length || Array.IndexOf(thirds, (byte)(sql[i + 2] | CaseBit)) < 0)) continue;
                if (Confirm(sql, i)) return true;
            }
        }
        return false;
    }

    private bool ScanVector256(ReadOnlySpan<byte> sql)
    {
        ref var start = ref MemoryMarshal.GetReference(sql);
        var fold = Vector256.Create(CaseBit);
        // The last step overlaps the one before it instead of leaving a scalar tail; a position seen twice
        // is only confirmed twice. Positions past Length - 3 cannot start a call ("ab(" is the shortest).
        var last = sql.Length - Vector256<byte>.Count - 2;
        for (var i = 0; ; i = Math.Min(i + Vector256<byte>.Count, last))
        {
            var first = Vector256.LoadUnsafe(ref start, (nuint)i) | fold;
            var second = Vector256.LoadUnsafe(ref start, (nuint)i + 1) | fold;
            var third = Vector256.LoadUnsafe(ref start, (nuint)i + 2) | fold;
            var hits = Vector256<byte>.Zero;
            for (var k = 0; k < _anchorFirst.Length; k++)
            {
                var pair = Vector256.Equals(first, Vector256.Create(_anchorFirst[k])) & Vector256.Equals(second, Vector256.Create(_anchorSecond[k]));
                var thirds = _anchorThird[k];
                if (thirds.Length > 0)
                {
                    var any = Vector256<byte>.Zero;
                    foreach (var t in thirds) any |= Vector256.Equals(third, Vector256.Create(t));
                    pair &= any;
                }
                hits |= pair;
            }
            var mask = hits.ExtractMostSignificantBits();
            while (mask != 0)
            {
                if (Confirm(sql, i + BitOperations.TrailingZeroCount(mask))) return true;
                mask &= mask - 1;
            }
            if (i == last) return false;
        }
    }

    private bool ScanVector128(ReadOnlySpan<byte> sql)
    {
        ref var start = ref MemoryMarshal.GetReference(sql);
        var fold = Vector128.Create(CaseBit);
        var last = sql.Length - Vector128<byte>.Count - 2;
        for (var i = 0; ; i = Math.Min(i + Vector128<byte>.Count, last))
        {
            var first = Vector128.LoadUnsafe(ref start, (nuint)i) | fold;
            var second = Vector128.LoadUnsafe(ref start, (nuint)i + 1) | fold;
            var third = Vector128.LoadUnsafe(ref start, (nuint)i + 2) | fold;
            var hits = Vector128<byte>.Zero;
            for (var k = 0; k < _anchorFirst.Length; k++)
            {
                var pair = Vector128.Equals(first, Vector128.Create(_anchorFirst[k])) & Vector128.Equals(second, Vector128.Create(_anchorSecond[k]));
                var thirds = _anchorThird[k];
                if (thirds.Length > 0)
                {
                    var any = Vector128<byte>.Zero;
                    foreach (var t in thirds) any |= Vector128.Equals(third, Vector128.Create(t));
                    pair &= any;
                }
                hits |= pair;
            }
            var mask = hits.ExtractMostSignificantBits();
            while (mask != 0)
            {
                if (Confirm(sql, i + BitOperations.TrailingZeroCount(mask))) return true;
                mask &= mask - 1;
            }
            if (i == last) return false;
        }
    }

    /// <summary>An anchor matched at <paramref name="at"/>: is it really a possible call?</summary>
    private bool Confirm(ReadOnlySpan<byte> sql, int at)
    {
        if (sql[at] == UnicodeAnchorFirst)
            return sql[at + 1] == UnicodeAnchorSecond && at > 0 && (sql[at - 1] | CaseBit) == 'u' && at + 2 < sql.Length;
        // Inside a longer identifier (my_recall, érecall). A digit or $ before the name does not count: after a
        // dollar-quoted string ($$x$$recall) the lexer starts a new token there.
        if (at > 0 && IsIdentifierStartByte(sql[at - 1])) return false;
        foreach (var name in _names)
        {
            if (sql.Length - at >= name.Length && EqualsFolded(sql.Slice(at, name.Length), name) && OpensCall(sql, at + name.Length))
                return true;
        }
        return false;
    }

    /// <summary>ASCII case-insensitive: letters compare with the case bit folded, other bytes exactly.</summary>
    private static bool EqualsFolded(ReadOnlySpan<byte> candidate, byte[] lowerName)
    {
        for (var j = 0; j < lowerName.Length; j++)
        {
            var n = lowerName[j];
            var c = candidate[j];
            if (c != n && (n is < (byte)'a' or > (byte)'z' || (c | CaseBit) != n)) return false;
        }
        return true;
    }

    /// <summary>After the name: optionally the closing double quote, whitespace, then "(" or a comment start.</summary>
    private static bool OpensCall(ReadOnlySpan<byte> sql, int at)
    {
        if (at < sql.Length && IsIdentifierByte(sql[at])) return false; // recalls(, recall_all(
        if (at < sql.Length && sql[at] == '"') at++;
        while (at < sql.Length && sql[at] is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r' or (byte)'\f' or (byte)'\v') at++;
        if (at >= sql.Length) return false;
        var c = sql[at];
        if (c == '(') return true;
        return at + 1 < sql.Length && ((c == '-' && sql[at + 1] == '-') || (c == '/' && sql[at + 1] == '*'));
    }

    /// <summary>Letters, _ and every byte of a multi-byte UTF-8 character.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsIdentifierStartByte(byte b) => b >= 0x80 || (b | CaseBit) is >= (byte)'a' and <= (byte)'z' || b == '_';

    /// <summary>PostgreSQL's identifier characters; every byte of a multi-byte UTF-8 character counts as one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsIdentifierByte(byte b) =>
        b >= 0x80 || (b | CaseBit) is >= (byte)'a' and <= (byte)'z' || b is >= (byte)'0' and <= (byte)'9' or (byte)'_' or (byte)'$';
}
