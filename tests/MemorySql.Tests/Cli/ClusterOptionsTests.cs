using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using MemorySql.Runtime;
using Microsoft.Extensions.Configuration;

namespace MemorySql.Tests.Cli;

/// <summary>Cluster:SharedBuffers: the automatic size and the documented examples (docs/configuration.md).</summary>
public sealed partial class ClusterOptionsTests
{
    private const long MB = 1L << 20;

    [Theory]
    [InlineData(1024 * MB, "256MB")]       // a quarter of the memory
    [InlineData(256 * MB, "128MB")]        // never below PostgreSQL's default
    [InlineData(64 * 1024 * MB, "2GB")]    // never above 2 GB
    public void SharedBuffers_Auto_IsAQuarterOfTheMemory_Between128MBAnd2GB(long available, string expected) =>
        Assert.Equal(expected, new ClusterOptions().ResolveSharedBuffers(available));

    [Theory]
    [InlineData("512MB")]
    [InlineData("4GB")]
    [InlineData("131072kB")]
    public void SharedBuffers_GivenASize_IsUsedAsIs(string size) =>
        Assert.Equal(size, new ClusterOptions { SharedBuffers = size }.ResolveSharedBuffers(8192 * MB));

    [Theory]
    [InlineData("lots")]
    [InlineData("512")]
    [InlineData("512 MB")]
    [InlineData("")]
    public void SharedBuffers_NotASize_FailsNamingTheKey(string value)
    {
        var options = new ClusterOptions { SharedBuffers = value };
        Assert.Contains("Cluster:SharedBuffers must be auto or a size", Assert.Single(options.Validate()), StringComparison.Ordinal);
        var e = Assert.Throws<InvalidOperationException>(() => options.ResolveSharedBuffers(8192 * MB));
        Assert.Contains("Cluster:SharedBuffers", e.Message, StringComparison.Ordinal);
    }

    [GeneratedRegex("```json\\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex JsonBlock();

    /// <summary>The JSON examples of docs/configuration.md that configure the Cluster section.</summary>
    public static IReadOnlyList<string> DocsExamples() =>
        JsonBlock().Matches(File.ReadAllText(Path.Combine(Psql.RepositoryRoot(), "docs", "configuration.md")))
            .Select(m => m.Groups[1].Value)
            .Where(json =>
            {
                using var document = JsonDocument.Parse(json);
                return document.RootElement.TryGetProperty(ClusterOptions.SectionName, out _);
            })
            .ToList();

    public static ClusterOptions Bind(string json) =>
        ClusterOptions.FromConfiguration(new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build());

    [Fact]
    public void DocsExamples_BindToValidOptions()
    {
        var examples = DocsExamples();
        Assert.NotEmpty(examples);
        foreach (var json in examples)
        {
            var options = Bind(json);
            Assert.Empty(options.Validate());
            Assert.NotEqual(ClusterOptions.Auto, options.SharedBuffers);
        }
    }
}
