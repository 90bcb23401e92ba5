using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using MemorySql.Protocol;

namespace MemorySql.Proxy.Tests.Support;

/// <summary>A message as read from the wire by the raw test client.</summary>
public sealed record PgMessage(char Type, byte[] Payload)
{
    public string Text => Encoding.UTF8.GetString(Payload);
    public ErrorFields Error => ErrorFields.Parse(Payload);
    public override string ToString() => Type + ":" + Convert.ToHexString(Payload);
}

/// <summary>
/// A protocol client with no driver in between: sends exactly the bytes a test writes and reads every
/// message back. Logs in with cleartext passwords (roles in the fixture's password group).
/// </summary>
public sealed class RawPgConnection : IAsyncDisposable
{
    private readonly Socket _socket;
    private Stream _stream;

    private RawPgConnection(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
    }

    public Stream Stream => _stream;
    public Socket Socket => _socket;

    public static async Task<RawPgConnection> ConnectAsync(int port)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync("127.0.0.1", port);
        return new RawPgConnection(socket);
    }

    public void UseStream(Stream stream) => _stream = stream;

    public async Task SendAsync(ReadOnlyMemory<byte> bytes)
    {
        await _stream.WriteAsync(bytes);
        await _stream.FlushAsync();
    }

    public Task SendAsync(MessageBuilder builder) => SendAsync(builder.WrittenMemory);

    public static byte[] Startup(string user, string database, int minor = 0, params (string Name, string Value)[] extra)
    {
        var parameters = new List<StartupParameter>
        {
            new(Encoding.UTF8.GetBytes("user"), Encoding.UTF8.GetBytes(user)),
            new(Encoding.UTF8.GetBytes("database"), Encoding.UTF8.GetBytes(database)),
        };
        parameters.AddRange(extra.Select(e => new StartupParameter(Encoding.UTF8.GetBytes(e.Name), Encoding.UTF8.GetBytes(e.Value))));
        return new MessageBuilder().StartupMessage(minor, parameters).ToArray();
    }

    /// <summary>Sends a StartupMessage, answers a cleartext password request, and returns everything up to ReadyForQuery.</summary>
    public async Task<List<PgMessage>> LoginAsync(string user, string password, string database, int minor = 0, params (string, string)[] extra)
    {
        await SendAsync(Startup(user, database, minor, extra));
        var received = new List<PgMessage>();
        while (true)
        {
            var m = await ReadAsync();
            received.Add(m);
            if (m.Type == 'R' && BinaryPrimitives.ReadInt32BigEndian(m.Payload) == AuthenticationCode.CleartextPassword)
            {
                var b = new MessageBuilder().StartMessage(FrontendCode.Password).WriteCString(password).EndMessage();
                await SendAsync(b);
            }
            else if (m.Type == 'R' && BinaryPrimitives.ReadInt32BigEndian(m.Payload) != 0)
            {
                throw new InvalidOperationException("raw client only does cleartext passwords, got auth request " + BinaryPrimitives.ReadInt32BigEndian(m.Payload));
            }
            if (m.Type is 'Z' or 'E') return received;
        }
    }

    /// <summary>Reads one typed message; throws on timeout or end of stream.</summary>
    public async Task<PgMessage> ReadAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        var header = new byte[5];
        await _stream.ReadExactlyAsync(header, cts.Token);
        var length = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(1));
        var payload = new byte[length - 4];
        await _stream.ReadExactlyAsync(payload, cts.Token);
        return new PgMessage((char)header[0], payload);
    }

    /// <summary>Reads one byte (the answer to SSLRequest/GSSENCRequest).</summary>
    public async Task<int> ReadByteAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        var one = new byte[1];
        var n = await _stream.ReadAsync(one, cts.Token);
        return n == 0 ? -1 : one[0];
    }

    /// <summary>Reads messages until <paramref name="readyCount"/> ReadyForQuery messages have arrived.</summary>
    public async Task<List<PgMessage>> ReadUntilReadyAsync(int readyCount = 1, TimeSpan? timeout = null)
    {
        var result = new List<PgMessage>();
        while (readyCount > 0)
        {
            var m = await ReadAsync(timeout);
            result.Add(m);
            if (m.Type == 'Z') readyCount--;
        }
        return result;
    }

    /// <summary>True when the peer closed the connection (reads return 0 or fail) within the timeout.</summary>
    public async Task<bool> IsClosedAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                var n = await _stream.ReadAsync(buffer, cts.Token);
                if (n == 0) return true;
            }
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    /// <summary>Reads whatever arrives until the connection closes; returns the messages (an incomplete tail is dropped).</summary>
    public async Task<List<PgMessage>> ReadUntilClosedAsync(TimeSpan? timeout = null)
    {
        var result = new List<PgMessage>();
        try
        {
            while (true) result.Add(await ReadAsync(timeout ?? TimeSpan.FromSeconds(10)));
        }
        catch (Exception e) when (e is EndOfStreamException or IOException)
        {
            return result;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _socket.Dispose();
    }
}

/// <summary>Builders for the frontend messages tests send.</summary>
public static class Msg
{
    public static byte[] Query(string sql) => new MessageBuilder().Query(sql).ToArray();
    public static byte[] Sync() => new MessageBuilder().Sync().ToArray();
    public static byte[] Flush() => new MessageBuilder().StartMessage(FrontendCode.Flush).EndMessage().ToArray();
    public static byte[] Terminate() => new MessageBuilder().Terminate().ToArray();

    public static byte[] Parse(string sql, string name = "", params int[] types)
    {
        var b = new MessageBuilder().StartMessage(FrontendCode.Parse).WriteCString(name).WriteCString(sql).WriteInt16((short)types.Length);
        foreach (var t in types) b.WriteInt32(t);
        return b.EndMessage().ToArray();
    }

    /// <summary>Bind with text parameters (null = SQL NULL) and text results.</summary>
    public static byte[] Bind(string statement = "", string portal = "", params string?[] values)
    {
        var b = new MessageBuilder().StartMessage(FrontendCode.Bind).WriteCString(portal).WriteCString(statement).WriteInt16(0).WriteInt16((short)values.Length);
        foreach (var v in values)
        {
            if (v is null)
            {
                b.WriteInt32(-1);
                continue;
            }
            var bytes = Encoding.UTF8.GetBytes(v);
            b.WriteInt32(bytes.Length).WriteBytes(bytes);
        }
        return b.WriteInt16(0).EndMessage().ToArray();
    }

    public static byte[] Describe(char kind, string name = "") =>
        new MessageBuilder().StartMessage(FrontendCode.Describe).WriteByte((byte)kind).WriteCString(name).EndMessage().ToArray();

    public static byte[] Execute(string portal = "", int maxRows = 0) =>
        new MessageBuilder().StartMessage(FrontendCode.Execute).WriteCString(portal).WriteInt32(maxRows).EndMessage().ToArray();

    public static byte[] Close(char kind, string name = "") =>
        new MessageBuilder().StartMessage(FrontendCode.Close).WriteByte((byte)kind).WriteCString(name).EndMessage().ToArray();

    public static byte[] CopyData(string text) =>
        new MessageBuilder().StartMessage(FrontendCode.CopyData).WriteBytes(Encoding.UTF8.GetBytes(text)).EndMessage().ToArray();

    public static byte[] CopyDone() => new MessageBuilder().StartMessage(FrontendCode.CopyDone).EndMessage().ToArray();

    public static byte[] CopyFail(string reason) => new MessageBuilder().StartMessage(FrontendCode.CopyFail).WriteCString(reason).EndMessage().ToArray();

    public static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();
}
