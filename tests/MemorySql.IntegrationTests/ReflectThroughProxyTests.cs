using System.Text.Json;
using MemorySql.Testing;
using Npgsql;

namespace MemorySql.IntegrationTests;

/// <summary>
/// reflect() through the real proxy: recall on the client's own connection (inside its transaction, under its
/// row-level security), the LLM's schema-validated answer, and the rewritten call recording it — in the simple and
/// the extended protocol, with every way the LLM can fail or be refused.
/// </summary>
public sealed class ReflectThroughProxyTests : IClassFixture<ReflectProxyFixture>, IAsyncLifetime
{
    private readonly ReflectProxyFixture _fx;

    public ReflectThroughProxyTests(ReflectProxyFixture fx) => _fx = fx;

    public async Task InitializeAsync()
    {
        _fx.Answer = call => ReflectProxyFixture.Cite(call, "window", "Dana likes window seats.");
        _fx.Delay = TimeSpan.Zero;
        await _fx.ExecuteAsync("DELETE FROM memory.memories; DELETE FROM memory.llm_usage; DELETE FROM memory.policies WHERE workspace <> '*'");
        await _fx.Workspace.ExecuteAsync("CALL remember('Dana prefers window seats on long flights', entity => 'dana', kind => 'preference')");
        await _fx.Workspace.ExecuteAsync("CALL remember('Dana flies out of Lisbon', entity => 'dana')");
        await _fx.Workspace.ExecuteAsync("CALL remember('The office coffee machine is broken')");
    }

    public Task DisposeAsync() => Task.CompletedTask;

    private static JsonElement Json(string? text) => JsonDocument.Parse(text!).RootElement.Clone();

    private Task UsageRowsAsync(int count) =>
        Eventually(async () => await _fx.ScalarAsync<long>("SELECT count(*) FROM memory.llm_usage WHERE workspace = $1", _fx.Workspace.Name) >= count,
            $"{count} usage rows");

