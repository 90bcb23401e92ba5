using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace MemorySql.Proxy.Sockets;

/// <summary>
/// One thread waiting in epoll for the sockets of many sessions, PgBouncer's design: edge-triggered
/// registrations made once per socket, each event waking the operation that waits for it inline on this
/// thread. Nothing that runs here may block (the relay does not; the workers never run here).
/// </summary>
internal sealed class EpollLoop
{
    private const int MaxEvents = 256;

    private readonly int _epoll;
    private readonly Lock _gate = new();
    private readonly Stack<int> _free = new();
    private EpollSocketStream?[] _streams = new EpollSocketStream?[256];
    private int _used;

    public EpollLoop(string name)
    {
        _epoll = EpollInterop.epoll_create1(EpollInterop.EpollCloexec);
        if (_epoll < 0) throw new SocketException((int)EpollInterop.ToSocketError(Marshal.GetLastPInvokeError()));
        new Thread(Run) { IsBackground = true, Name = name }.Start();
    }

    /// <summary>Registers a socket for readable and writable edges; returns the slot that names it in events.</summary>
    public int Register(EpollSocketStream stream, SafeSocketHandle handle)
    {
        int slot;
        lock (_gate)
        {
            if (!_free.TryPop(out slot))
            {
                slot = _used++;
                if (slot == _streams.Length)
                {
                    var grown = new EpollSocketStream?[_streams.Length * 2];
                    _streams.CopyTo(grown, 0);
                    Volatile.Write(ref _streams, grown);
                }
            }
            _streams[slot] = stream;
        }
        var ev = new EpollInterop.EpollEvent
        {
            Events = EpollInterop.EpollIn | EpollInterop.EpollOut | EpollInterop.EpollRdHup | EpollInterop.EpollEt,
            Data = (ulong)slot,
        };
        if (EpollInterop.epoll_ctl(_epoll, EpollInterop.CtlAdd, handle, ref ev) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            Release(slot);
            throw new SocketException((int)EpollInterop.ToSocketError(errno));
        }
        return slot;
    }

    /// <summary>Forgets a socket before it is closed. An event already taken for it may still arrive: it wakes nothing.</summary>
    public void Unregister(int slot, SafeSocketHandle handle)
    {
        var ev = default(EpollInterop.EpollEvent);
        // Failure is harmless: closing the socket removes it from the epoll set anyway.
        if (!handle.IsClosed) _ = EpollInterop.epoll_ctl(_epoll, EpollInterop.CtlDel, handle, ref ev);
        Release(slot);
    }

    private void Release(int slot)
    {
        lock (_gate)
        {
            _streams[slot] = null;
            _free.Push(slot);
        }
    }

    private void Run()
    {
        // Pinned for the life of the thread (which is the life of the process): the kernel writes into it directly.
        var events = GC.AllocateArray<EpollInterop.EpollEvent>(MaxEvents, pinned: true);
        var address = Marshal.UnsafeAddrOfPinnedArrayElement(events, 0);
        while (true)
        {
            var count = EpollInterop.epoll_wait(_epoll, address, MaxEvents, -1);
            if (count < 0)
            {
                if (Marshal.GetLastPInvokeError() == EpollInterop.Eintr) continue;
                Environment.FailFast("MemorySql: epoll_wait failed with errno " + Marshal.GetLastPInvokeError());
            }
            Dispatch(events, count);
        }
    }

    // Its own method (not the body of Run's endless loop) so that it is compiled once fully optimized with the
    // profile the tiered JIT gathers, instead of as Run's on-stack-replacement variant.
    private void Dispatch(EpollInterop.EpollEvent[] events, int count)
    {
        var streams = Volatile.Read(ref _streams);
        for (var i = 0; i < count; i++)
        {
            var slot = (int)events[i].Data;
            var stream = slot < streams.Length ? Volatile.Read(ref streams[slot]) : null;
            try
            {
                stream?.OnEvents(events[i].Events);
            }
            catch (Exception e)
            {
                // A continuation that throws must not take every other session down with this thread.
                Console.Error.WriteLine($"MemorySql: unhandled error in a socket continuation: {e}");
            }
        }
    }
}
