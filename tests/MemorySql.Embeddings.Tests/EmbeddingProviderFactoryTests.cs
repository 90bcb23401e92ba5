using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace MemorySql.Embeddings.Tests;

public sealed class EmbeddingProviderFactoryTests
{
    private static IConfiguration Config(params (string Key, string? Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    [Fact]
    public void Create_WithNoConfiguration_IsTheBuiltinModel()
    {
        var provider = EmbeddingProviderFactory.Create(EmbeddingOptions.FromConfiguration(Config()));
        Assert.IsType<BuiltinEmbeddingProvider>(provider);
        Assert.Equal("builtin-v2", provider.Model);
        Assert.Equal(384, provider.Dimension);
    }

    [Fact]
    public void Create_BuiltinWithDimension_NamesTheDimension()
    {
        var provider = EmbeddingProviderFactory.Create(EmbeddingOptions.FromConfiguration(Config(
            ("Embeddings:Provider", "BUILTIN"), ("Embeddings:Builtin:Dimension", "256"))));
        Assert.Equal("builtin-v2-d256", provider.Model);
        Assert.Equal(256, provider.Dimension);
    }

    [Fact]
    public void Create_OpenAiFromConfiguration_BindsEveryKey()
    {
        var options = EmbeddingOptions.FromConfiguration(Config(
            ("Embeddings:Provider", "openai"),
            ("Embeddings:OpenAI:BaseUrl", "http://localhost:11434/v1"),
            ("Embeddings:OpenAI:Model", "nomic-embed-text"),
            ("Embeddings:OpenAI:ApiKey", "k"),
            ("Embeddings:OpenAI:ApiKeyHeader", "api-key"),
            ("Embeddings:OpenAI:Dimensions", "768"),
            ("Embeddings:OpenAI:SendDimensions", "false"),
            ("Embeddings:OpenAI:ModelName", "nomic-local"),
            ("Embeddings:OpenAI:BatchSize", "16"),
            ("Embeddings:OpenAI:TimeoutSeconds", "12.5"),
            ("Embeddings:OpenAI:MaxRetries", "7"),
            ("Embeddings:OpenAI:MaxConcurrency", "3"),
            ("Embeddings:OpenAI:RetryBaseDelaySeconds", "0.25"),
            ("Embeddings:OpenAI:RetryMaxDelaySeconds", "9")));
        var o = options.OpenAI;
        Assert.Equal(("http://localhost:11434/v1", "nomic-embed-text", "k", "api-key", 768, false, "nomic-local"),
            (o.BaseUrl, o.Model, o.ApiKey, o.ApiKeyHeader, o.Dimensions, o.SendDimensions, o.ModelName));
        Assert.Equal((16, 12.5, 7, 3, 0.25, 9.0), (o.BatchSize, o.TimeoutSeconds, o.MaxRetries, o.MaxConcurrency, o.RetryBaseDelaySeconds, o.RetryMaxDelaySeconds));

        using var provider = Assert.IsType<OpenAiEmbeddingProvider>(EmbeddingProviderFactory.Create(options));
        Assert.Equal("nomic-local", provider.Model);
        Assert.Equal(768, provider.Dimension);
    }

    [Theory]
    [InlineData("Embeddings:Provider", "sentence-bert", "Embeddings:Provider 'sentence-bert' is unknown")]
    [InlineData("Embeddings:Builtin:Dimension", "5000", "Embeddings:Builtin:Dimension must be between 32 and 2000")]
    [InlineData("Embeddings:Builtin:Model", "builtin-v0", "Embeddings:Builtin:Model 'builtin-v0' is not a builtin model")]
    public void Create_InvalidBuiltinSettings_NameTheKey(string key, string value, string expected)
    {
        var error = Assert.Throws<InvalidOperationException>(() => EmbeddingProviderFactory.Create(EmbeddingOptions.FromConfiguration(Config((key, value)))));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Model", "", "Embeddings:OpenAI:Model is required")]
    [InlineData("Model", "my-own-model", "Embeddings:OpenAI:Dimensions is required for model 'my-own-model'")]
    [InlineData("Dimensions", "3072", "pgvector indexes 1 to 2000 dimensions")]
    [InlineData("BaseUrl", "localhost:11434", "Embeddings:OpenAI:BaseUrl must be an absolute http(s) URL")]
    [InlineData("ModelName", "my model!", "set Embeddings:OpenAI:ModelName to such a name")]
    [InlineData("BatchSize", "0", "Embeddings:OpenAI:BatchSize must be between 1 and 2048")]
    [InlineData("TimeoutSeconds", "0", "Embeddings:OpenAI:TimeoutSeconds must be above 0")]
    [InlineData("MaxRetries", "-1", "Embeddings:OpenAI:MaxRetries must be between 0 and 20")]
    [InlineData("MaxConcurrency", "0", "Embeddings:OpenAI:MaxConcurrency must be between 1 and 256")]
    [InlineData("ApiKeyHeader", "X-Key", "Embeddings:OpenAI:ApiKeyHeader must be 'Authorization' (Bearer) or 'api-key'")]
    public void Create_InvalidOpenAiSettings_NameTheKey(string key, string value, string expected)
    {
        var config = key == "Model"
            ? Config(("Embeddings:Provider", "openai"), ("Embeddings:OpenAI:Model", value))
            : Config(("Embeddings:Provider", "openai"), ("Embeddings:OpenAI:Model", "text-embedding-3-small"), ($"Embeddings:OpenAI:{key}", value));
        var error = Assert.Throws<InvalidOperationException>(() => EmbeddingProviderFactory.Create(EmbeddingOptions.FromConfiguration(config)));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_ReportsEveryProblemAtOnce()
    {
        var errors = EmbeddingProviderFactory.Validate(new EmbeddingOptions
        {
            Provider = "openai",
            OpenAI = new OpenAiEmbeddingOptions { BaseUrl = "nope", Model = "", BatchSize = 0 },
        });
        Assert.Equal(3, errors.Count);
    }

    [Fact]
    public void AddMemorySqlEmbeddings_RegistersOneSharedProvider()
    {
        var services = new ServiceCollection()
            .AddMemorySqlEmbeddings(Config(("Embeddings:Builtin:Dimension", "128")))
            .BuildServiceProvider();
        var first = services.GetRequiredService<IEmbeddingProvider>();
        Assert.Same(first, services.GetRequiredService<IEmbeddingProvider>());
        Assert.Equal("builtin-v2-d128", first.Model);
    }

    [Fact]
    public void AddMemorySqlEmbeddings_InvalidConfiguration_FailsOnFirstUseNamingTheKey()
    {
        var services = new ServiceCollection()
            .AddMemorySqlEmbeddings(Config(("Embeddings:Provider", "openai")))
            .BuildServiceProvider();
        var error = Assert.Throws<InvalidOperationException>(services.GetRequiredService<IEmbeddingProvider>);
        Assert.Contains("Embeddings:OpenAI:Model is required", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("https://api.openai.com/v1", "https://api.openai.com/v1/embeddings")]
    [InlineData("http://localhost:11434/v1/", "http://localhost:11434/v1/embeddings")]
    [InlineData("http://tei:8080/v1/embeddings", "http://tei:8080/v1/embeddings")]
    [InlineData("https://r.openai.azure.com/openai/deployments/e?api-version=2024-10-21", "https://r.openai.azure.com/openai/deployments/e/embeddings?api-version=2024-10-21")]
    public void EmbeddingsEndpoint_AppendsThePathAndKeepsTheQuery(string baseUrl, string expected) =>
        Assert.Equal(expected, OpenAI.OpenAiOptionsValidator.EmbeddingsEndpoint(baseUrl).ToString());

    [Fact]
    public void AzureHost_DefaultsToTheApiKeyHeader()
    {
        var options = new OpenAiEmbeddingOptions { BaseUrl = "https://r.openai.azure.com/openai/deployments/e?api-version=2024-10-21", Model = "text-embedding-3-small" };
        Assert.True(OpenAI.OpenAiOptionsValidator.UsesApiKeyHeader(options, OpenAI.OpenAiOptionsValidator.EmbeddingsEndpoint(options.BaseUrl)));
        options.ApiKeyHeader = "Authorization";
        Assert.False(OpenAI.OpenAiOptionsValidator.UsesApiKeyHeader(options, OpenAI.OpenAiOptionsValidator.EmbeddingsEndpoint(options.BaseUrl)));
    }
}