    private static async Task Eventually(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("gave up waiting for " + what);
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task SimpleProtocol_ReflectIsAnsweredByTheLlm_RecordedWithItsCitedSources_AndItsTokensCounted()
    {
        var (code, output, error) = await _fx.PsqlAsync("SELECT reflect('where does Dana like to sit?', entity => 'dana')::text;");
        Assert.True(code == 0, error);
        var result = Json(output);
        Assert.Equal("llm", result.GetProperty("mode").GetString());
        Assert.Equal("Dana likes window seats.", result.GetProperty("synthesis").GetString()); // citation marks stripped
        var source = Assert.Single(result.GetProperty("sources").EnumerateArray());
        Assert.Equal("Dana prefers window seats on long flights", source.GetProperty("content").GetString());
        Assert.Equal("fake-reflector", result.GetProperty("llm").GetProperty("model").GetString());
        Assert.Equal(300, result.GetProperty("llm").GetProperty("prompt_tokens").GetInt32());

        var call = Assert.Single(_fx.Llm.Calls, c => c.LastUser.Contains("where does Dana like to sit?", StringComparison.Ordinal));
        Assert.Equal("memorysql_reflect", call.SchemaName);
        Assert.Contains("Dana flies out of Lisbon", call.LastUser, StringComparison.Ordinal);
        Assert.DoesNotContain("coffee", call.LastUser, StringComparison.Ordinal); // entity filter applied by recall
        var reflection = result.GetProperty("reflection_id").GetGuid();
        Assert.Equal("category", await _fx.Workspace.ScalarAsync<string>("SELECT layer FROM memory.memories WHERE id = $1", reflection));
        Assert.Equal(1L, await _fx.Workspace.ScalarAsync<long>("SELECT count(*) FROM memory.associations WHERE source_id = $1 AND relation = 'summarizes'", reflection));
        await UsageRowsAsync(1);
        var usage = Assert.Single(await _fx.Workspace.DataSource.QueryAsync("SELECT purpose, model, prompt_tokens, completion_tokens, ok FROM memory.llm_usage"));
        Assert.Equal(("reflect", "fake-reflector", 300, 25, true), ((string)usage["purpose"]!, (string)usage["model"]!, (int)usage["prompt_tokens"]!, (int)usage["completion_tokens"]!, (bool)usage["ok"]!));
    }

    [Fact]
    public async Task ExtendedProtocol_PreparedReflect_WithParameters_WorksForEveryExecution_AndHidesTheProxysParameters()
    {
        await using var conn = await _fx.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT reflect($1, k => $2, entity => 'dana')::text", conn);
        command.Parameters.AddWithValue("where does Dana sit?");
        command.Parameters.AddWithValue(5);
        await command.PrepareAsync();
        Assert.Equal(2, command.Parameters.Count);
        for (var i = 0; i < 2; i++)
        {
            command.Parameters[0].Value = i == 0 ? "where does Dana sit?" : "which seat does Dana want?";
            var result = Json((string?)await command.ExecuteScalarAsync());
            Assert.Equal("llm", result.GetProperty("mode").GetString());
            Assert.Equal("Dana likes window seats.", result.GetProperty("synthesis").GetString());
        }
        Assert.Contains(_fx.Llm.Calls, c => c.LastUser.Contains("which seat does Dana want?", StringComparison.Ordinal));
        // The session is in step: ordinary statements go on.
        await using var check = new NpgsqlCommand("SELECT 41 + $1", conn);
        check.Parameters.AddWithValue(1);
        Assert.Equal(42, await check.ExecuteScalarAsync());
    }

    [Fact]
    public async Task InsideATransaction_ReflectSeesUncommittedMemories_AndARollbackKeepsTheUsage()
    {
        await using var conn = await _fx.OpenAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await using (var remember = new NpgsqlCommand("CALL remember('Dana now prefers aisle seats', entity => 'dana', kind => 'preference')", conn, tx))
            await remember.ExecuteNonQueryAsync();
        _fx.Answer = call => ReflectProxyFixture.Cite(call, "aisle", "Dana switched to aisle seats.");
        await using (var reflect = new NpgsqlCommand("SELECT reflect('which seats does Dana prefer now?', entity => 'dana')::text", conn, tx))
        {
            var result = Json((string?)await reflect.ExecuteScalarAsync());
            Assert.Equal("Dana now prefers aisle seats", result.GetProperty("sources")[0].GetProperty("content").GetString());
        }
        await tx.RollbackAsync();
        Assert.Equal(0L, await _fx.Workspace.ScalarAsync<long>("SELECT count(*) FROM memory.memories WHERE layer = 'category' OR content LIKE '%aisle%'"));
        await UsageRowsAsync(1); // written outside the client's transaction: the cost stays visible
    }

    [Fact]
    public async Task OverBudget_ReflectIsExtractive_SaysWhy_AndTheLlmIsNotCalled()
    {
        await _fx.ExecuteAsync("INSERT INTO memory.policies (workspace, settings) VALUES ($1, '{\"llm.budget_tokens_per_day\": 100}')", _fx.Workspace.Name);
        await _fx.ExecuteAsync("INSERT INTO memory.llm_usage (workspace, purpose, model, prompt_tokens, completion_tokens, ok) VALUES ($1, 'extract', 'm', 90, 10, true)", _fx.Workspace.Name);
        var before = _fx.Llm.RequestCount;
        await using var conn = await _fx.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT reflect('where does Dana sit?', entity => 'dana')::text", conn);
        var result = Json((string?)await command.ExecuteScalarAsync());
        Assert.Equal("extractive", result.GetProperty("mode").GetString());
        Assert.Contains("llm.budget_tokens_per_day", result.GetProperty("offline_reason").GetString(), StringComparison.Ordinal);
        Assert.Contains("Dana prefers window seats", result.GetProperty("synthesis").GetString(), StringComparison.Ordinal);
        Assert.True(result.GetProperty("sources")[0].GetProperty("score").GetDouble() > 0);
        Assert.Equal(before, _fx.Llm.RequestCount);
    }

    [Fact]
    public async Task LlmAnsweringInvalidJsonTwice_ReflectIsExtractive_SaysTheLlmFailed_AndCountsTheTokens()
    {
        _fx.Answer = _ => LlmReply.Chat("Dana sits by the window.", 70, 9);
        var (code, output, error) = await _fx.PsqlAsync("SELECT reflect('where does Dana sit?', entity => 'dana')::text; SELECT 'still usable';");
        Assert.True(code == 0, error);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var result = Json(lines[0]);
        Assert.Equal("extractive", result.GetProperty("mode").GetString());
        Assert.Contains("the LLM failed", result.GetProperty("offline_reason").GetString(), StringComparison.Ordinal);
        Assert.Contains("did not return valid JSON", result.GetProperty("offline_reason").GetString(), StringComparison.Ordinal);
        Assert.Equal("still usable", lines[1]);
        await UsageRowsAsync(1);
        Assert.Equal(158L, await _fx.ScalarAsync<long>("SELECT sum(prompt_tokens + completion_tokens)::bigint FROM memory.llm_usage WHERE NOT ok"));
    }

    [Fact]
    public async Task LlmServerErrors_AreRetried_ThenReflectIsAnswered()
    {
        var failures = 2;
        _fx.Answer = call => Interlocked.Decrement(ref failures) >= 0
            ? LlmReply.Error(503, "warming up")
            : ReflectProxyFixture.Cite(call, "window", "Window seats.");
        await using var conn = await _fx.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT reflect('Dana seats', entity => 'dana')::text", conn);
        Assert.Equal("llm", Json((string?)await command.ExecuteScalarAsync()).GetProperty("mode").GetString());
    }

    [Fact]
    public async Task ArgumentErrors_AreReportedByReflect_AndTheSessionStaysUsable_InBothProtocols()
    {
        await using var conn = await _fx.OpenAsync();
        await using (var bad = new NpgsqlCommand("SELECT reflect('x', k => 0)", conn))
            Assert.Equal("22023", (await Assert.ThrowsAsync<PostgresException>(() => bad.ExecuteScalarAsync())).SqlState);
        await using (var unknown = new NpgsqlCommand("SELECT reflect('x', bogus => 1)", conn))
        {
            var error = await Assert.ThrowsAsync<PostgresException>(() => unknown.ExecuteScalarAsync());
            Assert.Equal("42883", error.SqlState);
            Assert.DoesNotContain("reflect_context", error.MessageText, StringComparison.Ordinal);
        }
        // A type error the proxy's own statement meets first is told as reflect's.
        await using (var mistyped = new NpgsqlCommand("SELECT reflect('x', k => 'many')", conn))
            Assert.Equal("22P02", (await Assert.ThrowsAsync<PostgresException>(() => mistyped.ExecuteScalarAsync())).SqlState);
        await using (var ok = new NpgsqlCommand("SELECT 7", conn)) Assert.Equal(7, await ok.ExecuteScalarAsync());

        var (code, output, stderr) = await _fx.PsqlAsync("\\set ON_ERROR_STOP 0\n\\set VERBOSITY verbose\nSELECT reflect('x', bogus => 1);\nSELECT reflect('x', k => 'many');\nSELECT 'after';\n");
        Assert.Equal(0, code);
        Assert.Contains("42883", stderr, StringComparison.Ordinal);
        Assert.Contains("22P02", stderr, StringComparison.Ordinal);
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Count(stderr, "ERROR"));
        Assert.DoesNotContain("reflect_context", stderr, StringComparison.Ordinal);
        Assert.Contains("after", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ArgumentsReferringToColumns_SkipTheLlm_AndSaySo()
    {
        var before = _fx.Llm.RequestCount;
        await using var conn = await _fx.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT reflect('Dana seats', entity => t.who)::text FROM (VALUES ('dana')) t(who)", conn);
        var result = Json((string?)await command.ExecuteScalarAsync());
        Assert.Equal("extractive", result.GetProperty("mode").GetString());
        Assert.Contains("refer to columns", result.GetProperty("offline_reason").GetString(), StringComparison.Ordinal);
        Assert.Equal(before, _fx.Llm.RequestCount);
    }

    [Fact]
    public async Task PipelinedBatch_WithReflectBetweenOtherStatements_KeepsEveryResultInPlace()
    {
        await using var conn = await _fx.OpenAsync();
        await using var batch = new NpgsqlBatch(conn)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand("SELECT 'first'"),
                new NpgsqlBatchCommand("SELECT reflect('where does Dana sit?', entity => 'dana') ->> 'mode'"),
                new NpgsqlBatchCommand("SELECT reflect('Lisbon?', entity => 'dana', record => false) ->> 'mode'"),
                new NpgsqlBatchCommand("SELECT 'last'"),
            },
        };
        await using var reader = await batch.ExecuteReaderAsync();
        var results = new List<string>();
        do
        {
            while (await reader.ReadAsync()) results.Add(reader.GetString(0));
        }
        while (await reader.NextResultAsync());
        Assert.Equal(new[] { "first", "llm", "llm", "last" }, results);
    }

