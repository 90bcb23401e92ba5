using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using MemorySql.Protocol;

namespace MemorySql.Proxy.Benchmarks;

/// <summary>
/// A minimal PostgreSQL stand-in for the idle-connection measurement: trusts every login, answers each
/// Query with one row, and costs almost nothing per connection (so a thousand fit on this machine).
/// </summary>
internal sealed class BenchFakeServer : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);

    public BenchFakeServer()
    {
        _listener.Start(4096);
        _ = Task.Run(AcceptAsync);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    private async Task AcceptAsync()
    {
        var pid = 100;
        while (true)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync();
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            _ = ServeAsync(socket, Interlocked.Increment(ref pid));
        }
    }

    private static async Task ServeAsync(Socket socket, int pid)
    {
        socket.NoDelay = true;
        await using var stream = new NetworkStream(socket, ownsSocket: true);
        try
        {
            var header = new byte[4];
            await stream.ReadExactlyAsync(header);
            var body = new byte[BinaryPrimitives.ReadInt32BigEndian(header) - 4];
            await stream.ReadExactlyAsync(body);
            var b = new MessageBuilder();
            b.StartMessage(BackendCode.Authentication).WriteInt32(0).EndMessage();
            b.StartMessage(BackendCode.ParameterStatus).WriteCString("server_version").WriteCString("15.0").EndMessage();
            b.BackendKeyData(pid, BitConverter.GetBytes(pid));
            b.ReadyForQuery(TransactionStatus.Idle);
            await stream.WriteAsync(b.WrittenMemory);
            var answer = new MessageBuilder();
            answer.StartMessage(BackendCode.DataRow).WriteInt16(1).WriteInt32(1).WriteBytes("1"u8).EndMessage();
            answer.StartMessage(BackendCode.CommandComplete).WriteCString("SELECT 1").EndMessage();
            answer.ReadyForQuery(TransactionStatus.Idle);
            var typed = new byte[5];
            while (true)
            {
                await stream.ReadExactlyAsync(typed);
                var rest = new byte[BinaryPrimitives.ReadInt32BigEndian(typed.AsSpan(1)) - 4];
                await stream.ReadExactlyAsync(rest);
                if (typed[0] == 'X') return;
                if (typed[0] == 'Q') await stream.WriteAsync(answer.WrittenMemory);
            }
        }
        catch (Exception e) when (e is IOException or EndOfStreamException or SocketException)
        {
        }
    }

    public void Dispose() => _listener.Stop();
}
