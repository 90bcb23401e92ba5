using System.Numerics;

namespace MemorySql.Embeddings;

/// <summary>Small SIMD helpers for unit vectors.</summary>
internal static class VectorMath
{
    /// <summary>
    /// The Euclidean norm, summed in double precision in index order: the same bits on every CPU
    /// whatever its SIMD width, which keeps the builtin model's vectors identical across machines.
    /// </summary>
    public static float Norm(ReadOnlySpan<float> values)
    {
        var sum = 0d;
        foreach (var v in values) sum += (double)v * v;
        return (float)Math.Sqrt(sum);
    }

    /// <summary>target += source * scale.</summary>
    public static void AddScaled(Span<float> target, ReadOnlySpan<float> source, float scale)
    {
        var i = 0;
        var factor = new Vector<float>(scale);
        for (; i <= target.Length - Vector<float>.Count; i += Vector<float>.Count)
            (new Vector<float>(target[i..]) + new Vector<float>(source[i..]) * factor).CopyTo(target[i..]);
        for (; i < target.Length; i++) target[i] += source[i] * scale;
    }

    /// <summary>Scales to unit length; false (and unchanged) when the norm is zero or not finite.</summary>
    public static bool TryNormalize(Span<float> values)
    {
        var norm = Norm(values);
        if (!(norm > 0) || !float.IsFinite(norm)) return false;
        var inverse = 1f / norm;
        var i = 0;
        var factor = new Vector<float>(inverse);
        for (; i <= values.Length - Vector<float>.Count; i += Vector<float>.Count)
            (new Vector<float>(values[i..]) * factor).CopyTo(values[i..]);
        for (; i < values.Length; i++) values[i] *= inverse;
        return true;
    }
}
