using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using MemorySql.Embeddings;
using MemorySql.Workers.Common;
using MemorySql.Workers.Embed;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;

namespace MemorySql.Workers.Tests;

public sealed partial class WorkerRegistrationTests
{
    private const string ConnectionString = "Host=127.0.0.1;Port=1;Username=nobody;Database=none";

    private static ServiceProvider Build(IConfiguration configuration) =>
        new ServiceCollection()
            .AddLogging()
            .AddMemorySqlEmbeddings(configuration)
            .AddMemorySqlWorkers(configuration, _ => NpgsqlDataSource.Create(ConnectionString))
            .BuildServiceProvider();

    private static IConfiguration Config(params (string Key, string? Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    [Fact]
    public async Task AddMemorySqlWorkers_RegistersTheEmbedWorkerAsHostedService()
    {
        await using var services = Build(Config(("Workers:Embed:BatchSize", "77"), ("Embeddings:Builtin:Dimension", "64")));
        var hosted = Assert.Single(services.GetServices<IHostedService>());
        var worker = Assert.IsType<EmbedWorker>(hosted);
        Assert.Same(worker, services.GetRequiredService<EmbedWorker>());
        Assert.Equal("builtin-v2-d64", worker.Model);
        Assert.Equal(77, services.GetRequiredService<Microsoft.Extensions.Options.IOptions<EmbedWorkerOptions>>().Value.BatchSize);
        var snapshot = Assert.Single(services.GetRequiredService<WorkerHealthRegistry>().Snapshot());
        Assert.Equal("builtin-v2-d64", snapshot.Target);
    }

    [Fact]
    public async Task AddMemorySqlWorkers_Disabled_RegistersNoWorker()
    {
        await using var services = Build(Config(("Workers:Embed:Enabled", "false")));
        Assert.Empty(services.GetServices<IHostedService>());
        Assert.Empty(services.GetRequiredService<WorkerHealthRegistry>().Snapshot());
    }

    [Fact]
    public async Task InvalidOptions_FailNamingTheKey()
    {
        await using var services = Build(Config(("Workers:Embed:BatchSize", "0"), ("Workers:Embed:MaxAttempts", "0")));
        var error = Assert.Throws<ArgumentException>(() => services.GetServices<IHostedService>().ToList());
        Assert.Contains("Workers:Embed:BatchSize must be between 1 and 10000", error.Message, StringComparison.Ordinal);
        Assert.Contains("Workers:Embed:MaxAttempts must be between 1 and 1000", error.Message, StringComparison.Ordinal);
    }

    [GeneratedRegex("```json\\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex JsonBlock();

    public static TheoryData<string> WorkerExamples()
    {
        var data = new TheoryData<string>();
        foreach (Match match in JsonBlock().Matches(File.ReadAllText(DocsPath())))
        {
            using var document = JsonDocument.Parse(match.Groups[1].Value);
            if (document.RootElement.TryGetProperty("Workers", out _)) data.Add(match.Groups[1].Value);
        }
        return data;
    }

    [Fact]
    public void Docs_HaveWorkerExamples() => Assert.True(WorkerExamples().Count >= 2);

    [Theory]
    [MemberData(nameof(WorkerExamples))]
    public async Task DocsExample_BindsToValidOptions(string json)
    {
        var configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();
        var options = new EmbedWorkerOptions();
        configuration.GetSection(EmbedWorkerOptions.SectionName).Bind(options);
        Assert.Empty(options.Validate());
        await using var services = Build(configuration);
        Assert.Equal(options.Enabled ? 1 : 0, services.GetServices<IHostedService>().Count());
    }

    private static string DocsPath()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "docs", "configuration.md");
            if (File.Exists(candidate) && File.Exists(Path.Combine(dir.FullName, "MemorySql.sln"))) return candidate;
        }
        throw new FileNotFoundException("docs/configuration.md not found above " + AppContext.BaseDirectory);
    }
}
