using MemorySql.Embeddings;
using MemorySql.Embeddings.Llm;
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

    /// <param name="embeddings">Rewrites memory calls with these embeddings; null relays them unchanged.</param>
    /// <param name="llm">Answers reflect calls (with <paramref name="embeddings"/>); null: reflect is extractive.</param>
    public static async Task<FakeProxy> StartAsync(Func<FakeBackend, Task>? script = null, Action<ProxyOptions>? configure = null, FakeUpstream? upstream = null,
        IEmbeddingProvider? embeddings = null, ILlmProvider? llm = null)
    {
        upstream ??= new FakeUpstream(script);
        var options = new ProxyOptions { Port = 0, Upstream = { Host = "127.0.0.1", Port = upstream.Port, TlsMode = UpstreamTlsMode.Disable } };
        configure?.Invoke(options);
        var proxy = new ProxyServer(options, embeddings, NullLoggerFactory.Instance, llm, null);
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
