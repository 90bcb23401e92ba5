using MemorySql.Embeddings.Llm;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace MemorySql.Embeddings.Tests;

public sealed class LlmProviderFactoryTests
{
    private static IConfiguration Config(params (string Key, string? Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    [Fact]
    public void None_IsTheDefault_AndCreatesNoProvider()
    {
        var options = LlmOptions.FromConfiguration(Config());
        Assert.Equal("none", options.Provider);
        Assert.Empty(LlmProviderFactory.Validate(options));
        Assert.Null(LlmProviderFactory.Create(options));
        using var services = new ServiceCollection().AddMemorySqlLlm(Config()).BuildServiceProvider();
        Assert.Null(services.GetService<ILlmProvider>());
    }

    [Fact]
    public void OpenAi_IsRegisteredAsOneSharedProvider()
    {
        var config = Config(("Llm:Provider", "OpenAI"), ("Llm:OpenAI:BaseUrl", "http://localhost:11434/v1"), ("Llm:OpenAI:Model", "qwen2.5:7b-instruct"));
        using var services = new ServiceCollection().AddMemorySqlLlm(config).BuildServiceProvider();
        var provider = services.GetRequiredService<ILlmProvider>();
        Assert.Same(provider, services.GetRequiredService<ILlmProvider>());
        Assert.Equal("qwen2.5:7b-instruct", provider.Model);
    }

    [Fact]
    public void InvalidSettings_AreAllNamed()
    {
        var config = Config(("Llm:Provider", "openai"), ("Llm:OpenAI:BaseUrl", "localhost:11434"), ("Llm:OpenAI:TimeoutSeconds", "0"),
            ("Llm:OpenAI:MaxRetries", "99"), ("Llm:OpenAI:MaxTokens", "1"), ("Llm:OpenAI:ApiKeyHeader", "X-Key"));
        var errors = LlmProviderFactory.Validate(LlmOptions.FromConfiguration(config));
        foreach (var key in new[] { "Llm:OpenAI:BaseUrl", "Llm:OpenAI:Model", "Llm:OpenAI:TimeoutSeconds", "Llm:OpenAI:MaxRetries", "Llm:OpenAI:MaxTokens", "Llm:OpenAI:ApiKeyHeader" })
            Assert.Contains(errors, e => e.Contains(key, StringComparison.Ordinal));
        var thrown = Assert.Throws<InvalidOperationException>(() => new ServiceCollection().AddMemorySqlLlm(config));
        Assert.Contains("Llm:OpenAI:Model", thrown.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownProvider_IsNamed() =>
        Assert.Contains("Llm:Provider 'anthropic' is unknown", Assert.Single(LlmProviderFactory.Validate(new LlmOptions { Provider = "anthropic" })), StringComparison.Ordinal);
}
