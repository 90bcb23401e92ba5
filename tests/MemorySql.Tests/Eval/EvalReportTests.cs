using System.Buffers.Binary;
using System.IO.Compression;
using MemorySql.Eval;

namespace MemorySql.Tests.Eval;

public sealed class EvalReportTests
{
    private static List<ModeResult> SampleModes()
    {
        var modes = new List<ModeResult> { new("lexical"), new("hybrid") };
        foreach (var cat in new[] { 1, 2, 3, 4, 5 })
        {
            modes[0].Questions.Add((cat, [0.1 * cat, 0.5, 0.6, 0.7, 0.8]));
            modes[1].Questions.Add((cat, [0.15 * cat, 0.6, 0.7, 0.8, 0.9]));
        }
        modes[0].LatenciesMs.AddRange([1, 2, 3]);
        modes[1].LatenciesMs.AddRange([2, 3, 4]);
        return modes;
    }

    [Fact]
    public void Markdown_HasARowPerModeAndCategory_AndTheAnchors()
    {
        var md = EvalReport.Markdown(SampleModes(), [1, 5, 10, 25, 50], new LocomoLoadReport(10, 1, 2, 0), TimeSpan.FromSeconds(2), 100, "/x/locomo-dev.json");
        Assert.Contains("| hybrid | temporal | 1 | 30.0 | 60.0 | 70.0 | 80.0 | 90.0 |", md);
        Assert.Contains("| lexical | **overall** | 5 |", md);
        Assert.Contains("DRAGON", md);
        Assert.Contains("66.2", md);
    }

    [Fact]
    public void Chart_WritesAValidPngOfTheRequestedSize()
    {
        var path = Path.Combine(Path.GetTempPath(), $"chart-{Guid.NewGuid():N}.png");
        try
        {
            EvalReport.Chart(SampleModes(), [1, 5, 10, 25, 50], path, "LoCoMo test");
            var bytes = File.ReadAllBytes(path);
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], bytes[..4]);
            Assert.Equal(1400, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)));
            Assert.Equal(620, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
            // The image data inflates to one filter byte plus three bytes per pixel per row.
            var idatLength = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(33));
            using var z = new ZLibStream(new MemoryStream(bytes, 41, idatLength), CompressionMode.Decompress);
            using var raw = new MemoryStream();
            z.CopyTo(raw);
            Assert.Equal(620 * (1 + 1400 * 3), raw.Length);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
