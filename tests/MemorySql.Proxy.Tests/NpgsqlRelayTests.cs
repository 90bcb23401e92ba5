using MemorySql.Proxy.Tests.Support;
using Npgsql;
using NpgsqlTypes;

namespace MemorySql.Proxy.Tests;

/// <summary>Npgsql, a driver nobody here wrote, judges the relay: every feature it uses must work through the proxy.</summary>
public sealed class NpgsqlRelayTests(ProxyFixture db) : NpgsqlRelayTestsBase<ProxyFixture>(db);

/// <summary>The same judgement with .NET's socket engine driving the sessions (Proxy:SocketEngine = DotNet).</summary>
public sealed class NpgsqlRelayOnDotNetSocketsTests(DotNetSocketsProxyFixture db) : NpgsqlRelayTestsBase<DotNetSocketsProxyFixture>(db);

/// <summary>A proxy whose sessions use .NET's socket engine instead of the default (epoll on Linux x86-64).</summary>
public sealed class DotNetSocketsProxyFixture : ProxyFixture
{
    protected override void Configure(ProxyOptions options) => options.SocketEngine = ProxySocketEngine.DotNet;
}

public abstract class NpgsqlRelayTestsBase<TFixture> : IClassFixture<TFixture> where TFixture : ProxyFixture
{
    private readonly TFixture _db;

    protected NpgsqlRelayTestsBase(TFixture db) => _db = db;

    [Fact]
    public async Task SimpleQuery_ReturnsRowsFromUpstream()
    {
        await using var conn = await _db.OpenProxyAsync();
        await using var cmd = new NpgsqlCommand("SELECT current_database(), 40 + 2", conn);
        await using var reader = await cmd.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal(_db.Name, reader.GetString(0));
        Assert.Equal(42, reader.GetInt32(1));
    }

    [Fact]
    public async Task BackendProcessId_IsTheProxysOwn_NotTheUpstreams()
    {
        await using var conn = await _db.OpenProxyAsync();
        await using var cmd = new NpgsqlCommand("SELECT pg_backend_pid()", conn);
        var upstreamPid = (int)(await cmd.ExecuteScalarAsync())!;
        Assert.NotEqual(upstreamPid, conn.ProcessID);
    }

