using System.Buffers;
using MemorySql.Protocol;

namespace MemorySql.Proxy.Tests;

/// <summary>
/// The relay loop on its own, over in-memory streams that hand out bytes in chosen pieces: how messages that
/// arrive split, whole, pipelined or larger than its buffer come out, and how it ends.
/// </summary>
public sealed class RelayTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task MessagesArrivingOneByteAtATime_ComeOutUnchanged_AndWholeOnesAreInspectedOnce()
    {
        var wire = Messages((FrontendCode.Query, 40), (FrontendCode.Bind, 7), (FrontendCode.Sync, 0));
        var source = new PieceStream(wire, pieceSize: 1);
        var inspector = new RecordingInspector(whole: FrontendCode.Query);
        var destination = new MemoryStream();

        var end = await new Relay(source, new MessageSink(destination), inspector).RunAsync().WaitAsync(Patience);

        Assert.Equal(RelayEnd.SourceClosed, end);
        Assert.Equal(wire, destination.ToArray());
        Assert.Equal([FrontendCode.Query], inspector.Inspected.Select(m => m[0]));
        Assert.Equal(wire[..45], inspector.Inspected[0]);
    }

    [Fact]
    public async Task WholeMessageLargerThanTheBuffer_IsInspectedWhole()
    {
        var size = 5 * Relay.BufferSize + 123;
        var wire = Messages((FrontendCode.Sync, 0), (FrontendCode.Query, size), (FrontendCode.Sync, 0));
        var inspector = new RecordingInspector(whole: FrontendCode.Query);
        var destination = new MemoryStream();

        var end = await new Relay(new PieceStream(wire, pieceSize: 1000), new MessageSink(destination), inspector).RunAsync().WaitAsync(Patience);

        Assert.Equal(RelayEnd.SourceClosed, end);
        Assert.Equal(wire, destination.ToArray());
        var query = Assert.Single(inspector.Inspected);
        Assert.Equal(MessageHeader.Size + size, query.Length);
        Assert.Equal(wire.AsSpan(MessageHeader.Size, query.Length).ToArray(), query);
    }

    [Fact]
    public async Task LargeStreamedMessage_IsForwardedAsItArrives_NotBufferedWhole()
    {
        var size = 4 << 20;
        var wire = Messages((BackendCode.DataRow, size), (BackendCode.ReadyForQuery, 1));
        var destination = new RecordingStream();

        var end = await new Relay(new PieceStream(wire, pieceSize: 64 * 1024), new MessageSink(destination), new RecordingInspector()).RunAsync().WaitAsync(Patience);

        Assert.Equal(RelayEnd.SourceClosed, end);
        Assert.Equal(wire, destination.Written.ToArray());
        Assert.True(destination.LargestWrite <= 64 * 1024, $"a write of {destination.LargestWrite} bytes: the row was buffered");
    }

    [Fact]
    public async Task PipelinedMessages_AreForwardedWithOneWritePerRead()
    {
        var wire = Messages(Enumerable.Range(0, 200).Select(_ => (FrontendCode.Execute, 9)).Append((FrontendCode.Sync, 0)).ToArray());
        var destination = new RecordingStream();

        await new Relay(new PieceStream(wire, pieceSize: wire.Length), new MessageSink(destination), new RecordingInspector()).RunAsync().WaitAsync(Patience);

        Assert.Equal(1, destination.Writes);
        Assert.Equal(wire, destination.Written.ToArray());
    }

    [Fact]
    public async Task BytesReadAheadByTheStartupPhase_AreRelayedFirst()
    {
        var wire = Messages((FrontendCode.Query, 10), (FrontendCode.Query, 20));
        var destination = new MemoryStream();
        var inspector = new RecordingInspector(whole: FrontendCode.Query);

        // The first message and a part of the second were read ahead; the rest comes from the stream.
        var relay = new Relay(new PieceStream(wire[20..], pieceSize: 3), new MessageSink(destination), inspector, buffered: new ReadOnlySequence<byte>(wire[..20]));
        var end = await relay.RunAsync().WaitAsync(Patience);

        Assert.Equal(RelayEnd.SourceClosed, end);
        Assert.Equal(wire, destination.ToArray());
        Assert.Equal(2, inspector.Inspected.Count);
    }

    [Fact]
    public async Task SourceClosingInsideAMessage_EndsAsClosedMidMessage()
    {
        var wire = Messages((BackendCode.DataRow, 100));
        var destination = new MemoryStream();
        var relay = new Relay(new PieceStream(wire[..50], pieceSize: 7), new MessageSink(destination), new RecordingInspector());

        Assert.Equal(RelayEnd.SourceClosedMidMessage, await relay.RunAsync().WaitAsync(Patience));
        Assert.False(relay.AtMessageBoundary);
        Assert.Equal(wire[..50], destination.ToArray());
    }

    [Fact]
    public async Task SourceClosingInsideAWholeMessage_EndsAsClosedMidMessage_WithoutForwardingIt()
    {
        var wire = Messages((FrontendCode.Sync, 0), (FrontendCode.Query, 100));
        var destination = new MemoryStream();
        var relay = new Relay(new PieceStream(wire[..60], pieceSize: 60), new MessageSink(destination), new RecordingInspector(whole: FrontendCode.Query));

        Assert.Equal(RelayEnd.SourceClosedMidMessage, await relay.RunAsync().WaitAsync(Patience));
        Assert.Equal(wire[..5], destination.ToArray());
    }

    [Fact]
    public async Task InvalidHeader_ForwardsWhatCameBefore_ThenThrows()
    {
        var wire = Messages((FrontendCode.Sync, 0), (FrontendCode.Sync, 0)).Concat(new byte[] { (byte)'!', 0, 0, 0, 4 }).ToArray();
        var destination = new MemoryStream();
        var relay = new Relay(new PieceStream(wire, pieceSize: wire.Length), new MessageSink(destination), new FrontendInspector(1 << 20));

        var error = await Assert.ThrowsAsync<PgProtocolException>(() => relay.RunAsync().WaitAsync(Patience));
        Assert.Contains("invalid frontend message type", error.Message);
        Assert.Equal(wire[..10], destination.ToArray());
    }

    [Fact]
    public async Task Terminate_IsForwarded_AndStopsTheRelay_LeavingWhatFollows()
    {
        var wire = Messages((FrontendCode.Sync, 0), (FrontendCode.Terminate, 0), (FrontendCode.Sync, 0));
        var destination = new MemoryStream();

        var end = await new Relay(new PieceStream(wire, pieceSize: wire.Length), new MessageSink(destination), new FrontendInspector(1 << 20)).RunAsync().WaitAsync(Patience);

        Assert.Equal(RelayEnd.Stopped, end);
        Assert.Equal(wire[..10], destination.ToArray());
    }

    [Fact]
    public async Task InterceptedMessages_AreReplaced_AndTheRestOfTheBufferIsStillRelayed()
    {
        // Three messages in one read, the middle one replaced: all three must come out without another read.
        var wire = Messages((FrontendCode.Sync, 0), (FrontendCode.Query, 3), (FrontendCode.Sync, 0));
        var source = new PieceStream(wire, pieceSize: wire.Length, thenWait: true);
        var destination = new MemoryStream();
        var inspector = new RecordingInspector(whole: FrontendCode.Query, replaceWith: [(byte)'X']);
        using var stop = new CancellationTokenSource();
        var run = new Relay(source, new MessageSink(destination), inspector).RunAsync(stop.Token);

        await source.Waiting.WaitAsync(Patience);
        Assert.Equal(wire[..5].Concat(new byte[] { (byte)'X' }).Concat(wire[^5..]).ToArray(), destination.ToArray());
        await stop.CancelAsync();
        Assert.Equal(RelayEnd.Canceled, await run.WaitAsync(Patience));
    }

    [Fact]
    public async Task Stop_WhileWaitingForBytes_EndsAsCanceled()
    {
        var source = new PieceStream([], pieceSize: 1, thenWait: true);
        using var stop = new CancellationTokenSource();
        var run = new Relay(source, new MessageSink(new MemoryStream()), new RecordingInspector()).RunAsync(stop.Token);
        await source.Waiting.WaitAsync(Patience);
        Assert.False(run.IsCompleted);

        await stop.CancelAsync();

        Assert.Equal(RelayEnd.Canceled, await run.WaitAsync(Patience));
    }

    [Fact]
    public async Task StopBeforeTheRelayStarts_EndsAtOnce()
    {
        using var stop = new CancellationTokenSource();
        await stop.CancelAsync();
        var destination = new MemoryStream();
        var wire = Messages((FrontendCode.Sync, 0));

        var end = await new Relay(new PieceStream(wire, pieceSize: 5, thenWait: true), new MessageSink(destination), new RecordingInspector())
            .RunAsync(stop.Token).WaitAsync(Patience);

        Assert.Equal(RelayEnd.Canceled, end);
        Assert.Empty(destination.ToArray());
    }

    private static byte[] Messages(params (byte Type, int PayloadLength)[] messages)
    {
        var b = new MessageBuilder();
        var fill = 0;
        foreach (var (type, length) in messages)
        {
            b.StartMessage(type);
            var payload = new byte[length];
            for (var i = 0; i < length; i++) payload[i] = (byte)('a' + fill++ % 26);
            b.WriteBytes(payload);
            b.EndMessage();
        }
        return b.ToArray();
    }

    /// <summary>Forwards everything as it streams except the type it must see whole (and may replace).</summary>
    private sealed class RecordingInspector(byte whole = 0, byte[]? replaceWith = null) : IRelayInspector
    {
        public List<byte[]> Inspected { get; } = [];

        public MessageAction OnHeader(in MessageHeader header) => header.Type == whole ? MessageAction.ForwardWhole : MessageAction.Forward;

        public bool Inspect(in MessageHeader header, in ReadOnlySequence<byte> message)
        {
            Assert.Equal(header.TotalLength, message.Length);
            Inspected.Add(message.ToArray());
            return replaceWith is not null;
        }

        public ValueTask InterceptAsync(MessageHeader header, ReadOnlySequence<byte> message, MessageSink destination) =>
            destination.WriteAsync(replaceWith!, endsAtBoundary: true);
    }

    /// <summary>Hands out its bytes in pieces of a chosen size, then the end of the stream (or waits until canceled).</summary>
    private sealed class PieceStream(byte[] data, int pieceSize, bool thenWait = false) : OneWayStream(readable: true)
    {
        private readonly TaskCompletionSource _waiting = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _offset;

        /// <summary>Completes when every byte was handed out and a reader waits for more.</summary>
        public Task Waiting => _waiting.Task;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_offset == data.Length)
            {
                if (!thenWait) return 0;
                _waiting.TrySetResult();
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            if (buffer.IsEmpty) return 0;
            var n = Math.Min(Math.Min(pieceSize, buffer.Length), data.Length - _offset);
            data.AsMemory(_offset, n).CopyTo(buffer);
            _offset += n;
            return n;
        }
    }

    /// <summary>Keeps what is written and counts the writes.</summary>
    private sealed class RecordingStream() : OneWayStream(readable: false)
    {
        public MemoryStream Written { get; } = new();
        public int Writes { get; private set; }
        public int LargestWrite { get; private set; }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Writes++;
            LargestWrite = Math.Max(LargestWrite, buffer.Length);
            Written.Write(buffer.Span);
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>A stream that only reads or only writes (through the async methods the relay uses): the rest of Stream refused.</summary>
    private abstract class OneWayStream(bool readable) : Stream
    {
        public override bool CanRead => readable;
        public override bool CanSeek => false;
        public override bool CanWrite => !readable;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
