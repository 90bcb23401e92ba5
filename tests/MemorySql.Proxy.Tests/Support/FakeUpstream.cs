using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using MemorySql.Protocol;

namespace MemorySql.Proxy.Tests.Support;

/// <summary>
/// A scripted PostgreSQL stand-in (the pattern of Npgsql's PgPostmasterMock/PgServerMock) for what a real
/// server cannot do on demand: vanish mid-query, send malformed messages, offer only channel binding,
/// or accept a thousand connections cheaply. Every connection runs <see cref="Script"/> after startup.
/// </summary>
public sealed class FakeUpstream : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;
    private int _nextPid = 1000;

    public FakeUpstream(Func<FakeBackend, Task>? script = null, X509Certificate2? certificate = null)
    {
        Script = script ?? (backend => backend.ServeSimpleQueriesAsync());
        Certificate = certificate;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start(4096);
        _acceptLoop = Task.Run(AcceptAsync);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
    public Func<FakeBackend, Task> Script { get; set; }
    public X509Certificate2? Certificate { get; }

    /// <summary>Cancel requests received: the process id and secret the proxy sent.</summary>
    public ConcurrentQueue<(int ProcessId, byte[] Secret)> Cancels { get; } = new();

    /// <summary>Backends started so far (after a successful startup packet).</summary>
    public ConcurrentBag<FakeBackend> Backends { get; } = [];

    /// <summary>Raised after a cancel request has been recorded.</summary>
    public event Action<int, byte[]>? CancelReceived;

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception)
            {
                return;
            }
            _ = Task.Run(() => HandleAsync(client));
        }
    }

    private async Task HandleAsync(TcpClient client)
    {
        client.NoDelay = true;
        Stream stream = client.GetStream();
        try
        {
            while (true)
            {
                var lengthBytes = new byte[4];
                await stream.ReadExactlyAsync(lengthBytes);
                var body = new byte[BinaryPrimitives.ReadInt32BigEndian(lengthBytes) - 4];
                await stream.ReadExactlyAsync(body);
                var packet = StartupPacket.Parse(body);
                switch (packet.Kind)
                {
                    case StartupPacketKind.SslRequest when Certificate is not null:
                        await stream.WriteAsync("S"u8.ToArray());
                        var ssl = new SslStream(stream);
                        await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = Certificate });
                        stream = ssl;
                        continue;
                    case StartupPacketKind.SslRequest:
                    case StartupPacketKind.GssEncRequest:
                        await stream.WriteAsync("N"u8.ToArray());
                        continue;
                    case StartupPacketKind.CancelRequest:
                        Cancels.Enqueue((packet.CancelProcessId, packet.CancelSecret));
                        CancelReceived?.Invoke(packet.CancelProcessId, packet.CancelSecret);
                        client.Dispose();
                        return;
                    default:
                        var backend = new FakeBackend(client, stream, packet, Interlocked.Increment(ref _nextPid), this);
                        Backends.Add(backend);
                        await Script(backend);
                        return;
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or EndOfStreamException)
        {
        }
        finally
        {
            client.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _acceptLoop;
        }
        catch (OperationCanceledException)
        {
        }
    }
}

/// <summary>One fake server connection after its StartupMessage.</summary>
public sealed class FakeBackend
{
    private readonly TcpClient _client;
    private readonly FakeUpstream _server;

    internal FakeBackend(TcpClient client, Stream stream, StartupPacket startup, int processId, FakeUpstream server)
    {
        _client = client;
        Stream = stream;
        Startup = startup;
        ProcessId = processId;
        Secret = BitConverter.GetBytes(processId * 7919);
        _server = server;
    }

    public Stream Stream { get; }
    public StartupPacket Startup { get; }
    public int ProcessId { get; }
    public byte[] Secret { get; }

    public bool WasCancelled => _server.Cancels.Any(c => c.ProcessId == ProcessId && c.Secret.AsSpan().SequenceEqual(Secret));

    public async Task WriteAsync(MessageBuilder builder)
    {
        await Stream.WriteAsync(builder.WrittenMemory);
        await Stream.FlushAsync();
    }

    public async Task WriteAsync(byte[] bytes)
    {
        await Stream.WriteAsync(bytes);
        await Stream.FlushAsync();
    }

    /// <summary>AuthenticationOk, a few ParameterStatus, BackendKeyData, ReadyForQuery.</summary>
    public Task CompleteStartupAsync()
    {
        var b = new MessageBuilder();
        b.StartMessage(BackendCode.Authentication).WriteInt32(AuthenticationCode.Ok).EndMessage();
        foreach (var (name, value) in new[] { ("server_version", "15.0 (fake)"), ("client_encoding", "UTF8"), ("DateStyle", "ISO, MDY") })
            b.StartMessage(BackendCode.ParameterStatus).WriteCString(name).WriteCString(value).EndMessage();
        b.BackendKeyData(ProcessId, Secret);
        b.ReadyForQuery(TransactionStatus.Idle);
        return WriteAsync(b);
    }

    public async Task<PgMessage?> ReadAsync()
    {
        var header = new byte[5];
        try
        {
            await Stream.ReadExactlyAsync(header);
        }
        catch (EndOfStreamException)
        {
            return null;
        }
        var payload = new byte[BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(1)) - 4];
        await Stream.ReadExactlyAsync(payload);
        return new PgMessage((char)header[0], payload);
    }

    /// <summary>Startup, then answers every Query with one row holding the query text, until Terminate.</summary>
    public async Task ServeSimpleQueriesAsync()
    {
        await CompleteStartupAsync();
        while (await ReadAsync() is { } m)
        {
            if (m.Type == 'X') return;
            if (m.Type != 'Q') continue;
            await WriteAsync(QueryResult(m.Text.TrimEnd('\0')));
        }
    }

    public static MessageBuilder QueryResult(string value)
    {
        var b = new MessageBuilder();
        b.StartMessage(BackendCode.RowDescription).WriteInt16(1).WriteCString("echo").WriteInt32(0).WriteInt16(0).WriteInt32(25).WriteInt16(-1).WriteInt32(-1).WriteInt16(0).EndMessage();
        var bytes = Encoding.UTF8.GetBytes(value);
        b.StartMessage(BackendCode.DataRow).WriteInt16(1).WriteInt32(bytes.Length).WriteBytes(bytes).EndMessage();
        b.StartMessage(BackendCode.CommandComplete).WriteCString("SELECT 1").EndMessage();
        b.ReadyForQuery(TransactionStatus.Idle);
        return b;
    }

    public void Kill() => _client.Client.Close(0);
}
