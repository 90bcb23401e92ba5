using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using MemorySql.Embeddings.Llm;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace MemorySql.Embeddings.Tests;

/// <summary>Every JSON example of the Embeddings section in docs/configuration.md binds and creates a provider.</summary>
public sealed partial class ConfigurationDocsTests
{
    [GeneratedRegex("```json\\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex JsonBlock();

    public static TheoryData<int, string> EmbeddingExamples()
    {
        var data = new TheoryData<int, string>();
        var number = 0;
        foreach (Match match in JsonBlock().Matches(File.ReadAllText(DocsPath())))
        {
            var json = match.Groups[1].Value;
            using var document = JsonDocument.Parse(json);
            if (document.RootElement.TryGetProperty("Embeddings", out _)) data.Add(++number, json);
        }
        return data;
    }

    [Fact]
    public void Docs_HaveExamplesForBothProviders()
    {
        var examples = EmbeddingExamples().Select(row => (string)row[1]).ToList();
        Assert.Contains(examples, e => e.Contains("\"builtin\"", StringComparison.Ordinal));
        Assert.True(examples.Count(e => e.Contains("\"openai\"", StringComparison.Ordinal)) >= 3);
    }

    [Theory]
    [MemberData(nameof(EmbeddingExamples))]
    public void Example_BindsAndCreatesAProvider(int number, string json)
    {
        var configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();
        var options = EmbeddingOptions.FromConfiguration(configuration);
        Assert.True(EmbeddingProviderFactory.Validate(options).Count == 0, $"example {number}: {string.Join("; ", EmbeddingProviderFactory.Validate(options))}");
        var provider = EmbeddingProviderFactory.Create(options);
        (provider as IDisposable)?.Dispose();
        Assert.False(string.IsNullOrEmpty(provider.Model));
    }

    public static TheoryData<int, string> LlmExamples()
    {
        var data = new TheoryData<int, string>();
        var number = 0;
        foreach (Match match in JsonBlock().Matches(File.ReadAllText(DocsPath())))
        {
            var json = match.Groups[1].Value;
            using var document = JsonDocument.Parse(json);
            if (document.RootElement.TryGetProperty("Llm", out _)) data.Add(++number, json);
        }
        return data;
    }

    [Fact]
    public void Docs_HaveLlmExamples_ForNoneAndSeveralServers()
    {
        var examples = LlmExamples().Select(row => (string)row[1]).ToList();
        Assert.Contains(examples, e => e.Contains("\"none\"", StringComparison.Ordinal));
        Assert.True(examples.Count(e => e.Contains("\"openai\"", StringComparison.Ordinal)) >= 4);
        Assert.Contains(examples, e => e.Contains("\"api-key\"", StringComparison.Ordinal));          // Azure
        Assert.Contains(examples, e => e.Contains("\"StructuredOutput\"", StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(LlmExamples))]
    public async Task LlmExample_BindsValidates_AndTheFactoryAndRegistrationBuildIt(int number, string json)
    {
        var configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();
        var options = LlmOptions.FromConfiguration(configuration);
        var errors = LlmProviderFactory.Validate(options);
        Assert.True(errors.Count == 0, $"example {number}: {string.Join("; ", errors)}");
        var configured = LlmProviderFactory.IsConfigured(options);
        var provider = LlmProviderFactory.Create(options);
        try
        {
            Assert.Equal(configured, provider is not null);
            if (provider is not null) Assert.Equal(options.OpenAI.Model, provider.Model);
        }
        finally
        {
            (provider as IDisposable)?.Dispose();
        }
        await using var services = new ServiceCollection().AddMemorySqlLlm(configuration).BuildServiceProvider();
        Assert.Equal(configured, services.GetService<ILlmProvider>() is not null);
    }

    internal static string DocsPath()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "docs", "configuration.md");
            if (File.Exists(candidate) && File.Exists(Path.Combine(dir.FullName, "MemorySql.sln"))) return candidate;
        }
        throw new FileNotFoundException("docs/configuration.md not found above " + AppContext.BaseDirectory);
    }
}
