using System.Buffers.Binary;
using System.Text;
using MemorySql.Protocol;

namespace MemorySql.Proxy.Rewriting;

/// <summary>Reads the fields of a whole frontend message (header included) for the rewrite; throws 08P01 on malformed input.</summary>
internal ref struct WireReader
{
    private ReadOnlySpan<byte> _rest;

    public WireReader(ReadOnlySpan<byte> message) => _rest = message[MessageHeader.Size..];

    public readonly bool End => _rest.IsEmpty;

    public string ReadCString()
    {
        var end = _rest.IndexOf((byte)0);
        if (end < 0) throw new PgProtocolException("invalid string in message");
        var text = Encoding.UTF8.GetString(_rest[..end]);
        _rest = _rest[(end + 1)..];
        return text;
    }

    public short ReadInt16()
    {
        if (_rest.Length < 2) throw new PgProtocolException("insufficient data left in message");
        var value = BinaryPrimitives.ReadInt16BigEndian(_rest);
        _rest = _rest[2..];
        return value;
    }

    public int ReadInt32()
    {
        if (_rest.Length < 4) throw new PgProtocolException("insufficient data left in message");
        var value = BinaryPrimitives.ReadInt32BigEndian(_rest);
        _rest = _rest[4..];
        return value;
    }

    public ReadOnlySpan<byte> ReadBytes(int count)
    {
        if (count < 0 || _rest.Length < count) throw new PgProtocolException("insufficient data left in message");
        var value = _rest[..count];
        _rest = _rest[count..];
        return value;
    }

    public readonly ReadOnlySpan<byte> Rest => _rest;
}
