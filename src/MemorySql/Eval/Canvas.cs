using System.Buffers.Binary;
using System.IO.Compression;

namespace MemorySql.Eval;

/// <summary>
/// A small RGB raster with rectangles, lines and a built-in 5×7 pixel font, saved as PNG. Enough for a
/// readable chart without a plotting package (none is available from the package mirror here).
/// </summary>
internal sealed class Canvas
{
    private readonly byte[] _pixels;

    public Canvas(int width, int height, (byte R, byte G, byte B) background)
    {
        Width = width;
        Height = height;
        _pixels = new byte[width * height * 3];
        FillRect(0, 0, width, height, background);
    }

    public int Width { get; }
    public int Height { get; }

    public void SetPixel(int x, int y, (byte R, byte G, byte B) c)
    {
        if ((uint)x >= (uint)Width || (uint)y >= (uint)Height) return;
        var i = (y * Width + x) * 3;
        _pixels[i] = c.R;
        _pixels[i + 1] = c.G;
        _pixels[i + 2] = c.B;
    }

    public void FillRect(int x, int y, int w, int h, (byte R, byte G, byte B) c)
    {
        for (var yy = Math.Max(0, y); yy < Math.Min(Height, y + h); yy++)
            for (var xx = Math.Max(0, x); xx < Math.Min(Width, x + w); xx++)
                SetPixel(xx, yy, c);
    }

    /// <summary>A line of the given thickness (Bresenham, thickened with squares); dashed when dash &gt; 0.</summary>
    public void Line(int x0, int y0, int x1, int y1, (byte R, byte G, byte B) c, int thickness = 1, int dash = 0)
    {
        int dx = Math.Abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
        int dy = -Math.Abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
        int err = dx + dy, step = 0;
        while (true)
        {
            if (dash == 0 || step / dash % 2 == 0)
                FillRect(x0 - thickness / 2, y0 - thickness / 2, thickness, thickness, c);
            step++;
            if (x0 == x1 && y0 == y1) break;
            var e2 = 2 * err;
            if (e2 >= dy) { err += dy; x0 += sx; }
            if (e2 <= dx) { err += dx; y0 += sy; }
        }
    }

    /// <summary>Draws text (upper-cased; the font has capitals, digits and common punctuation).</summary>
    public void Text(int x, int y, string text, (byte R, byte G, byte B) c, int scale = 2)
    {
        foreach (var ch in text.ToUpperInvariant())
        {
            var glyph = PixelFont.Glyph(ch);
            for (var row = 0; row < 7; row++)
                for (var col = 0; col < 5; col++)
                    if ((glyph[row] >> (4 - col) & 1) == 1)
                        FillRect(x + col * scale, y + row * scale, scale, scale, c);
            x += 6 * scale;
        }
    }

    public static int TextWidth(string text, int scale = 2) => text.Length * 6 * scale;

    public void SavePng(string path)
    {
        using var file = File.Create(path);
        file.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        Span<byte> header = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, Width);
        BinaryPrimitives.WriteInt32BigEndian(header[4..], Height);
        header[8] = 8;  // bit depth
        header[9] = 2;  // colour type: RGB
        header[10] = header[11] = header[12] = 0;
        WriteChunk(file, "IHDR", header);
        using (var compressed = new MemoryStream())
        {
            using (var z = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
            {
                for (var y = 0; y < Height; y++)
                {
                    z.WriteByte(0); // filter: none
                    z.Write(_pixels, y * Width * 3, Width * 3);
                }
            }
            WriteChunk(file, "IDAT", compressed.ToArray());
        }
        WriteChunk(file, "IEND", []);
    }

    private static void WriteChunk(Stream output, string type, ReadOnlySpan<byte> data)
    {
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, data.Length);
        output.Write(length);
        Span<byte> typeBytes = [(byte)type[0], (byte)type[1], (byte)type[2], (byte)type[3]];
        output.Write(typeBytes);
        output.Write(data);
        var crc = Crc32.Update(Crc32.Update(0xFFFFFFFFu, typeBytes), data) ^ 0xFFFFFFFFu;
        BinaryPrimitives.WriteUInt32BigEndian(length, crc);
        output.Write(length);
    }

    /// <summary>The CRC-32 PNG chunks end with (ISO 3309 polynomial).</summary>
    private static class Crc32
    {
        private static readonly uint[] Table = Build();

        public static uint Update(uint crc, ReadOnlySpan<byte> data)
        {
            foreach (var b in data) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
            return crc;
        }

        private static uint[] Build()
        {
            var table = new uint[256];
            for (uint n = 0; n < 256; n++)
            {
                var c = n;
                for (var k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                table[n] = c;
            }
            return table;
        }
    }
}
