namespace MemorySql.Eval;

/// <summary>
/// Where an evaluation runs: the admin connection (to create and drop the workspaces) straight to
/// PostgreSQL, and the proxy every memory call goes through, as a client would.
/// </summary>
/// <param name="AdminConnectionString">Npgsql connection string of the memory schema's owner, direct to PostgreSQL.</param>
/// <param name="ProxyHost">The proxy's host.</param>
/// <param name="ProxyPort">The proxy's port.</param>
/// <param name="Database">The database behind the proxy.</param>
internal sealed record EvalTarget(string AdminConnectionString, string ProxyHost, int ProxyPort, string Database);
