using System.Buffers;
using System.IO.Pipelines;
using MemorySql.Protocol;

namespace MemorySql.Proxy;

/// <summary>A whole message read during startup and authentication (copied: these are few and small).</summary>
internal readonly record struct WholeMessage(byte Type, byte[] Payload)
{
    /// <summary>The message as it appears on the wire.</summary>
    public byte[] ToWire()
    {
        var wire = new byte[MessageHeader.Size + Payload.Length];
        MessageHeader.Write(wire, Type, Payload.Length);
        Payload.CopyTo(wire, MessageHeader.Size);
        return wire;
    }
}

internal static class PipeMessages
{
    /// <summary>
    /// Reads one whole typed message, or null at a clean end of stream. Validates the length against
    /// <paramref name="maxPayload"/> before buffering anything.
    /// </summary>
    public static async ValueTask<WholeMessage?> ReadAsync(PipeReader reader, int maxPayload, string peer, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (MessageHeader.TryRead(buffer, out var header))
            {
                if (header.Length < 4)
                    throw new PgProtocolException($"invalid message length {header.Length} from {peer}");
                if (header.PayloadLength > maxPayload)
                    throw new PgProtocolException($"message of type '{(char)header.Type}' from {peer} is {header.PayloadLength} bytes, more than the limit of {maxPayload}");
                if (buffer.Length >= header.TotalLength)
                {
                    var payload = buffer.Slice(MessageHeader.Size, header.PayloadLength).ToArray();
                    reader.AdvanceTo(buffer.GetPosition(header.TotalLength));
                    return new WholeMessage(header.Type, payload);
                }
            }
            if (result.IsCompleted || result.IsCanceled)
            {
                reader.AdvanceTo(buffer.End);
                if (buffer.IsEmpty) return null;
                throw new EndOfStreamException($"{peer} closed the connection in the middle of a message");
            }
            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>True when a complete message is already buffered (nothing is consumed).</summary>
    public static bool HasBufferedMessage(PipeReader reader)
    {
        if (!reader.TryRead(out var result)) return false;
        var buffer = result.Buffer;
        var complete = MessageHeader.TryRead(buffer, out var header) && header.Length >= 4 && buffer.Length >= header.TotalLength;
        reader.AdvanceTo(buffer.Start, buffer.Start);
        return complete;
    }
}