    [Fact]
    public async Task PreparedStatements_ExplicitAndAutoPrepared_Work()
    {
        await using var conn = await _db.OpenProxyAsync("Pooling=false;Max Auto Prepare=5;Auto Prepare Min Usages=2");
        await using (var prepared = new NpgsqlCommand("SELECT $1::int * 2", conn))
        {
            prepared.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Integer });
            await prepared.PrepareAsync();
            for (var i = 0; i < 5; i++)
            {
                prepared.Parameters[0].Value = i;
                Assert.Equal(i * 2, (int)(await prepared.ExecuteScalarAsync())!);
            }
        }
        for (var i = 0; i < 10; i++)
        {
            await using var auto = new NpgsqlCommand("SELECT $1::text || 'x'", conn);
            auto.Parameters.AddWithValue(i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(i + "x", (string)(await auto.ExecuteScalarAsync())!);
        }
        await using var check = new NpgsqlCommand("SELECT count(*) FROM pg_prepared_statements", conn);
        Assert.True((long)(await check.ExecuteScalarAsync())! >= 2, "explicit and auto-prepared statements live on the upstream session");
    }

    [Fact]
    public async Task Batch_OfHundredCommands_IsPipelinedWithOneSync_AndAnswersInOrder()
    {
        await using var conn = await _db.OpenProxyAsync();
        await using var batch = new NpgsqlBatch(conn);
        for (var i = 0; i < 100; i++)
        {
            var c = new NpgsqlBatchCommand("SELECT $1::int");
            c.Parameters.AddWithValue(i);
            batch.BatchCommands.Add(c);
        }
        await using var reader = await batch.ExecuteReaderAsync();
        for (var i = 0; i < 100; i++)
        {
            Assert.True(await reader.ReadAsync());
            Assert.Equal(i, reader.GetInt32(0));
            await reader.NextResultAsync();
        }
    }

    [Fact]
    public async Task Batch_WithErrorInTheMiddle_SkipsToSync_AndConnectionStaysUsable()
    {
        await using var conn = await _db.OpenProxyAsync();
        await using (var batch = new NpgsqlBatch(conn)
        {
            BatchCommands = { new("SELECT 1"), new("SELECT 1/0"), new("SELECT 3") },
        })
        {
            var e = await Assert.ThrowsAsync<PostgresException>(() => batch.ExecuteNonQueryAsync());
            Assert.Equal("22012", e.SqlState);
        }
        await using var cmd = new NpgsqlCommand("SELECT 'still usable'", conn);
        Assert.Equal("still usable", await cmd.ExecuteScalarAsync());
    }

    [Fact]
    public async Task BinaryCopy_ImportThenExport_RoundTripsEveryRow()
    {
        await using var conn = await _db.OpenProxyAsync();
        await using (var create = new NpgsqlCommand("CREATE TABLE copy_rt (id int, name text, data bytea)", conn))
            await create.ExecuteNonQueryAsync();
        await using (var importer = await conn.BeginBinaryImportAsync("COPY copy_rt (id, name, data) FROM STDIN (FORMAT BINARY)"))
        {
            for (var i = 0; i < 5000; i++)
            {
                await importer.StartRowAsync();
                await importer.WriteAsync(i, NpgsqlDbType.Integer);
                await importer.WriteAsync("row " + i, NpgsqlDbType.Text);
                await importer.WriteAsync(new byte[] { (byte)i, (byte)(i >> 8) }, NpgsqlDbType.Bytea);
            }
            Assert.Equal(5000UL, await importer.CompleteAsync());
        }
        var count = 0;
        long sum = 0;
        await using (var exporter = await conn.BeginBinaryExportAsync("COPY copy_rt (id, name) TO STDOUT (FORMAT BINARY)"))
        {
            while (await exporter.StartRowAsync() != -1)
            {
                var id = await exporter.ReadAsync<int>(NpgsqlDbType.Integer);
                Assert.Equal("row " + id, await exporter.ReadAsync<string>(NpgsqlDbType.Text));
                sum += id;
                count++;
            }
        }
        Assert.Equal(5000, count);
        Assert.Equal(4999L * 5000 / 2, sum);
    }

    [Fact]
    public async Task TextCopy_CancelledImport_RollsBackAndConnectionStaysUsable()
    {
        await using var conn = await _db.OpenProxyAsync();
        await using (var create = new NpgsqlCommand("CREATE TABLE copy_fail (id int)", conn))
            await create.ExecuteNonQueryAsync();
        var writer = await conn.BeginTextImportAsync("COPY copy_fail FROM STDIN");
        await writer.WriteLineAsync("1");
        await writer.WriteLineAsync("2");
        await writer.FlushAsync();
        await ((NpgsqlCopyTextWriter)writer).CancelAsync();
        await using var count = new NpgsqlCommand("SELECT count(*) FROM copy_fail", conn);
        Assert.Equal(0L, await count.ExecuteScalarAsync());
    }

    [Fact]
    public async Task Notification_ArrivesWhileListenerIsIdle()
    {
        await using var listener = await _db.OpenProxyAsync();
        await using (var listen = new NpgsqlCommand("LISTEN proxy_channel", listener))
            await listen.ExecuteNonQueryAsync();
        var received = new TaskCompletionSource<NpgsqlNotificationEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        listener.Notification += (_, e) => received.TrySetResult(e);

        await using (var notifier = await _db.OpenProxyAsync())
        await using (var notify = new NpgsqlCommand("NOTIFY proxy_channel, 'hello through the proxy'", notifier))
            await notify.ExecuteNonQueryAsync();

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (!received.Task.IsCompleted) await listener.WaitAsync(timeout.Token);
        var n = await received.Task;
        Assert.Equal("proxy_channel", n.Channel);
        Assert.Equal("hello through the proxy", n.Payload);
    }

    [Fact]
    public async Task OwnNotification_CarriesTheProcessIdTheClientWasGiven()
    {
        await using var conn = await _db.OpenProxyAsync();
        var received = new List<NpgsqlNotificationEventArgs>();
        conn.Notification += (_, e) => received.Add(e);
        await using (var cmd = new NpgsqlCommand("LISTEN own_channel; NOTIFY own_channel, 'mine'", conn))
            await cmd.ExecuteNonQueryAsync();
        await using (var other = await _db.OpenProxyAsync())
        await using (var cmd = new NpgsqlCommand("NOTIFY own_channel, 'theirs'", other))
            await cmd.ExecuteNonQueryAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (received.Count < 2) await conn.WaitAsync(timeout.Token);
        Assert.Equal(conn.ProcessID, received.Single(n => n.Payload == "mine").PID);
        Assert.NotEqual(conn.ProcessID, received.Single(n => n.Payload == "theirs").PID);
    }

    [Fact]
    public async Task Cancel_OfPgSleep_ReturnsQueryCanceled_AndConnectionStaysUsable()
    {
        await using var conn = await _db.OpenProxyAsync();
        await using var cmd = new NpgsqlCommand("SELECT pg_sleep(30)", conn);
        var running = cmd.ExecuteNonQueryAsync();
        await Task.Delay(300);
        cmd.Cancel();
        var e = await Assert.ThrowsAnyAsync<Exception>(() => running);
        var pg = e as PostgresException ?? e.InnerException as PostgresException;
        Assert.NotNull(pg);
        Assert.Equal("57014", pg.SqlState);
        await using var after = new NpgsqlCommand("SELECT 1", conn);
        Assert.Equal(1, await after.ExecuteScalarAsync());
    }

    [Fact]
    public async Task PooledConnection_IsReusedWithResetAndPreparedStatements()
    {
        var cs = _db.ProxyConnectionString($"Pooling=true;Maximum Pool Size=1;Max Auto Prepare=10;Auto Prepare Min Usages=1;Application Name=pool_{Guid.NewGuid():N}");
        await using var dataSource = NpgsqlDataSource.Create(cs);
        int firstPid;
        await using (var conn = await dataSource.OpenConnectionAsync())
        {
            await using var cmd = new NpgsqlCommand("SELECT pg_backend_pid()", conn);
            firstPid = (int)(await cmd.ExecuteScalarAsync())!;
            await using var set = new NpgsqlCommand("SET statement_timeout = 12345", conn);
            await set.ExecuteNonQueryAsync();
        }
        for (var round = 0; round < 3; round++)
        {
            await using var conn = await dataSource.OpenConnectionAsync();
            await using var cmd = new NpgsqlCommand("SELECT pg_backend_pid(), current_setting('statement_timeout')", conn);
            await using var reader = await cmd.ExecuteReaderAsync();
            Assert.True(await reader.ReadAsync());
            Assert.Equal(firstPid, reader.GetInt32(0));
            Assert.Equal("0", reader.GetString(1)); // the pool's reset (RESET ALL / DISCARD ALL) went through
        }
    }

    [Fact]
    public async Task LargeMessages_TenMegabyteBindAndDataRow_RoundTrip()
    {
        await using var conn = await _db.OpenProxyAsync("Pooling=false;Command Timeout=120");
        var payload = new byte[10 * 1024 * 1024];
        new Random(42).NextBytes(payload);
        await using var cmd = new NpgsqlCommand("SELECT $1::bytea, encode(sha256($1::bytea), 'hex')", conn);
        cmd.Parameters.AddWithValue(payload);
        await using var reader = await cmd.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal(payload, (byte[])reader[0]);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(payload)), reader.GetString(1));
    }

    [Fact]
    public async Task Notice_And_ParameterStatus_ReachTheClient()
    {
        await using var conn = await _db.OpenProxyAsync();
        var notices = new List<string>();
        conn.Notice += (_, e) => notices.Add(e.Notice.MessageText);
        await using (var cmd = new NpgsqlCommand("DO $$BEGIN RAISE NOTICE 'notice through the proxy'; END$$", conn))
            await cmd.ExecuteNonQueryAsync();
        Assert.Contains("notice through the proxy", notices);

        await using (var cmd = new NpgsqlCommand("SET TIME ZONE 'Pacific/Auckland'", conn))
            await cmd.ExecuteNonQueryAsync();
        Assert.Equal("Pacific/Auckland", conn.Timezone);
    }

    [Fact]
    public async Task StartupOptions_ArePassedToTheUpstreamSession()
    {
        await using var conn = await _db.OpenProxyAsync("Pooling=false;Options=-c memory.entity=user-42 -c search_path=pg_catalog;Application Name=through-proxy");
        await using var cmd = new NpgsqlCommand("SELECT current_setting('memory.entity'), current_setting('search_path'), current_setting('application_name')", conn);
        await using var reader = await cmd.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal("user-42", reader.GetString(0));
        Assert.Equal("pg_catalog", reader.GetString(1));
        Assert.Equal("through-proxy", reader.GetString(2));
    }

    [Fact]
    public async Task FailedTransaction_RejectsCommandsUntilRollback()
    {
        await using var conn = await _db.OpenProxyAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await using (var bad = new NpgsqlCommand("SELECT no_such_column", conn, tx))
            Assert.Equal("42703", (await Assert.ThrowsAsync<PostgresException>(() => bad.ExecuteNonQueryAsync())).SqlState);
        await using (var next = new NpgsqlCommand("SELECT 1", conn, tx))
            Assert.Equal("25P02", (await Assert.ThrowsAsync<PostgresException>(() => next.ExecuteNonQueryAsync())).SqlState);
        await tx.RollbackAsync();
        await using var after = new NpgsqlCommand("SELECT 2", conn);
        Assert.Equal(2, await after.ExecuteScalarAsync());
    }
}
