using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace MemorySql.Proxy.Sockets;

/// <summary>The few Linux system calls the epoll socket engine needs, called directly.</summary>
internal static class EpollInterop
{
    public const int EpollCloexec = 0x80000;
    public const int CtlAdd = 1;
    public const int CtlDel = 2;

    public const uint EpollIn = 0x001;
    public const uint EpollOut = 0x004;
    public const uint EpollErr = 0x008;
    public const uint EpollHup = 0x010;
    public const uint EpollRdHup = 0x2000;
    public const uint EpollEt = 1u << 31;

    public const int MsgDontWait = 0x40;
    public const int MsgNoSignal = 0x4000;

    public const int Eintr = 4;
    public const int Eagain = 11;

    /// <summary>
    /// <c>struct epoll_event</c>. It is packed on x86-64 only (12 bytes), which is why the engine is used only there
    /// (<see cref="EpollSocketEngine.IsSupported"/>).
    /// </summary>
    [StructLayout(LayoutKind.Sequential, Pack = 1)]
    public struct EpollEvent
    {
        public uint Events;
        public ulong Data;
    }

#pragma warning disable SYSLIB1054 // plain blittable signatures: DllImport marshals them without generated code or unsafe blocks
    [DllImport("libc", SetLastError = true)]
    public static extern int epoll_create1(int flags);

    [DllImport("libc", SetLastError = true)]
    public static extern int epoll_ctl(int epfd, int op, SafeSocketHandle fd, ref EpollEvent ev);

    /// <summary>Takes the address of a pinned event array: an array argument would be copied through native memory on every call.</summary>
    [DllImport("libc", SetLastError = true)]
    public static extern int epoll_wait(int epfd, nint events, int maxEvents, int timeout);

    [DllImport("libc", SetLastError = true)]
    public static extern nint recv(SafeSocketHandle fd, ref byte buffer, nint length, int flags);

    [DllImport("libc", SetLastError = true)]
    public static extern nint send(SafeSocketHandle fd, ref byte buffer, nint length, int flags);
#pragma warning restore SYSLIB1054

    /// <summary>The .NET name of a Linux errno, for exceptions that drivers' callers and our disconnect checks understand.</summary>
    public static SocketError ToSocketError(int errno) => errno switch
    {
        32 => SocketError.Shutdown,            // EPIPE
        103 => SocketError.ConnectionAborted,  // ECONNABORTED
        104 => SocketError.ConnectionReset,    // ECONNRESET
        107 => SocketError.NotConnected,       // ENOTCONN
        110 => SocketError.TimedOut,           // ETIMEDOUT
        111 => SocketError.ConnectionRefused,  // ECONNREFUSED
        113 => SocketError.HostUnreachable,    // EHOSTUNREACH
        101 => SocketError.NetworkUnreachable, // ENETUNREACH
        9 => SocketError.OperationAborted,     // EBADF: closed under us
        _ => SocketError.SocketError,
    };
}
