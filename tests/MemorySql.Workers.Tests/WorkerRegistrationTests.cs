using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using MemorySql.Embeddings;
using MemorySql.Embeddings.Llm;
using MemorySql.Workers.Check;
using MemorySql.Workers.Common;
using MemorySql.Workers.Access;
using MemorySql.Workers.Decay;
using MemorySql.Workers.Embed;
using MemorySql.Workers.Tests.Lifecycle;
using MemorySql.Workers.Extraction;
using MemorySql.Workers.Health;
using MemorySql.Workers.Llm;
using MemorySql.Workers.Reflection;
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
    public async Task AddMemorySqlWorkers_RegistersEveryWorkerAsHostedService_HealthFirst()
    {
        await using var services = Build(Config(("Workers:Embed:BatchSize", "77"), ("Embeddings:Builtin:Dimension", "64")));
        var hosted = services.GetServices<IHostedService>().ToList();
        Assert.IsType<WorkerHealthWriter>(hosted[0]); // first, so it stops last
        Assert.IsType<LlmUsageWriter>(hosted[1]);     // before the workers, so it flushes what they spent
        var worker = Assert.IsType<EmbedWorker>(Assert.Single(hosted, h => h is EmbedWorker));
        Assert.Single(hosted, h => h is ExtractionWorker);
        Assert.Single(hosted, h => h is ReflectionWorker);
        Assert.Same(worker, services.GetRequiredService<EmbedWorker>());
        Assert.Same(services.GetRequiredService<LlmUsageWriter>(), services.GetRequiredService<ILlmUsageSink>());
        Assert.Equal("builtin-v2-d64", worker.Model);
        Assert.Equal(77, services.GetRequiredService<Microsoft.Extensions.Options.IOptions<EmbedWorkerOptions>>().Value.BatchSize);
        var targets = services.GetRequiredService<WorkerHealthRegistry>().Snapshot().ToDictionary(s => s.Worker, s => s.Target);
        Assert.Equal("builtin-v2-d64", targets["embed"]);
        Assert.Equal("heuristic", targets["extraction"]);
        Assert.Equal("extractive", targets["reflection"]);
    }

    [Fact]
    public async Task AddMemorySqlWorkers_ByDefault_RegistersEveryWorker()
    {
        await using var services = Build(Config());
        var hosted = services.GetServices<IHostedService>().ToList();
        Assert.Single(hosted, h => h is EmbedWorker);
        Assert.Single(hosted, h => h is DecayWorker);
        Assert.Single(hosted, h => h is AccessWorker);
        Assert.Single(hosted, h => h is ExtractionWorker);
        Assert.Single(hosted, h => h is ReflectionWorker);
        var check = Assert.IsType<CheckWorker>(Assert.Single(hosted, h => h is CheckWorker));
        Assert.Equal(new[] { "access", "check", "decay", "embed", "extraction", "reflection" },
            services.GetRequiredService<WorkerHealthRegistry>().Snapshot().Select(s => s.Worker).Order().ToArray());
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
    public async Task AddMemorySqlWorkers_WithAnLlm_ExtractionAndReflectionUseIt()
    {
        var config = Config(("Llm:Provider", "openai"), ("Llm:OpenAI:Model", "gpt-test"), ("Llm:OpenAI:BaseUrl", "http://127.0.0.1:1/v1"));
        await using var services = new ServiceCollection().AddLogging().AddMemorySqlEmbeddings(config).AddMemorySqlLlm(config)
            .AddMemorySqlWorkers(config, _ => NpgsqlDataSource.Create(ConnectionString)).BuildServiceProvider();
        _ = services.GetServices<IHostedService>().ToList();
        var targets = services.GetRequiredService<WorkerHealthRegistry>().Snapshot().ToDictionary(s => s.Worker, s => s.Target);
        Assert.Equal("llm:gpt-test", targets["extraction"]);
        Assert.Equal("llm:gpt-test", targets["reflection"]);
    }

    [Fact]
    public async Task AddMemorySqlWorkers_Disabled_RegistersOnlyTheUsageWriter()
    {
        await using var services = Build(Config(("Workers:Embed:Enabled", "false"), ("Workers:Health:Enabled", "false"),
            ("Workers:Extraction:Enabled", "false"), ("Workers:Reflection:Enabled", "false"),
            ("Workers:Decay:Enabled", "false"), ("Workers:Check:Enabled", "false"), ("Workers:Access:Enabled", "false")));
        Assert.IsType<LlmUsageWriter>(Assert.Single(services.GetServices<IHostedService>()));
        Assert.Empty(services.GetRequiredService<WorkerHealthRegistry>().Snapshot());
    }

    [Fact]
    public async Task InvalidOptions_FailNamingTheKey()
    {
        await using var services = Build(Config(("Workers:Embed:BatchSize", "0"), ("Workers:Embed:MaxAttempts", "0"),
            ("Workers:Decay:IntervalSeconds", "0"), ("Workers:Check:Candidates", "0"), ("Workers:Check:LeaseSeconds", "-1"),
            ("Workers:Access:IntervalSeconds", "0"), ("Workers:Access:BatchSize", "0")));
        Func<object>[] creations = [services.GetRequiredService<EmbedWorker>, services.GetRequiredService<DecayWorker>, services.GetRequiredService<CheckWorker>,
                                    services.GetRequiredService<AccessWorker>];
        var errors = string.Join("\n", creations.Select(create => Assert.Throws<ArgumentException>(create).Message));
        Assert.Contains("Workers:Embed:BatchSize must be between 1 and 10000", errors, StringComparison.Ordinal);
        Assert.Contains("Workers:Embed:MaxAttempts must be between 1 and 1000", errors, StringComparison.Ordinal);
        Assert.Contains("Workers:Decay:IntervalSeconds must be between 1 and 604800", errors, StringComparison.Ordinal);
        Assert.Contains("Workers:Check:Candidates must be between 1 and 50", errors, StringComparison.Ordinal);
        Assert.Contains("Workers:Check:LeaseSeconds must be between 1 and 86400", errors, StringComparison.Ordinal);
        Assert.Contains("Workers:Access:IntervalSeconds must be between 0.1 and 3600", errors, StringComparison.Ordinal);
        Assert.Contains("Workers:Access:BatchSize must be between 1 and 1000000", errors, StringComparison.Ordinal);
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
        Assert.Contains(examples, e => e.Contains("\"Access\"", StringComparison.Ordinal));
        Assert.True(examples.Count(e => e.Contains("\"Check\"", StringComparison.Ordinal)) >= 2);
        foreach (var section in new[] { "Extraction", "Reflection", "Health" })
        {
            // Each section has an example that sets more than Enabled, and one that turns the worker off.
            Assert.Contains(examples, e => e.Contains($"\"{section}\": {{\n", StringComparison.Ordinal) || e.Contains($"\"{section}\": {{ \"Enabled\": true,", StringComparison.Ordinal));
            Assert.Contains(examples, e => e.Contains($"\"{section}\": {{ \"Enabled\": false }}", StringComparison.Ordinal));
        }
    }

    [Theory]
    [MemberData(nameof(WorkerExamples))]
    public async Task DocsExample_BindsToValidOptions(string json)
    {
        var configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();
        var embed = Bind<EmbedWorkerOptions>(configuration, EmbedWorkerOptions.SectionName);
        var decay = Bind<DecayWorkerOptions>(configuration, DecayWorkerOptions.SectionName);
        var check = Bind<CheckWorkerOptions>(configuration, CheckWorkerOptions.SectionName);
        var extraction = Bind<ExtractionWorkerOptions>(configuration, ExtractionWorkerOptions.SectionName);
        var reflection = Bind<ReflectionWorkerOptions>(configuration, ReflectionWorkerOptions.SectionName);
        var health = Bind<WorkerHealthOptions>(configuration, WorkerHealthOptions.SectionName);
        var access = Bind<AccessWorkerOptions>(configuration, AccessWorkerOptions.SectionName);
        Assert.Empty(embed.Validate().Concat(decay.Validate()).Concat(check.Validate()).Concat(access.Validate()));
        Assert.Empty(extraction.Validate());
        Assert.Empty(reflection.Validate());
        Assert.Empty(health.Validate());
        await using var services = Build(configuration);
        var hosted = services.GetServices<IHostedService>().ToList();
        Assert.Equal(embed.Enabled ? 1 : 0, hosted.Count(h => h is EmbedWorker));
        Assert.Equal(decay.Enabled ? 1 : 0, hosted.Count(h => h is DecayWorker));
        Assert.Equal(access.Enabled ? 1 : 0, hosted.Count(h => h is AccessWorker));
        Assert.Equal(check.Enabled ? 1 : 0, hosted.Count(h => h is CheckWorker));
        Assert.Equal(extraction.Enabled ? 1 : 0, hosted.Count(h => h is ExtractionWorker));
        Assert.Equal(reflection.Enabled ? 1 : 0, hosted.Count(h => h is ReflectionWorker));
        Assert.Equal(health.Enabled ? 1 : 0, hosted.Count(h => h is WorkerHealthWriter));
    }

    private static T Bind<T>(IConfiguration configuration, string section) where T : new()
    {
        var options = new T();
        configuration.GetSection(section).Bind(options);
        return options;
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
