using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace MemorySql.Protocol;

/// <summary>
/// Builds one or more wire messages into a growable buffer. Used for the few messages the proxy makes
/// itself (startup, errors, negotiation, keys); relayed messages are never copied through it.
/// </summary>
public sealed class MessageBuilder
{
    private readonly ArrayBufferWriter<byte> _buffer;
    private int _messageStart = -1;

    public MessageBuilder(int initialCapacity = 256) => _buffer = new ArrayBufferWriter<byte>(initialCapacity);

    public ReadOnlyMemory<byte> WrittenMemory => _buffer.WrittenMemory;
    public ReadOnlySpan<byte> WrittenSpan => _buffer.WrittenSpan;
    public int Length => _buffer.WrittenCount;

    public void Clear()
    {
        _buffer.Clear();
        _messageStart = -1;
    }

    /// <summary>Starts a typed message; <see cref="EndMessage"/> fills in its length.</summary>
    public MessageBuilder StartMessage(byte type)
    {
        if (_messageStart >= 0) throw new InvalidOperationException("a message is already open");
        WriteByte(type);
        _messageStart = _buffer.WrittenCount;
        WriteInt32(0);
        return this;
    }

    /// <summary>Starts an untyped startup-phase packet (StartupMessage, SSLRequest, CancelRequest).</summary>
    public MessageBuilder StartPacket()
    {
        if (_messageStart >= 0) throw new InvalidOperationException("a message is already open");
        _messageStart = _buffer.WrittenCount;
        WriteInt32(0);
        return this;
    }

    public MessageBuilder EndMessage()
    {
        if (_messageStart < 0) throw new InvalidOperationException("no message is open");
        var length = _buffer.WrittenCount - _messageStart;
        // ArrayBufferWriter exposes its written data read-only; patch the length through MemoryMarshal.
        var written = System.Runtime.InteropServices.MemoryMarshal.AsMemory(_buffer.WrittenMemory);
        BinaryPrimitives.WriteInt32BigEndian(written.Span.Slice(_messageStart, 4), length);
        _messageStart = -1;
        return this;
    }

    public MessageBuilder WriteByte(byte value)
    {
        _buffer.GetSpan(1)[0] = value;
        _buffer.Advance(1);
        return this;
    }

    public MessageBuilder WriteInt16(short value)
    {
        BinaryPrimitives.WriteInt16BigEndian(_buffer.GetSpan(2), value);
        _buffer.Advance(2);
        return this;
    }

    public MessageBuilder WriteInt32(int value)
    {
        BinaryPrimitives.WriteInt32BigEndian(_buffer.GetSpan(4), value);
        _buffer.Advance(4);
        return this;
    }

    public MessageBuilder WriteBytes(ReadOnlySpan<byte> value)
    {
        _buffer.Write(value);
        return this;
    }

    /// <summary>A NUL-terminated UTF-8 string. A NUL inside the value would end it early, so it is refused.</summary>
    public MessageBuilder WriteCString(string value)
    {
        if (value.Contains('\0', StringComparison.Ordinal)) throw new ArgumentException("a protocol string cannot contain NUL", nameof(value));
        var count = Encoding.UTF8.GetByteCount(value);
        var span = _buffer.GetSpan(count + 1);
        Encoding.UTF8.GetBytes(value, span);
        span[count] = 0;
        _buffer.Advance(count + 1);
        return this;
    }

    /// <summary>Raw bytes followed by NUL (parameter names and values are forwarded byte for byte).</summary>
    public MessageBuilder WriteCString(ReadOnlySpan<byte> value)
    {
        if (value.Contains((byte)0)) throw new ArgumentException("a protocol string cannot contain NUL", nameof(value));
        _buffer.Write(value);
        return WriteByte(0);
    }

    public byte[] ToArray() => _buffer.WrittenSpan.ToArray();
}