    [Fact]
    public async Task AnErrorEarlierInTheBatch_SkipsReflect_AsPostgreSqlWould()
    {
        var before = _fx.Llm.RequestCount;
        await using var conn = await _fx.OpenAsync();
        await using var batch = new NpgsqlBatch(conn)
        {
            BatchCommands = { new NpgsqlBatchCommand("SELECT 1/0"), new NpgsqlBatchCommand("SELECT reflect('where does Dana sit?')::text") },
        };
        Assert.Equal("22012", (await Assert.ThrowsAsync<PostgresException>(() => batch.ExecuteReaderAsync())).SqlState);
        Assert.Equal(before, _fx.Llm.RequestCount);
        await using var ok = new NpgsqlCommand("SELECT 'fine'", conn);
        Assert.Equal("fine", await ok.ExecuteScalarAsync());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task StatementTimeout_BoundsTheWaitForTheLlm_Gives57014_AndTheSessionStaysUsable(bool prepared)
    {
        _fx.Delay = TimeSpan.FromSeconds(30);
        try
        {
            await using var conn = await _fx.OpenAsync("Include Error Detail=true");
            await using (var set = new NpgsqlCommand("SET statement_timeout = '1500ms'", conn))
                await set.ExecuteNonQueryAsync();
            // Npgsql's own timeout (which would send a cancel: "due to user request") well beyond the LLM's delay.
            await using var command = new NpgsqlCommand("SELECT reflect($1, entity => 'dana')::text", conn) { CommandTimeout = 120 };
            command.Parameters.AddWithValue("where does Dana sit, given a timeout?");
            if (prepared) await command.PrepareAsync();
            var error = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteScalarAsync());
            Assert.Equal("57014", error.SqlState);
            Assert.Equal("canceling statement due to statement timeout", error.MessageText);
            Assert.Contains("statement_timeout is 1500 ms", error.Detail, StringComparison.Ordinal);
            Assert.Contains(_fx.Llm.Calls, c => c.LastUser.Contains("given a timeout?", StringComparison.Ordinal)); // it was the LLM wait that timed out
            await using var ok = new NpgsqlCommand("SELECT 'fine'", conn);
            Assert.Equal("fine", await ok.ExecuteScalarAsync());
        }
        finally
        {
            _fx.Delay = TimeSpan.Zero;
        }
    }

