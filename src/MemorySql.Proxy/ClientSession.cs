using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Security.Authentication;
using MemorySql.Protocol;
using MemorySql.Proxy.Rewriting;
using Microsoft.Extensions.Logging;

namespace MemorySql.Proxy;

/// <summary>
/// One client connection and its own upstream connection (session mode): TLS and startup negotiation,
/// the authentication exchange relayed to PostgreSQL, then two relay loops until either side leaves.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "RunAsync disposes everything the session owns when it ends.")]
internal sealed class ClientSession
{
    private static readonly byte[] TerminateMessage = new MessageBuilder(5).Terminate().ToArray();
    private static readonly TimeSpan FinalWriteTimeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(10);
    private static long _nextId;

    private readonly ProxyRuntime _runtime;
    private readonly Socket _socket;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _startupAbort = new();
    // Stops both relay loops (Abort, or one direction ended); canceled before the relay starts, they stop at once.
    private readonly CancellationTokenSource _relayStop = new();
    private readonly ActivityClock _clock = new();

    private Stream? _clientStream;
    private PipeReader? _clientReader;
    private MessageSink? _clientSink;
    private UpstreamConnection? _upstream;
    private PipeReader? _upstreamReader;
    private MessageSink? _upstreamSink;
    private int _processId;
    private byte[]? _cancelSecret;
    private int _upstreamProcessId;
    private byte[]? _upstreamSecret;
    private volatile bool _open;
    private volatile PgError? _abortReason;
    private Task? _relays;
    private bool _clientIsTls;
    private RewriteSession? _rewrite;
    private readonly List<(string Name, string Value)> _startupParameters = [];

    public ClientSession(ProxyRuntime runtime, Socket socket)
    {
        _runtime = runtime;
        _socket = socket;
        _logger = runtime.SessionLogger;
        Id = Interlocked.Increment(ref _nextId);
    }

    public long Id { get; }

    /// <summary>True from the moment the client holds a cancel key until the session ends.</summary>
    public bool IsOpen => _open;

    public byte[]? CancelSecret => _cancelSecret;

    public ActivityClock Clock => _clock;

    /// <summary>The task running this session (set by the server).</summary>
    public Task? Completion { get; set; }

    /// <summary>True once the session relays messages (after ReadyForQuery); the idle timeout applies from then on.</summary>
    public bool IsRelaying { get; private set; }

    /// <summary>Protocol minor version spoken with the client (0 or 2).</summary>
    public int ClientMinorVersion { get; private set; }

