using System.Buffers.Binary;
using MemorySql.Protocol;

namespace MemorySql.Protocol.Tests;

public sealed class StartupPacketTests
{
    private static byte[] Body(MessageBuilder builder) => builder.WrittenSpan[4..].ToArray();

    private static byte[] StartupBody(int minor, params string[] pairs)
    {
        var b = new MessageBuilder().StartPacket().WriteInt32((3 << 16) | minor);
        foreach (var s in pairs) b.WriteCString(s);
        return Body(b.WriteByte(0).EndMessage());
    }

    [Fact]
    public void Parse_Startup30_KeepsParametersInOrderAndBytesExact()
    {
        var packet = StartupPacket.Parse(StartupBody(0, "user", "alice", "database", "db", "options", "-c memory.entity=user-42", "application_name", "caf\u00e9"));
        Assert.Equal(StartupPacketKind.Startup, packet.Kind);
        Assert.Equal((3, 0), (packet.MajorVersion, packet.MinorVersion));
        Assert.Equal(["user", "database", "options", "application_name"], packet.Parameters.Select(p => p.NameText));
        Assert.Equal("-c memory.entity=user-42", packet.GetParameter("options"));
        Assert.Equal("café", packet.GetParameter("application_name"));
    }

    [Fact]
    public void Parse_ProtocolOptions_AreSeparatedFromParameters()
    {
        var packet = StartupPacket.Parse(StartupBody(9999, "user", "u", "_pq_.grease", "1", "_pq_.other", "x"));
        Assert.Equal(["_pq_.grease", "_pq_.other"], packet.ProtocolOptions);
        Assert.Equal(["user"], packet.Parameters.Select(p => p.NameText));
        Assert.Equal(9999, packet.MinorVersion);
    }

    [Fact]
    public void Parse_SslGssAndCancelRequests()
    {
        Assert.Equal(StartupPacketKind.SslRequest, StartupPacket.Parse(Body(new MessageBuilder().SslRequest())).Kind);
        Assert.Equal(StartupPacketKind.GssEncRequest, StartupPacket.Parse(Body(new MessageBuilder().GssEncRequest())).Kind);
        var secret = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        var cancel = StartupPacket.Parse(Body(new MessageBuilder().CancelRequest(1234, secret)));
        Assert.Equal(StartupPacketKind.CancelRequest, cancel.Kind);
        Assert.Equal(1234, cancel.CancelProcessId);
        Assert.Equal(secret, cancel.CancelSecret);
    }

    [Theory]
    [InlineData(new byte[] { 0, 3, 0, 0 }, "terminator")]                          // no parameters, no terminator
    [InlineData(new byte[] { 0, 3, 0, 0, (byte)'u', 0, (byte)'x' }, "terminator")] // value not terminated
    [InlineData(new byte[] { 0, 3, 0, 0, (byte)'u', 0, (byte)'x', 0 }, "terminator")] // no final terminator
    [InlineData(new byte[] { 0, 2, 0, 0, 0 }, "unsupported frontend protocol 2.0")]
    [InlineData(new byte[] { 0, 3, 0, 0, 0 }, "no PostgreSQL user name")]
    [InlineData(new byte[] { 4, 210, 22, 47, 1 }, "SSL request")]
    [InlineData(new byte[] { 4, 210, 22, 46, 0, 0, 0, 1 }, "cancel")]
    [InlineData(new byte[] { 1, 2 }, "invalid length")]
    public void Parse_Malformed_ThrowsWithPostgresWording(byte[] body, string expected)
    {
        var e = Assert.Throws<PgProtocolException>(() => StartupPacket.Parse(body));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 0)]
    [InlineData(2, 2)]
    [InlineData(3, 2)]
    [InlineData(9999, 2)]
    public void Negotiate_ChoosesTheMinorVersionSpokenWithTheClient(int requested, int spoken) =>
        Assert.Equal(spoken, ProtocolVersions.Negotiate(requested));

    [Fact]
    public void Parse_RandomBytes_NeverThrowsAnythingButProtocolErrors()
    {
        var random = new Random(7);
        for (var i = 0; i < 20_000; i++)
        {
            var body = new byte[random.Next(0, 64)];
            random.NextBytes(body);
            if (body.Length >= 4 && random.Next(2) == 0) BinaryPrimitives.WriteInt32BigEndian(body, StartupCodes.ProtocolVersion30);
            try
            {
                StartupPacket.Parse(body);
            }
            catch (PgProtocolException)
            {
            }
        }
    }
}

