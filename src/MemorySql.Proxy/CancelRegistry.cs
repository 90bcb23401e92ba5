using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace MemorySql.Proxy;

/// <summary>
/// The cancel keys the proxy has handed out, each tied to exactly one live session. A CancelRequest is
/// forwarded only when process id and secret both match a session that is still open; the session then
/// sends it to its own upstream backend with that backend's key.
/// </summary>
internal sealed class CancelRegistry
{
    private readonly ConcurrentDictionary<int, ClientSession> _sessions = new();

    public int Count => _sessions.Count;

    /// <summary>Mints a key for the session: a process id unique among live sessions and a random secret.</summary>
    public (int ProcessId, byte[] Secret) Register(ClientSession session, int secretLength)
    {
        var secret = RandomNumberGenerator.GetBytes(secretLength);
        while (true)
        {
            // Positive, non-zero ids look like real backend pids to clients that print them.
            var processId = RandomNumberGenerator.GetInt32(1, int.MaxValue);
            if (_sessions.TryAdd(processId, session)) return (processId, secret);
        }
    }

    public void Unregister(int processId, ClientSession session) =>
        _sessions.TryRemove(new KeyValuePair<int, ClientSession>(processId, session));

    /// <summary>The live session the key belongs to, or null (wrong id, wrong secret, or ended).</summary>
    public ClientSession? Find(int processId, ReadOnlySpan<byte> secret)
    {
        if (!_sessions.TryGetValue(processId, out var session)) return null;
        var expected = session.CancelSecret;
        if (expected is null || expected.Length != secret.Length || !CryptographicOperations.FixedTimeEquals(expected, secret)) return null;
        return session.IsOpen ? session : null;
    }
}