    [Fact]
    public async Task CancelWhileTheLlmThinks_Gives57014_AndTheSessionStaysUsable()
    {
        _fx.Delay = TimeSpan.FromSeconds(30);
        // Npgsql gives the server 2 s to answer a cancel before it gives up on the connection; a CI machine running
        // every test assembly at once has missed that (once in five runs) — allow 15 s, still half the LLM's delay.
        await using var conn = await _fx.OpenAsync("Cancellation Timeout=15000");
        await using var command = new NpgsqlCommand("SELECT reflect('where does Dana sit?', entity => 'dana')::text", conn);
        // Other tests of this class ask the LLM the same question: wait for a call of this test's own, not any.
        int Asked() => _fx.Llm.Calls.Count(c => c.LastUser.Contains("where does Dana sit?", StringComparison.Ordinal));
        var askedBefore = Asked();
        var running = command.ExecuteScalarAsync();
        await Eventually(() => Task.FromResult(Asked() > askedBefore), "the LLM call");
        command.Cancel();
        var error = await Assert.ThrowsAnyAsync<Exception>(() => running);
        var sqlState = (error as PostgresException ?? error.InnerException as PostgresException)?.SqlState;
        Assert.True(sqlState == "57014", $"expected 57014, got: {error}");
        _fx.Delay = TimeSpan.Zero;
        await using var ok = new NpgsqlCommand("SELECT 'fine'", conn);
        Assert.Equal("fine", await ok.ExecuteScalarAsync());
    }
}

/// <summary>reflect through a proxy without an LLM: extractive, and it says why.</summary>
public sealed class ReflectWithoutLlmTests : IClassFixture<NoLlmProxyFixture>
{
    private readonly NoLlmProxyFixture _fx;

    public ReflectWithoutLlmTests(NoLlmProxyFixture fx) => _fx = fx;

    [Fact]
    public async Task Reflect_IsExtractive_NamingTheMissingConfiguration()
    {
        await _fx.Workspace.ExecuteAsync("CALL remember('Kim works from Berlin')");
        await using var conn = await _fx.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT reflect($1)::text", conn);
        command.Parameters.AddWithValue("where does Kim work?");
        var result = JsonDocument.Parse((string)(await command.ExecuteScalarAsync())!).RootElement;
        Assert.Equal("extractive", result.GetProperty("mode").GetString());
        Assert.Contains("Llm:Provider = none", result.GetProperty("offline_reason").GetString(), StringComparison.Ordinal);
        Assert.Contains("Kim works from Berlin", result.GetProperty("synthesis").GetString(), StringComparison.Ordinal);
    }
}