public sealed class MessageTests
{
    [Fact]
    public void ErrorResponse_RoundTripsThroughErrorFields()
    {
        var b = new MessageBuilder().ErrorResponse(PgError.Fatal("08P01", "bad thing", "the detail", "the hint"));
        var bytes = b.WrittenSpan;
        Assert.Equal((byte)'E', bytes[0]);
        Assert.Equal(bytes.Length - 1, BinaryPrimitives.ReadInt32BigEndian(bytes[1..]));
        var fields = ErrorFields.Parse(bytes[5..]);
        Assert.Equal(("FATAL", "08P01", "bad thing", "the detail", "the hint"), (fields.Severity, fields.SqlState, fields.Message, fields.Detail, fields.Hint));
    }

    [Fact]
    public void ErrorFields_WithoutSqlStateOrTerminator_AreReadWithoutFailing()
    {
        var fields = ErrorFields.Parse("SERROR\0Mno code here"u8);
        Assert.Null(fields.SqlState);
        Assert.Equal("no code here", fields.Message);
    }

    [Fact]
    public void NegotiateProtocolVersion_HasVersionCountAndOptions()
    {
        var bytes = new MessageBuilder().NegotiateProtocolVersion(2, ["_pq_.a", "_pq_.b"]).WrittenSpan;
        Assert.Equal((byte)'v', bytes[0]);
        Assert.Equal((3 << 16) | 2, BinaryPrimitives.ReadInt32BigEndian(bytes[5..]));
        Assert.Equal(2, BinaryPrimitives.ReadInt32BigEndian(bytes[9..]));
        Assert.Equal("_pq_.a\0_pq_.b\0"u8.ToArray(), bytes[13..].ToArray());
    }

    [Fact]
    public void BackendKeyData_RoundTrips_AndRejectsImpossibleLengths()
    {
        var secret = new byte[32];
        Random.Shared.NextBytes(secret);
        var bytes = new MessageBuilder().BackendKeyData(77, secret).WrittenSpan;
        var (pid, read) = BackendMessages.ReadBackendKeyData(bytes[5..]);
        Assert.Equal(77, pid);
        Assert.Equal(secret, read);
        Assert.Throws<PgProtocolException>(() => BackendMessages.ReadBackendKeyData(new byte[7]));
        Assert.Throws<PgProtocolException>(() => BackendMessages.ReadBackendKeyData(new byte[4 + 257]));
    }

    [Fact]
    public void SaslMechanisms_WithoutChannelBinding_DropsPlusVariants()
    {
        var bytes = new MessageBuilder().AuthenticationSasl(["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]).WrittenSpan;
        var mechanisms = SaslMechanisms.Parse(bytes[9..]);
        Assert.Equal(["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"], mechanisms);
        Assert.Equal(["SCRAM-SHA-256"], SaslMechanisms.WithoutChannelBinding(mechanisms));
        Assert.Throws<PgProtocolException>(() => SaslMechanisms.Parse("SCRAM"u8));
    }

    [Fact]
    public void MessageHeader_IsReadAcrossSegments()
    {
        var message = new MessageBuilder().Query("SELECT 1").ToArray();
        var first = new Segment(message.AsMemory(0, 2));
        var last = first.Append(message.AsMemory(2));
        var sequence = new System.Buffers.ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
        Assert.True(MessageHeader.TryRead(sequence, out var header));
        Assert.Equal((byte)'Q', header.Type);
        Assert.Equal(message.Length - 1, header.Length);
        Assert.False(MessageHeader.TryRead(sequence.Slice(0, 4), out _));
    }

    [Fact]
    public void WriteCString_RefusesEmbeddedNul() =>
        Assert.Throws<ArgumentException>(() => new MessageBuilder().WriteCString("a\0b"));

    private sealed class Segment : System.Buffers.ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory) => Memory = memory;

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }
}
