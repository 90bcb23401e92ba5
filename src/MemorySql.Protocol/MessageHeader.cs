using System.Buffers;
using System.Buffers.Binary;

namespace MemorySql.Protocol;

/// <summary>
/// The 5-byte header of every typed message: a type byte and an int32 length that counts itself and the
/// payload but not the type byte. Everything the relay needs to know about most messages.
/// </summary>
public readonly record struct MessageHeader(byte Type, int Length)
{
    public const int Size = 5;

    /// <summary>Bytes of the whole message on the wire, type byte included.</summary>
    public long TotalLength => 1L + Length;

    /// <summary>Bytes after the header.</summary>
    public int PayloadLength => Length - 4;

    /// <summary>Reads a header at the start of the span, or returns false when fewer than 5 bytes are there.</summary>
    public static bool TryRead(ReadOnlySpan<byte> data, out MessageHeader header)
    {
        if (data.Length < Size)
        {
            header = default;
            return false;
        }
        header = new MessageHeader(data[0], BinaryPrimitives.ReadInt32BigEndian(data.Slice(1, 4)));
        return true;
    }

    /// <summary>Reads a header that may span segments; returns false when fewer than 5 bytes are there.</summary>
    public static bool TryRead(in ReadOnlySequence<byte> data, out MessageHeader header)
    {
        var first = data.FirstSpan;
        if (first.Length >= Size) return TryRead(first, out header);
        if (data.Length < Size)
        {
            header = default;
            return false;
        }
        Span<byte> copy = stackalloc byte[Size];
        data.Slice(0, Size).CopyTo(copy);
        return TryRead(copy, out header);
    }

    /// <summary>Writes a header (the length is payload + 4).</summary>
    public static void Write(Span<byte> destination, byte type, int payloadLength)
    {
        destination[0] = type;
        BinaryPrimitives.WriteInt32BigEndian(destination.Slice(1, 4), payloadLength + 4);
    }
}
