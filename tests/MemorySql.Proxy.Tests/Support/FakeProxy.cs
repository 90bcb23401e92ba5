using Microsoft.Extensions.Logging.Abstractions;

namespace MemorySql.Proxy.Tests.Support;

/// <summary>A proxy in front of a <see cref="FakeUpstream"/>, started and stopped by one test.</summary>
public sealed class FakeProxy : IAsyncDisposable
{
    private FakeProxy(FakeUpstream upstream, ProxyServer proxy)
    {
        Upstream = upstream;
        Proxy = proxy;
    }

    public FakeUpstream Upstream { get; }
    public ProxyServer Proxy { get; }
    public int Port => Proxy.LocalEndPoint.Port;

    public static async Task<FakeProxy> StartAsync(Func<FakeBackend, Task>? script = null, Action<ProxyOptions>? configure = null, FakeUpstream? upstream = null)
    {
        upstream ??= new FakeUpstream(script);
        var options = new ProxyOptions { Port = 0, Upstream = { Host = "127.0.0.1", Port = upstream.Port, TlsMode = UpstreamTlsMode.Disable } };
        configure?.Invoke(options);
        var proxy = new ProxyServer(options, null, NullLoggerFactory.Instance);
        await proxy.StartAsync(CancellationToken.None);
        return new FakeProxy(upstream, proxy);
    }

    /// <summary>A raw client through the proxy, logged in (the fake server trusts everyone).</summary>
    public async Task<RawPgConnection> LoginAsync(int minor = 0)
    {
        var c = await RawPgConnection.ConnectAsync(Port);
        var messages = await c.LoginAsync("tester", "", "fake", minor);
        Assert.Equal('Z', messages[^1].Type);
        return c;
    }

    public async ValueTask DisposeAsync()
    {
        await Proxy.DisposeAsync();
        await Upstream.DisposeAsync();
    }
}
