using System.Threading.Tasks.Sources;
using BenchmarkDotNet.Attributes;
using MemorySql.Protocol;

namespace MemorySql.Proxy.Benchmarks;

/// <summary>
/// The relay loop without sockets (Garnet's embedded style): bytes are fed to an in-memory stream that completes
/// the relay's pending read inline, so when Feed returns the relay has already forwarded them to a stream that
/// only counts. What remains is the relay's own cost per batch: receive, header walk, inspection, write.
/// </summary>
[MemoryDiagnoser]
public class RelayBenchmarks
{
    private FeedStream _backendFeed = null!;
    private FeedStream _frontendFeed = null!;
    private FeedStream _largeFeed = null!;
    private CountingStream _toClient = null!;
    private CountingStream _toServer = null!;
    private Task _backendLoop = null!;
    private Task _frontendLoop = null!;
    private Task _largeLoop = null!;
    private byte[] _selectResponse = null!;
    private byte[] _pipeline = null!;
    private byte[] _largeRow = null!;

    [GlobalSetup]
    public void Setup()
    {
        _backendFeed = new FeedStream();
        _largeFeed = new FeedStream();
        _frontendFeed = new FeedStream();
        _toClient = new CountingStream();
        _toServer = new CountingStream();
        _backendLoop = new Relay(_backendFeed, new MessageSink(_toClient), new BackendInspector(), new ActivityClock()).RunAsync();
        _largeLoop = new Relay(_largeFeed, new MessageSink(new CountingStream()), new BackendInspector(), new ActivityClock()).RunAsync();
        _frontendLoop = new Relay(_frontendFeed, new MessageSink(_toServer), new FrontendInspector(64 << 20), new ActivityClock()).RunAsync();

        // What PostgreSQL answers to one pgbench -S transaction in extended mode: 2 T D C Z.
        var b = new MessageBuilder();
        b.StartMessage(BackendCode.BindComplete).EndMessage();
        b.StartMessage(BackendCode.RowDescription).WriteInt16(1).WriteCString("abalance").WriteInt32(16400).WriteInt16(3).WriteInt32(23).WriteInt16(4).WriteInt32(-1).WriteInt16(0).EndMessage();
        b.StartMessage(BackendCode.DataRow).WriteInt16(1).WriteInt32(4).WriteBytes("1234"u8).EndMessage();
        b.StartMessage(BackendCode.CommandComplete).WriteCString("SELECT 1").EndMessage();
        b.ReadyForQuery(TransactionStatus.Idle);
        _selectResponse = b.ToArray();

        // 100 Bind/Execute pairs and one Sync: a pipelining client's batch.
        var p = new MessageBuilder();
        for (var i = 0; i < 100; i++)
        {
            p.StartMessage(FrontendCode.Bind).WriteCString("").WriteCString("s1").WriteInt16(0).WriteInt16(1).WriteInt32(4).WriteBytes("1234"u8).WriteInt16(0).EndMessage();
            p.StartMessage(FrontendCode.Execute).WriteCString("").WriteInt32(0).EndMessage();
        }
        p.Sync();
        _pipeline = p.ToArray();

        // One 1 MiB DataRow, streamed.
        var row = new MessageBuilder();
        row.StartMessage(BackendCode.DataRow).WriteInt16(1).WriteInt32(1 << 20).WriteBytes(new byte[1 << 20]).EndMessage();
        row.ReadyForQuery(TransactionStatus.Idle);
        _largeRow = row.ToArray();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _backendFeed.Complete();
        _frontendFeed.Complete();
        _largeFeed.Complete();
        _largeLoop.GetAwaiter().GetResult();
        _backendLoop.GetAwaiter().GetResult();
        _frontendLoop.GetAwaiter().GetResult();
    }

    /// <summary>One query's response (5 messages, 60 bytes) from server to client.</summary>
    [Benchmark(Baseline = true)]
    public void SelectResponse_5Messages() => _backendFeed.Feed(_selectResponse);

    /// <summary>201 frontend messages in one read, forwarded with one write.</summary>
    [Benchmark]
    public void Pipeline_201Messages() => _frontendFeed.Feed(_pipeline);

    /// <summary>A 1 MiB DataRow: streamed in slices, never buffered whole.</summary>
    [Benchmark]
    public void LargeDataRow_1MiB() => _largeFeed.Feed(_largeRow);
}

/// <summary>A write-only stream that counts bytes and completes every write synchronously.</summary>
internal sealed class CountingStream : Stream
{
    public long Count { get; private set; }
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => Count;
    public override long Position { get => Count; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => Count += count;
    public override void Write(ReadOnlySpan<byte> buffer) => Count += buffer.Length;

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Count += buffer.Length;
        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// A read-only stream fed by the benchmark: <see cref="Feed"/> completes the reader's pending read inline (as the
/// epoll loop does), and later reads take the rest of the fed bytes synchronously until they are gone.
/// </summary>
internal sealed class FeedStream : Stream, IValueTaskSource<int>
{
    private ManualResetValueTaskSourceCore<int> _core = new() { RunContinuationsAsynchronously = false };
    private ReadOnlyMemory<byte> _pending;
    private Memory<byte> _target;
    private bool _waiting;
    private bool _completed;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (!_pending.IsEmpty || _completed) return new ValueTask<int>(Take(buffer));
        _target = buffer;
        _waiting = true;
        _core.Reset();
        return new ValueTask<int>(this, _core.Version);
    }

    public void Feed(ReadOnlyMemory<byte> data)
    {
        _pending = data;
        if (!_waiting) return;
        _waiting = false;
        _core.SetResult(Take(_target));
    }

    public void Complete()
    {
        _completed = true;
        if (!_waiting) return;
        _waiting = false;
        _core.SetResult(0);
    }

    private int Take(Memory<byte> buffer)
    {
        var n = Math.Min(buffer.Length, _pending.Length);
        _pending[..n].CopyTo(buffer);
        _pending = _pending[n..];
        return n;
    }

    int IValueTaskSource<int>.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
