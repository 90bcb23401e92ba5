using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using MemorySql.Embeddings;
using MemorySql.Embeddings.Llm;
using MemorySql.Workers.Check;
using MemorySql.Workers.Common;
using MemorySql.Workers.Decay;
using MemorySql.Workers.Embed;
using MemorySql.Workers.Tests.Lifecycle;
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

    private static readonly (string, string?)[] OnlyEmbed = [("Workers:Decay:Enabled", "false"), ("Workers:Check:Enabled", "false")];

    [Fact]
    public async Task AddMemorySqlWorkers_RegistersTheEmbedWorkerAsHostedService()
    {
        await using var services = Build(Config([("Workers:Embed:BatchSize", "77"), ("Embeddings:Builtin:Dimension", "64"), .. OnlyEmbed]));
        var hosted = Assert.Single(services.GetServices<IHostedService>());
        var worker = Assert.IsType<EmbedWorker>(hosted);
        Assert.Same(worker, services.GetRequiredService<EmbedWorker>());
        Assert.Equal("builtin-v1-d64", worker.Model);
        Assert.Equal(77, services.GetRequiredService<Microsoft.Extensions.Options.IOptions<EmbedWorkerOptions>>().Value.BatchSize);
        var snapshot = Assert.Single(services.GetRequiredService<WorkerHealthRegistry>().Snapshot());
        Assert.Equal("builtin-v1-d64", snapshot.Target);
    }

    [Fact]
    public async Task AddMemorySqlWorkers_ByDefault_RegistersEmbedDecayAndCheckWorkers()
    {
        await using var services = Build(Config());
        var hosted = services.GetServices<IHostedService>().ToList();
        Assert.Equal(3, hosted.Count);
        Assert.Contains(hosted, h => h is EmbedWorker);
        Assert.Contains(hosted, h => h is DecayWorker);
        var check = Assert.IsType<CheckWorker>(Assert.Single(hosted, h => h is CheckWorker));
        Assert.Equal(new[] { "check", "decay", "embed" }, services.GetRequiredService<WorkerHealthRegistry>().Snapshot().Select(s => s.Worker).ToArray());
        Assert.Equal("heuristics", check.Health.Target);   // no LLM registered
    }

    [Fact]
    public async Task AddMemorySqlWorkers_WithAnLlm_TheCheckWorkerJudgesWithIt_UnlessTurnedOff()
    {
        await using (var services = new ServiceCollection().AddLogging().AddMemorySqlEmbeddings(Config()).AddSingleton<ILlmProvider>(new ScriptedLlm())
                         .AddMemorySqlWorkers(Config(), _ => NpgsqlDataSource.Create(ConnectionString)).BuildServiceProvider())
        {
            Assert.Equal("llm:scripted-judge", services.GetRequiredService<CheckWorker>().Health.Target);
        }
        var noLlm = Config(("Workers:Check:UseLlm", "false"));
        await using (var services = new ServiceCollection().AddLogging().AddMemorySqlEmbeddings(noLlm).AddSingleton<ILlmProvider>(new ScriptedLlm())
                         .AddMemorySqlWorkers(noLlm, _ => NpgsqlDataSource.Create(ConnectionString)).BuildServiceProvider())
        {
            Assert.Equal("heuristics", services.GetRequiredService<CheckWorker>().Health.Target);
        }
    }

    [Fact]
    public async Task AddMemorySqlWorkers_Disabled_RegistersNoWorker()
    {
        await using var services = Build(Config([("Workers:Embed:Enabled", "false"), .. OnlyEmbed]));
        Assert.Empty(services.GetServices<IHostedService>());
        Assert.Empty(services.GetRequiredService<WorkerHealthRegistry>().Snapshot());
    }

    [Fact]
    public async Task InvalidOptions_FailNamingTheKey()
    {
        await using var services = Build(Config(("Workers:Embed:BatchSize", "0"), ("Workers:Embed:MaxAttempts", "0"),
            ("Workers:Decay:IntervalSeconds", "0"), ("Workers:Check:Candidates", "0"), ("Workers:Check:LeaseSeconds", "-1")));
        Func<object>[] creations = [services.GetRequiredService<EmbedWorker>, services.GetRequiredService<DecayWorker>, services.GetRequiredService<CheckWorker>];
        var errors = string.Join("\n", creations.Select(create => Assert.Throws<ArgumentException>(create).Message));
        Assert.Contains("Workers:Embed:BatchSize must be between 1 and 10000", errors, StringComparison.Ordinal);
        Assert.Contains("Workers:Embed:MaxAttempts must be between 1 and 1000", errors, StringComparison.Ordinal);
        Assert.Contains("Workers:Decay:IntervalSeconds must be between 1 and 604800", errors, StringComparison.Ordinal);
        Assert.Contains("Workers:Check:Candidates must be between 1 and 50", errors, StringComparison.Ordinal);
        Assert.Contains("Workers:Check:LeaseSeconds must be between 1 and 86400", errors, StringComparison.Ordinal);
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
    public void Docs_HaveWorkerExamples()
    {
        var examples = new List<string>();
        foreach (var row in (IEnumerable<object[]>)WorkerExamples()) examples.Add((string)row[0]);
        Assert.True(examples.Count >= 5);
        Assert.Contains(examples, e => e.Contains("\"Decay\"", StringComparison.Ordinal));
        Assert.True(examples.Count(e => e.Contains("\"Check\"", StringComparison.Ordinal)) >= 2);
    }

    [Theory]
    [MemberData(nameof(WorkerExamples))]
    public async Task DocsExample_BindsToValidOptions(string json)
    {
        var configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();
        var embed = new EmbedWorkerOptions();
        configuration.GetSection(EmbedWorkerOptions.SectionName).Bind(embed);
        var decay = new DecayWorkerOptions();
        configuration.GetSection(DecayWorkerOptions.SectionName).Bind(decay);
        var check = new CheckWorkerOptions();
        configuration.GetSection(CheckWorkerOptions.SectionName).Bind(check);
        Assert.Empty(embed.Validate().Concat(decay.Validate()).Concat(check.Validate()));
        await using var services = Build(configuration);
        var hosted = services.GetServices<IHostedService>().ToList();
        Assert.Equal(embed.Enabled, hosted.Any(h => h is EmbedWorker));
        Assert.Equal(decay.Enabled, hosted.Any(h => h is DecayWorker));
        Assert.Equal(check.Enabled, hosted.Any(h => h is CheckWorker));
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
