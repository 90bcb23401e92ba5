using System.IO.Pipelines;
using BenchmarkDotNet.Attributes;
using MemorySql.Protocol;

namespace MemorySql.Proxy.Benchmarks;

/// <summary>
/// The relay loop without sockets (Garnet's embedded style): bytes go into an in-memory pipe whose reader
/// continuation runs inline, so when FlushAsync returns the relay has already forwarded them to a stream
/// that only counts. What remains is the relay's own cost per batch: header walk, inspection, write.
/// </summary>
[MemoryDiagnoser]
public class RelayBenchmarks
{
    private Pipe _backendPipe = null!;
    private Pipe _frontendPipe = null!;
    private Pipe _largePipe = null!;
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
        var options = new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline,
            pauseWriterThreshold: 0, useSynchronizationContext: false);
        _backendPipe = new Pipe(options);
        // One segment big enough for the whole row, so the harness's own pipe does not allocate per write.
        _largePipe = new Pipe(new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline,
            pauseWriterThreshold: 0, minimumSegmentSize: 2 << 20, useSynchronizationContext: false));
        _frontendPipe = new Pipe(options);
        _toClient = new CountingStream();
        _toServer = new CountingStream();
        _backendLoop = new Relay(_backendPipe.Reader, new MessageSink(_toClient), new BackendInspector(), new ActivityClock()).RunAsync();
        _largeLoop = new Relay(_largePipe.Reader, new MessageSink(new CountingStream()), new BackendInspector(), new ActivityClock()).RunAsync();
        _frontendLoop = new Relay(_frontendPipe.Reader, new MessageSink(_toServer), new FrontendInspector(64 << 20), new ActivityClock()).RunAsync();

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
        _backendPipe.Writer.Complete();
        _frontendPipe.Writer.Complete();
        _largePipe.Writer.Complete();
        _largeLoop.GetAwaiter().GetResult();
        _backendLoop.GetAwaiter().GetResult();
        _frontendLoop.GetAwaiter().GetResult();
    }

    /// <summary>One query's response (5 messages, 60 bytes) from server to client.</summary>
    [Benchmark(Baseline = true)]
    public ValueTask<FlushResult> SelectResponse_5Messages() => _backendPipe.Writer.WriteAsync(_selectResponse);

    /// <summary>201 frontend messages in one read, forwarded with one write.</summary>
    [Benchmark]
    public ValueTask<FlushResult> Pipeline_201Messages() => _frontendPipe.Writer.WriteAsync(_pipeline);

    /// <summary>A 1 MiB DataRow: streamed in slices, never buffered whole.</summary>
    [Benchmark]
    public ValueTask<FlushResult> LargeDataRow_1MiB() => _largePipe.Writer.WriteAsync(_largeRow);
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
