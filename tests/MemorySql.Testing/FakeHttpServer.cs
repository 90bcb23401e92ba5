using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace MemorySql.Testing;

/// <summary>What a fake server sends back: the status, a JSON body and any extra headers.</summary>
public interface IFakeHttpReply
{
    int Status { get; }
    string Body { get; }
    IReadOnlyDictionary<string, string>? Headers { get; }
}

/// <summary>
/// A real HTTP server (HttpListener on 127.0.0.1, a free port) that answers every request as a test script
/// tells it, so the client under test is the real HTTP provider. A subclass says what one request means
/// (<see cref="Parse"/>); this class records every request, counts them and the most it had in flight at once,
/// and aborts the response of a script cancelled by <see cref="DisposeAsync"/>.
/// </summary>
public abstract class FakeHttpServer<TRequest, TReply> : IAsyncDisposable where TReply : IFakeHttpReply
{
    private readonly HttpListener _listener = new();
    private readonly Func<TRequest, CancellationToken, Task<TReply>> _script;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Task _loop;
    private int _requestCount;
    private int _inFlight;
    private int _maxInFlight;

    protected FakeHttpServer(Func<TRequest, CancellationToken, Task<TReply>> script)
    {
        _script = script;
        Port = FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}/");
        _listener.Start();
        _loop = Task.Run(AcceptLoopAsync);
    }

    public int Port { get; }
    public string BaseUrl => $"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}/v1";
    public int RequestCount => Volatile.Read(ref _requestCount);
    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    /// <summary>Every request, in the order they arrived.</summary>
    protected ConcurrentQueue<TRequest> Received { get; } = new();

    /// <summary>
    /// What request <paramref name="number"/> (1-based) means, from its body as text (which may not be JSON:
    /// record what can be read and let the test notice), arriving <paramref name="arrivedAt"/> after the server started.
    /// </summary>
    protected abstract TRequest Parse(int number, HttpListenerRequest request, string body, TimeSpan arrivedAt);

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException || _stopping.IsCancellationRequested)
            {
                return;
            }
            _ = Task.Run(() => HandleAsync(context));
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        var inFlight = Interlocked.Increment(ref _inFlight);
        UpdateMax(inFlight);
        try
        {
            var number = Interlocked.Increment(ref _requestCount);
            string body;
            using (var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8))
                body = await reader.ReadToEndAsync();
            var request = Parse(number, context.Request, body, _clock.Elapsed);
            Received.Enqueue(request);
            TReply reply;
            try
            {
                reply = await _script(request, _stopping.Token);
            }
            catch (OperationCanceledException)
            {
                context.Response.Abort();
                return;
            }
            context.Response.StatusCode = reply.Status;
            context.Response.ContentType = "application/json";
            foreach (var (name, value) in reply.Headers ?? new Dictionary<string, string>())
                context.Response.Headers[name] = value;
            var bytes = Encoding.UTF8.GetBytes(reply.Body);
            context.Response.ContentLength64 = bytes.Length;
            await context.Response.OutputStream.WriteAsync(bytes);
            context.Response.Close();
        }
        catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The client gave up (timeout, cancellation) or the server is stopping.
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    private void UpdateMax(int value)
    {
        var current = Volatile.Read(ref _maxInFlight);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref _maxInFlight, value, current);
            if (seen == current) return;
            current = seen;
        }
    }

    private static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        _listener.Stop();
        _listener.Close();
        try
        {
            await _loop;
        }
        catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
        {
        }
        _stopping.Dispose();
    }
}