    public async Task RunAsync()
    {
        try
        {
            _socket.NoDelay = true;
            Stream network = _runtime.Options.UsesEpoll ? Sockets.EpollSocketEngine.Wrap(_socket) : new NetworkStream(_socket, ownsSocket: true);
            _clientStream = network;
            bool started;
            using (var startup = CancellationTokenSource.CreateLinkedTokenSource(_startupAbort.Token))
            {
                startup.CancelAfter(_runtime.Options.Limits.StartupTimeout);
                started = await StartAsync(network, startup.Token).ConfigureAwait(false);
            }
            if (started) await RelayAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (IsDisconnect(e))
        {
            _logger.LogDebug("Session {Session}: connection closed ({Reason})", Id, e.Message);
        }
        catch (OperationCanceledException)
        {
            _logger.LogDebug("Session {Session}: startup did not finish in time or the proxy is stopping", Id);
        }
        catch (Exception e)
        {
            _logger.LogError(e, "Session {Session} failed", Id);
        }
        finally
        {
            await CloseAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Ends the session from outside (idle timeout, shutdown); the client gets <paramref name="reason"/> if possible.</summary>
    public void Abort(PgError reason)
    {
        _abortReason = reason;
        try
        {
            _startupAbort.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
        CancelStartupRead(_clientReader);
        CancelStartupRead(_upstreamReader);
        StopRelays();
    }

    /// <summary>Wakes a read of the startup phase; the relay completes these readers when it takes over, which may race this.</summary>
    private static void CancelStartupRead(PipeReader? reader)
    {
        try
        {
            reader?.CancelPendingRead();
        }
        catch (Exception e) when (e is ObjectDisposedException or InvalidOperationException)
        {
        }
    }

    private void StopRelays()
    {
        try
        {
            _relayStop.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    // ---------------------------------------------------------------- startup and authentication

    private async Task<bool> StartAsync(Stream network, CancellationToken cancellationToken)
    {
        var handshake = new ClientHandshake(_socket, _runtime.Options, _runtime.ClientTls);
        HandshakeResult result;
        try
        {
            result = await handshake.RunAsync(network, cancellationToken).ConfigureAwait(false);
        }
        catch (PgProtocolException e)
        {
            _logger.LogInformation("Session {Session}: refused at startup: {Message}", Id, e.Message);
            await WriteDirectAsync(handshake.CurrentStream, PgError.Fatal(e.SqlState, e.Message), cancellationToken).ConfigureAwait(false);
            return false;
        }
        catch (AuthenticationException e)
        {
            _logger.LogInformation("Session {Session}: TLS handshake failed: {Message}", Id, e.Message);
            return false;
        }
        _clientStream = result.Stream;
        _clientIsTls = result.IsTls;
        if (result.Packet.Kind == StartupPacketKind.CancelRequest)
        {
            await _runtime.ForwardCancelAsync(result.Packet, cancellationToken).ConfigureAwait(false);
            return false;
        }
        try
        {
            return await AuthenticateAsync(result.Packet, cancellationToken).ConfigureAwait(false);
        }
        catch (PgProtocolException e)
        {
            _logger.LogInformation("Session {Session}: protocol violation during authentication: {Message}", Id, e.Message);
            await WriteDirectAsync(_clientStream!, PgError.Fatal(e.SqlState, e.Message), cancellationToken).ConfigureAwait(false);
            return false;
        }
        catch (Exception e) when (IsDisconnect(e) && _upstreamSink is not null && !_upstreamSink.IsBroken && _clientSink is { IsBroken: false })
        {
            // The upstream went away during authentication (the client side is still writable).
            _logger.LogInformation("Session {Session}: upstream connection lost during authentication: {Message}", Id, e.Message);
            await SendFinalErrorAsync(UpstreamLost()).ConfigureAwait(false);
            return false;
        }
    }

    private async Task<bool> AuthenticateAsync(StartupPacket startup, CancellationToken cancellationToken)
    {
        var toClient = new MessageBuilder();
        ClientMinorVersion = ProtocolVersions.Negotiate(startup.MinorVersion);
        if (ClientMinorVersion != startup.MinorVersion || startup.ProtocolOptions.Count > 0)
            toClient.NegotiateProtocolVersion(ClientMinorVersion, startup.ProtocolOptions);

        try
        {
            _upstream = await _runtime.Connector.ConnectAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (UpstreamUnavailableException e)
        {
            _logger.LogWarning("Session {Session}: {Message}", Id, e.Message);
            toClient.ErrorResponse(PgError.Fatal(SqlStates.UnableToConnect, "MemorySql " + e.Message));
            await WriteDirectAsync(_clientStream!, toClient.WrittenMemory, cancellationToken).ConfigureAwait(false);
            return false;
        }

        var readerOptions = new StreamPipeReaderOptions(bufferSize: 16 * 1024, minimumReadSize: 4 * 1024, leaveOpen: true, useZeroByteReads: true);
        _clientReader = PipeReader.Create(_clientStream!, readerOptions);
        _clientSink = new MessageSink(_clientStream!);
        _upstreamReader = PipeReader.Create(_upstream.Stream, readerOptions);
        _upstreamSink = new MessageSink(_upstream.Stream);

        // The upstream speaks 3.0: 3.2 only lengthens the cancel key, and the proxy issues the client's key itself.
        var startupMessage = new MessageBuilder().StartupMessage(0, startup.Parameters);
        await _upstreamSink.WriteMessagesAsync(startupMessage.WrittenMemory, cancellationToken).ConfigureAwait(false);

        while (true)
        {
            var message = await PipeMessages.ReadAsync(_upstreamReader, ProxyRuntime.StartupPhaseMaxPayload, "the upstream server", cancellationToken).ConfigureAwait(false);
            if (message is not { } m)
            {
                toClient.ErrorResponse(PgError.Fatal(SqlStates.ConnectionFailure, "the upstream PostgreSQL closed the connection during authentication"));
                await _clientSink.WriteMessagesAsync(toClient.WrittenMemory, cancellationToken).ConfigureAwait(false);
                return false;
            }
            switch (m.Type)
            {
                case BackendCode.Authentication:
                    if (!await RelayAuthenticationRequestAsync(m, toClient, cancellationToken).ConfigureAwait(false)) return false;
                    break;
                case BackendCode.BackendKeyData:
                    (_upstreamProcessId, _upstreamSecret) = BackendMessages.ReadBackendKeyData(m.Payload);
                    (_processId, _cancelSecret) = _runtime.Cancels.Register(this, ClientMinorVersion >= 2 ? 32 : 4);
                    _open = true;
                    toClient.BackendKeyData(_processId, _cancelSecret);
                    break;
                case BackendCode.ReadyForQuery:
                    toClient.WriteBytes(m.ToWire());
                    await _clientSink.WriteMessagesAsync(toClient.WrittenMemory, cancellationToken).ConfigureAwait(false);
                    _logger.LogDebug("Session {Session}: ready (user {User}, database {Database})", Id, startup.GetParameter("user"), startup.GetParameter("database"));
                    return true;
                case BackendCode.ErrorResponse:
                    toClient.WriteBytes(m.ToWire());
                    await _clientSink.WriteMessagesAsync(toClient.WrittenMemory, cancellationToken).ConfigureAwait(false);
                    _logger.LogDebug("Session {Session}: upstream refused the login: {Error}", Id, ErrorFields.Parse(m.Payload));
                    return false;
                case BackendCode.NegotiateProtocolVersion:
                    break; // the proxy asked for plain 3.0; the client's negotiation is with the proxy
                case BackendCode.ParameterStatus:
                {
                    // The rewrite follows client_encoding and standard_conforming_strings from here on.
                    _startupParameters.Add(BackendInspector.ReadParameterStatus(m.Payload));
                    toClient.WriteBytes(m.ToWire());
                    break;
                }
                case BackendCode.NoticeResponse:
                    toClient.WriteBytes(m.ToWire());
                    break;
                default:
                    throw new PgProtocolException($"the upstream server sent message type '{(char)m.Type}' during authentication");
            }
        }
    }

    /// <summary>Passes one AuthenticationXXX request to the client and, when the server expects one, the client's answer back.</summary>
    private async Task<bool> RelayAuthenticationRequestAsync(WholeMessage request, MessageBuilder toClient, CancellationToken cancellationToken)
    {
        if (request.Payload.Length < 4) throw new PgProtocolException("the upstream server sent a truncated authentication request");
        var code = BinaryPrimitives.ReadInt32BigEndian(request.Payload);
        if (code == AuthenticationCode.Sasl)
        {
            var offered = SaslMechanisms.Parse(request.Payload.AsSpan(4));
            var withoutBinding = SaslMechanisms.WithoutChannelBinding(offered);
            if (withoutBinding.Count == 0)
            {
                toClient.ErrorResponse(PgError.Fatal(SqlStates.InvalidAuthorization,
                    $"the upstream PostgreSQL offers only {string.Join(", ", offered)}; channel binding cannot pass through MemorySql",
                    hint: "Allow SCRAM-SHA-256 without channel binding for this role in the upstream server."));
                await _clientSink!.WriteMessagesAsync(toClient.WrittenMemory, cancellationToken).ConfigureAwait(false);
                return false;
            }
            // Channel binding can never pass through (the client's TLS ends here). Which list lets clients still
            // log in depends on the client's connection (see docs/proxy.md, "Channel binding"):
            // * plaintext: drivers treat -PLUS over plaintext as an attack (libpq and Npgsql refuse), so strip it;
            // * TLS: keep it, so a client with channel_binding=disable answers "n" (not "y", which a TLS upstream
            //   refuses); a client that picks -PLUS gets an explanation below.
            if (_clientIsTls) toClient.WriteBytes(request.ToWire());
            else toClient.AuthenticationSasl(withoutBinding);
        }
        else
        {
            toClient.WriteBytes(request.ToWire());
        }

        if (!AuthenticationCode.ExpectsClientResponse(code)) return true;

        await _clientSink!.WriteMessagesAsync(toClient.WrittenMemory, cancellationToken).ConfigureAwait(false);
        toClient.Clear();
        var response = await PipeMessages.ReadAsync(_clientReader!, ProxyRuntime.StartupPhaseMaxPayload, "the client", cancellationToken).ConfigureAwait(false);
        if (response is not { } r || r.Type == FrontendCode.Terminate) return false;
        if (r.Type != FrontendCode.Password)
        {
            toClient.ErrorResponse(PgError.Fatal(SqlStates.ProtocolViolation, $"expected password response, got message type {r.Type}"));
            await _clientSink.WriteMessagesAsync(toClient.WrittenMemory, cancellationToken).ConfigureAwait(false);
            return false;
        }
        if (code == AuthenticationCode.Sasl && ChannelBindingProblem(r.Payload) is { } problem)
        {
            toClient.ErrorResponse(problem);
            await _clientSink.WriteMessagesAsync(toClient.WrittenMemory, cancellationToken).ConfigureAwait(false);
            return false;
        }
        await _upstreamSink!.WriteMessagesAsync(r.ToWire(), cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// Looks at a SASLInitialResponse (mechanism name, int32 length, client-first-message) for the two
    /// choices that cannot succeed through the proxy, and explains them instead of letting PostgreSQL
    /// refuse the login with a SCRAM error that names no cause.
    /// </summary>
    private PgError? ChannelBindingProblem(byte[] payload)
    {
        var nameEnd = Array.IndexOf(payload, (byte)0);
        if (nameEnd < 0) return null;
        var mechanism = System.Text.Encoding.UTF8.GetString(payload, 0, nameEnd);
        var data = payload.Length >= nameEnd + 5 ? payload.AsSpan(nameEnd + 5) : [];
        const string Hint = "Set channel_binding=disable in the client (Npgsql: Channel Binding=Disable) and connect to MemorySql with TLS " +
                            "(sslmode=require): the connection stays encrypted on both legs. See docs/proxy.md, \"Channel binding\".";
        if (mechanism.EndsWith("-PLUS", StringComparison.Ordinal))
        {
            return PgError.Fatal(SqlStates.ProtocolViolation,
                $"SCRAM channel binding ({mechanism}) cannot pass through MemorySql: the client's TLS connection ends at the proxy, not at PostgreSQL",
                hint: Hint);
        }
        if (_upstream!.IsTls && data.StartsWith("y,"u8))
        {
            return PgError.Fatal(SqlStates.ProtocolViolation,
                "SCRAM channel binding cannot pass through MemorySql while its connection to PostgreSQL uses TLS",
                detail: "The client announced that it supports channel binding but believes the server does not (GS2 flag 'y'); PostgreSQL refuses that over TLS as a possible downgrade attack.",
                hint: Hint + " Or set Proxy:Upstream:TlsMode=Disable for an upstream on the same host.");
        }
        return null;
    }

    // ---------------------------------------------------------------- relay

    private async Task RelayAsync()
    {
        _clock.Touch();
        IsRelaying = true;
        _rewrite = _runtime.Plans is null ? null : new RewriteSession(_runtime.Plans, _runtime.Embeddings!, _logger, Id,
            _runtime.Llm is null ? null : new ReflectSynthesizer(_runtime.Llm, _runtime.LlmUsage, _logger));
        foreach (var (name, value) in _startupParameters) _rewrite?.OnParameterStatus(name, value);
        var frontendInspector = new FrontendInspector(_runtime.Options.Limits.MaxMessageSize, _rewrite);
        var backendInspector = new BackendInspector(_upstreamProcessId, _processId, _rewrite);
        // The relay reads the sockets itself from here on; what the startup phase's readers hold goes first.
        var frontend = new Relay(_clientStream!, _upstreamSink!, frontendInspector, _clock, await TakeBufferedAsync(_clientReader!).ConfigureAwait(false));
        var backend = new Relay(_upstream!.Stream, _clientSink!, backendInspector, _clock, await TakeBufferedAsync(_upstreamReader!).ConfigureAwait(false));

        var frontendTask = RunRelayAsync(frontend, _relayStop.Token);
        var backendTask = RunRelayAsync(backend, _relayStop.Token);
        _relays = Task.WhenAll(frontendTask, backendTask);
        var first = await Task.WhenAny(frontendTask, backendTask).ConfigureAwait(false);
        var (end, error) = await first.ConfigureAwait(false);
        // A statement of the proxy's own waiting for its answer gets none now.
        _rewrite?.Abort();

        if (first == frontendTask && error is PgProtocolException violation)
        {
            // PostgreSQL answers everything before a malformed message and then reports it: forward a Terminate
            // after the valid messages, relay the answers until the server closes, then send the error.
            _logger.LogInformation("Session {Session}: client protocol violation: {Message}", Id, violation.Message);
            await TerminateUpstreamAsync().ConfigureAwait(false);
            await Task.WhenAny(backendTask, Task.Delay(DrainTimeout)).ConfigureAwait(false);
            await SendFinalErrorAsync(PgError.Fatal(violation.SqlState, violation.Message)).ConfigureAwait(false);
        }
        else if (first == frontendTask)
            await OnFrontendEndedAsync(end, error).ConfigureAwait(false);
        else
            // The upstream may close before the frontend loop has returned from forwarding the client's Terminate:
            // that close is the answer to it, and the client must not be told the connection was lost.
            await OnBackendEndedAsync(end, error,
                frontendInspector.SawTerminate || (backendInspector.LastMessageType == BackendCode.ErrorResponse && backend.AtMessageBoundary)).ConfigureAwait(false);

        // Stop the other direction and let it finish; if it is stuck writing to a peer that stopped reading,
        // closing the sockets (CloseAsync) ends it.
        StopRelays();
        await Task.WhenAny(first == frontendTask ? backendTask : frontendTask, Task.Delay(FinalWriteTimeout)).ConfigureAwait(false);
    }

    /// <summary>The bytes a startup-phase reader has read ahead (a client may pipeline queries after its password), copied once.</summary>
    private static async ValueTask<ReadOnlySequence<byte>> TakeBufferedAsync(PipeReader reader)
    {
        var buffered = ReadOnlySequence<byte>.Empty;
        if (reader.TryRead(out var result))
        {
            buffered = new ReadOnlySequence<byte>(result.Buffer.ToArray());
            reader.AdvanceTo(result.Buffer.End);
        }
        await reader.CompleteAsync().ConfigureAwait(false);
        return buffered;
    }

    private static async Task<(RelayEnd End, Exception? Error)> RunRelayAsync(Relay relay, CancellationToken stop)
    {
        try
        {
            return (await relay.RunAsync(stop).ConfigureAwait(false), null);
        }
        catch (Exception e)
        {
            return (RelayEnd.Canceled, e);
        }
    }

    private async Task OnFrontendEndedAsync(RelayEnd end, Exception? error)
    {
        switch (error)
        {
            case null when end == RelayEnd.Stopped:
                _logger.LogDebug("Session {Session}: client terminated", Id);
                return; // Terminate went upstream; the server closes its side
            case null when end == RelayEnd.Canceled && _abortReason is { } reason:
                await SendFinalErrorAsync(reason).ConfigureAwait(false);
                await TerminateUpstreamAsync().ConfigureAwait(false);
                return;
            case null:
                _logger.LogDebug("Session {Session}: client disconnected without Terminate", Id);
                await TerminateUpstreamAsync().ConfigureAwait(false);
                return;
            case PgProtocolException violation:
                _logger.LogInformation("Session {Session}: client protocol violation: {Message}", Id, violation.Message);
                await SendFinalErrorAsync(PgError.Fatal(violation.SqlState, violation.Message)).ConfigureAwait(false);
                await TerminateUpstreamAsync().ConfigureAwait(false);
                return;
            case var e when IsDisconnect(e) && _upstreamSink!.IsBroken:
                _logger.LogInformation("Session {Session}: upstream connection lost while sending: {Message}", Id, e.Message);
                await SendFinalErrorAsync(UpstreamLost()).ConfigureAwait(false);
                return;
            case var e when IsDisconnect(e):
                _logger.LogDebug("Session {Session}: client connection lost: {Message}", Id, e.Message);
                await TerminateUpstreamAsync().ConfigureAwait(false);
                return;
            default:
                _logger.LogError(error, "Session {Session}: client relay failed", Id);
                await SendFinalErrorAsync(PgError.Fatal(SqlStates.SystemError, "MemorySql internal error: " + error.Message)).ConfigureAwait(false);
                await TerminateUpstreamAsync().ConfigureAwait(false);
                return;
        }
    }

    private async Task OnBackendEndedAsync(RelayEnd end, Exception? error, bool upstreamSaidWhy)
    {
        switch (error)
        {
            case null when end == RelayEnd.SourceClosed:
                // After a FATAL ErrorResponse (e.g. 57P01 on shutdown) the client already knows why.
                if (!upstreamSaidWhy)
                {
                    _logger.LogInformation("Session {Session}: the upstream server closed the connection", Id);
                    await SendFinalErrorAsync(UpstreamLost()).ConfigureAwait(false);
                }
                return;
            case null when end == RelayEnd.SourceClosedMidMessage:
                _logger.LogInformation("Session {Session}: the upstream server closed the connection in the middle of a message", Id);
                return; // the client's stream stops mid-message: nothing can be added, the close says it
            case null when end == RelayEnd.Canceled && _abortReason is { } reason:
                await SendFinalErrorAsync(reason).ConfigureAwait(false);
                await TerminateUpstreamAsync().ConfigureAwait(false);
                return;
            case null:
                return;
            case PgProtocolException violation:
                _logger.LogWarning("Session {Session}: {Message}", Id, violation.Message);
                await SendFinalErrorAsync(PgError.Fatal(SqlStates.ProtocolViolation, violation.Message)).ConfigureAwait(false);
                return;
            case var e when IsDisconnect(e) && _clientSink!.IsBroken:
                _logger.LogDebug("Session {Session}: client connection lost while receiving: {Message}", Id, e.Message);
                await TerminateUpstreamAsync().ConfigureAwait(false);
                return;
            case var e when IsDisconnect(e):
                _logger.LogInformation("Session {Session}: upstream connection lost: {Message}", Id, e.Message);
                if (!upstreamSaidWhy) await SendFinalErrorAsync(UpstreamLost()).ConfigureAwait(false);
                return;
            default:
                _logger.LogError(error, "Session {Session}: upstream relay failed", Id);
                await SendFinalErrorAsync(PgError.Fatal(SqlStates.SystemError, "MemorySql internal error: " + error.Message)).ConfigureAwait(false);
                await TerminateUpstreamAsync().ConfigureAwait(false);
                return;
        }
    }

    private PgError UpstreamLost() => PgError.Fatal(SqlStates.ConnectionFailure,
        $"the connection between MemorySql and the upstream PostgreSQL ({_runtime.Connector.Description}) was lost",
        hint: "The server may have been restarted or the connection terminated; reconnect.");

    private async Task SendFinalErrorAsync(PgError error)
    {
        if (_clientSink is null) return;
        var message = new MessageBuilder().ErrorResponse(error).WrittenMemory;
        await _clientSink.TryWriteFinalAsync(message, FinalWriteTimeout).ConfigureAwait(false);
    }

    private async Task TerminateUpstreamAsync()
    {
        if (_upstreamSink is null) return;
        await _upstreamSink.TryWriteFinalAsync(TerminateMessage, FinalWriteTimeout).ConfigureAwait(false);
    }

    // ---------------------------------------------------------------- cancel

    /// <summary>Sends a CancelRequest with the upstream backend's own key on a new connection, as PostgreSQL requires.</summary>
    public async Task ForwardCancelAsync(CancellationToken cancellationToken)
    {
        if (!_open || _upstreamSecret is null) return;
        _rewrite?.CancelStatement(); // a statement the proxy is still rewriting has not (all) reached the server: stop it here
        using var connection = await _runtime.Connector.ConnectAsync(cancellationToken).ConfigureAwait(false);
        if (!_open) return; // the session ended while connecting: its backend may belong to someone else by now
        var request = new MessageBuilder(16).CancelRequest(_upstreamProcessId, _upstreamSecret).WrittenMemory;
        await connection.Stream.WriteAsync(request, cancellationToken).ConfigureAwait(false);
        await connection.Stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        // PostgreSQL closes the connection once it has signalled the backend; wait for that (briefly).
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        wait.CancelAfter(TimeSpan.FromSeconds(5));
        try
        {
            var one = new byte[1];
            _ = await connection.Stream.ReadAsync(one, wait.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException || IsDisconnect(e))
        {
        }
        _logger.LogDebug("Session {Session}: forwarded a cancel request", Id);
    }

    // ---------------------------------------------------------------- helpers

    private static async Task WriteDirectAsync(Stream stream, PgError error, CancellationToken cancellationToken) =>
        await WriteDirectAsync(stream, new MessageBuilder().ErrorResponse(error).WrittenMemory, cancellationToken).ConfigureAwait(false);

    private static async Task WriteDirectAsync(Stream stream, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        try
        {
            await stream.WriteAsync(data, cancellationToken).ConfigureAwait(false);
            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (IsDisconnect(e) || e is OperationCanceledException)
        {
        }
    }

    private static bool IsDisconnect(Exception e) =>
        e is IOException or SocketException or ObjectDisposedException or EndOfStreamException or AuthenticationException
        || (e is InvalidOperationException && e.Message.Contains("completed", StringComparison.OrdinalIgnoreCase));

    private async Task CloseAsync()
    {
        _open = false;
        if (_cancelSecret is not null) _runtime.Cancels.Unregister(_processId, this);
        _runtime.Sessions.TryRemove(Id, out _);
        // Sockets first: a relay loop still writing fails at once, before its buffers go back to the pool.
        try
        {
            _upstream?.Dispose();
        }
        catch (Exception e) when (IsDisconnect(e))
        {
        }
        try
        {
            if (_clientStream is not null) await _clientStream.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (IsDisconnect(e))
        {
        }
        _socket.Dispose();
        if (_relays is not null) await Task.WhenAny(_relays, Task.Delay(FinalWriteTimeout)).ConfigureAwait(false);
        try
        {
            if (_clientReader is not null) await _clientReader.CompleteAsync().ConfigureAwait(false);
            if (_upstreamReader is not null) await _upstreamReader.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (IsDisconnect(e) || e is InvalidOperationException)
        {
        }
        _startupAbort.Dispose();
        _relayStop.Dispose();
    }
}
