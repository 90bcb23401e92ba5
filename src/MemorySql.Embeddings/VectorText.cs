using System.Buffers;
using System.Globalization;
using System.Text;

namespace MemorySql.Embeddings;

/// <summary>pgvector's text form, "[0.1,-0.2,…]": what the proxy and the workers send as a vector value.</summary>
public static class VectorText
{
    /// <summary>Formats a vector; "R"-style shortest round-trip digits so nothing is lost.</summary>
    public static string Format(ReadOnlySpan<float> vector)
    {
        var builder = new StringBuilder(vector.Length * 11 + 2);
        builder.Append('[');
        Span<char> buffer = stackalloc char[32];
        for (var i = 0; i < vector.Length; i++)
        {
            if (i > 0) builder.Append(',');
            vector[i].TryFormat(buffer, out var written, "R", CultureInfo.InvariantCulture);
            builder.Append(buffer[..written]);
        }
        return builder.Append(']').ToString();
    }

    /// <summary>Writes the text form as UTF-8 into a buffer (for wire messages, without a string).</summary>
    public static void WriteUtf8(ReadOnlySpan<float> vector, IBufferWriter<byte> output)
    {
        var span = output.GetSpan(2);
        span[0] = (byte)'[';
        output.Advance(1);
        for (var i = 0; i < vector.Length; i++)
        {
            span = output.GetSpan(20);
            var offset = 0;
            if (i > 0) span[offset++] = (byte)',';
            vector[i].TryFormat(span[offset..], out var written, "R", CultureInfo.InvariantCulture);
            output.Advance(offset + written);
        }
        span = output.GetSpan(1);
        span[0] = (byte)']';
        output.Advance(1);
    }

    /// <summary>Parses pgvector's text form.</summary>
    public static float[] Parse(string text)
    {
        var t = text.AsSpan().Trim();
        if (t.Length < 2 || t[0] != '[' || t[^1] != ']') throw new FormatException($"not a vector: {text}");
        t = t[1..^1];
        if (t.IsEmpty) return [];
        var result = new List<float>();
        foreach (var range in t.Split(','))
            result.Add(float.Parse(t[range], NumberStyles.Float, CultureInfo.InvariantCulture));
        return [.. result];
    }
}
