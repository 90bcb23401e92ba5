using MemorySql.Proxy;

namespace MemorySql.Hosting;

/// <summary>The database MemorySql serves: where the proxy relays clients, and how workers log in.</summary>
/// <param name="AdminConnectionString">Npgsql connection string of the role that owns the memory schema (workers, migrations).</param>
/// <param name="UpstreamHost">Host clients are relayed to.</param>
/// <param name="UpstreamPort">Port clients are relayed to.</param>
/// <param name="UpstreamTls">TLS towards the upstream, unless the configuration sets Proxy:Upstream:TlsMode.</param>
/// <param name="UpstreamCaFile">CA bundle for verify-ca/verify-full, unless configured.</param>
/// <param name="MemorySchemaInstalled">False when serving a database without the memory schema: the proxy relays, workers stay off.</param>
internal sealed record HostTarget(string AdminConnectionString, string UpstreamHost, int UpstreamPort, UpstreamTlsMode UpstreamTls,
    string? UpstreamCaFile, bool MemorySchemaInstalled);
