using MemorySql.Testing;

namespace MemorySql.Tests.Sql;

public sealed class ConcurrencyTests : IClassFixture<TestDatabase>
{
    private readonly TestDatabase _db;

    public ConcurrencyTests(TestDatabase db) => _db = db;

    [Fact]
    public async Task ConcurrentRemember_FromManyConnections_NoDeadlockNoDuplicate()
    {
        var ws = await _db.CreateWorkspaceAsync("conc");
        const int writers = 8;
        const int rounds = 25;
        var tasks = Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            await using var conn = await ws.OpenAsync();
            for (var i = 0; i < rounds; i++)
            {
                // Everyone writes the same shared facts (in different orders) and notes of their own, some in
                // multi-statement transactions, so counter rows, term rows and dedup slots are all contended.
                // (Two transactions that each insert two of the same new facts in opposite orders deadlock on
                // the unique index in any database; a transaction here holds at most one shared fact.)
                var shared = (i * 7 + w) % 10;
                await using (var tx = await conn.BeginTransactionAsync())
                {
                    await conn.ExecAsync("CALL remember($1)", $"writer {w} private note {i} about common words");
                    await conn.ExecAsync("CALL remember($1, tags => '{shared}')", $"shared fact number {shared} about common words");
                    await conn.ExecAsync("CALL remember($1)", $"writer {w} second note {i} about common words");
                    await tx.CommitAsync();
                }
                await conn.ExecAsync("CALL remember($1, tags => '{shared}')", $"shared fact number {(shared + 5) % 10} about common words");
            }
        })).ToArray();
        await Task.WhenAll(tasks);

        Assert.Equal(10L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.memories WHERE 'shared' = ANY (tags)"));
        Assert.Equal(2L * writers * rounds, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.memories WHERE content LIKE 'writer %'"));
        Assert.Equal(2L * writers * rounds - 10, await ws.ScalarAsync<long>("SELECT sum(access_count)::bigint FROM memory.memories WHERE 'shared' = ANY (tags)"));
        // The sharded statistics add up to exactly what a fresh count gives.
        Assert.Equal(await ws.ScalarAsync<long>("SELECT count(*) FROM memory.memories WHERE status = 'active'"),
                     await ws.ScalarAsync<long>("SELECT sum(docs)::bigint FROM memory.lexical_stats"));
        Assert.Equal(await ws.ScalarAsync<long>("SELECT count(*) FROM memory.memories WHERE lexical @@ 'common'::tsquery"),
                     await ws.ScalarAsync<long>("SELECT sum(df)::bigint FROM memory.lexical_terms WHERE term = 'common'"));
    }
}
