using MemorySql.Schema;
using MemorySql.Testing;
using Npgsql;

namespace MemorySql.Tests;

public sealed class MigratorTests : IClassFixture<TestDatabase>
{
    private readonly TestDatabase _db;

    public MigratorTests(TestDatabase db) => _db = db;

    [Fact]
    public async Task Migrate_OnMigratedDatabase_AppliesNothing()
    {
        var report = await new Migrator().MigrateAsync(_db.AdminConnectionString, null, CancellationToken.None);
        Assert.Empty(report.Applied);
        Assert.False(report.DefinitionsApplied);
    }

    [Fact]
    public async Task Migrate_RecordsEveryShippedMigrationWithItsChecksum()
    {
        foreach (var m in SchemaScript.Migrations())
        {
            var checksum = await _db.ScalarAsync<string>("SELECT checksum FROM memory.schema_migrations WHERE version = $1", m.Version);
            Assert.Equal(m.Checksum, checksum);
        }
    }

    [Fact]
    public async Task Migrate_EditedAppliedMigration_IsRefusedWithClearMessage()
    {
        var edited = SchemaScript.Migrations().Select((m, i) => i == 0 ? m with { Sql = m.Sql + "\n-- edited" } : m).ToList();
        var migrator = new Migrator(edited, SchemaScript.Definitions());
        var e = await Assert.ThrowsAsync<MigrationException>(() => migrator.MigrateAsync(_db.AdminConnectionString, null, CancellationToken.None));
        Assert.Contains("was edited after it was applied", e.Message);
        Assert.Contains(edited[0].Name, e.Message);
    }

    [Fact]
    public async Task Migrate_NewMigration_IsAppliedOnceInOrder()
    {
        var server = await PostgresServer.GetAsync();
        var name = await server.CreateDatabaseAsync("migrate_new");
        try
        {
            var extra = new SchemaScript("9001_test_extra.sql", "CREATE TABLE memory.test_extra (id int);");
            var migrator = new Migrator([.. SchemaScript.Migrations(), extra], SchemaScript.Definitions());
            var first = await migrator.MigrateAsync(server.AdminConnectionString(name), null, CancellationToken.None);
            var second = await migrator.MigrateAsync(server.AdminConnectionString(name), null, CancellationToken.None);
            Assert.Equal(["9001_test_extra.sql"], first.Applied);
            Assert.Empty(second.Applied);
        }
        finally
        {
            await server.DropDatabaseAsync(name);
        }
    }

    [Fact]
    public async Task Migrate_FailingMigration_LeavesNothingBehind()
    {
        var server = await PostgresServer.GetAsync();
        var name = await server.CreateDatabaseAsync("migrate_fail");
        try
        {
            var bad = new SchemaScript("9002_bad.sql", "CREATE TABLE memory.half_done (id int); SELECT no_such_function();");
            var migrator = new Migrator([.. SchemaScript.Migrations(), bad], SchemaScript.Definitions());
            var e = await Assert.ThrowsAsync<MigrationException>(() => migrator.MigrateAsync(server.AdminConnectionString(name), null, CancellationToken.None));
            Assert.Contains("9002_bad.sql", e.Message);
            Assert.Contains("42883", e.Message);
            await using var conn = new NpgsqlConnection(server.AdminConnectionString(name));
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("SELECT to_regclass('memory.half_done') IS NULL AND NOT EXISTS (SELECT 1 FROM memory.schema_migrations WHERE version = 9002)", conn);
            Assert.True((bool)(await cmd.ExecuteScalarAsync())!);
        }
        finally
        {
            await server.DropDatabaseAsync(name);
        }
    }

    [Fact]
    public async Task Migrate_TwoInstancesAtOnce_TakeTurns()
    {
        var server = await PostgresServer.GetAsync();
        await using (var conn = new NpgsqlConnection(server.AdminConnectionString()))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("CREATE DATABASE race_empty", conn);
            await cmd.ExecuteNonQueryAsync();
        }
        try
        {
            var cs = server.AdminConnectionString("race_empty");
            var runs = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => new Migrator().MigrateAsync(cs, null, CancellationToken.None))));
            // Exactly one run applied each migration; the others found it done.
            Assert.Equal(SchemaScript.Migrations().Count, runs.Sum(r => r.Applied.Count));
        }
        finally
        {
            await server.DropDatabaseAsync("race_empty");
        }
    }

    [Fact]
    public async Task Migrate_RestoresTheDatabaseSearchPath_WhenItWasLost()
    {
        await _db.ExecuteAsync($"ALTER DATABASE \"{_db.Name}\" RESET search_path");
        await new Migrator().MigrateAsync(_db.AdminConnectionString, null, CancellationToken.None);
        await using var conn = new NpgsqlConnection(_db.AdminConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SHOW search_path", conn);
        Assert.Contains("memory", (string)(await cmd.ExecuteScalarAsync())!, StringComparison.Ordinal);
    }
}
