using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace MemorySql.Proxy.Sockets;

/// <summary>
/// Opens the proxy's client and upstream sockets as <see cref="EpollSocketStream"/>s on a small set of
/// <see cref="EpollLoop"/> threads (one per four cores, at least one), chosen round-robin per socket.
/// </summary>
internal static class EpollSocketEngine
{
    private static readonly Lazy<EpollLoop[]> Loops = new(() =>
        Enumerable.Range(0, Math.Max(1, Environment.ProcessorCount / 4)).Select(i => new EpollLoop($"MemorySql epoll {i}")).ToArray());
    private static int _next;

    /// <summary>Linux on x86-64 (where <c>struct epoll_event</c> is packed, as <see cref="EpollInterop.EpollEvent"/> is).</summary>
    public static bool IsSupported => OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64;

    /// <summary>Takes over a connected socket (an accepted client) that has not been used asynchronously.</summary>
    public static EpollSocketStream Wrap(Socket socket)
    {
        var loops = Loops.Value;
        var loop = loops[(int)((uint)Interlocked.Increment(ref _next) % (uint)loops.Length)];
        return new EpollSocketStream(socket, loop);
    }

    /// <summary>Connects without .NET's socket engine: a non-blocking connect, then the loop's writable edge.</summary>
    public static async Task<EpollSocketStream> ConnectAsync(Socket socket, EndPoint endPoint, CancellationToken cancellationToken)
    {
        socket.Blocking = false;
        try
        {
            socket.Connect(endPoint);
            return Wrap(socket);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress)
        {
        }
        var stream = Wrap(socket);
        try
        {
            while (true)
            {
                var observed = stream.WritableVersion;
                var error = (int)socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)!;
                // .NET reports SO_ERROR already translated to a SocketError value; a raw errno otherwise.
                if (error != 0) throw new SocketException((int)(Enum.IsDefined((SocketError)error) ? (SocketError)error : EpollInterop.ToSocketError(error)));
                if (socket.Poll(0, SelectMode.SelectWrite)) return stream;
                await stream.WaitWritableAsync(observed, cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Resolves a host name and connects to the first address that answers, like Socket.ConnectAsync(host, port).</summary>
    public static async Task<EpollSocketStream> ConnectTcpAsync(string host, int port, CancellationToken cancellationToken)
    {
        var addresses = IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
        SocketException? last = null;
        foreach (var address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                return await ConnectAsync(socket, new IPEndPoint(address, port), cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                last = e;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
        throw last ?? new SocketException((int)SocketError.HostNotFound);
    }
}
