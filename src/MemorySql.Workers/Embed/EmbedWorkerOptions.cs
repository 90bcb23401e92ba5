using System.Globalization;

namespace MemorySql.Workers.Embed;

/// <summary>How vectors travel to PostgreSQL.</summary>
public enum VectorTransfer
{
    /// <summary>One flat real[] parameter in binary, sliced per row and cast to vector by the server (fastest; see docs/benchmarks.md).</summary>
    Binary,
    /// <summary>pgvector's text form '[…]' per row, cast to vector.</summary>
    Text,
}

/// <summary>Settings of the embed worker (configuration section <c>Workers:Embed</c>).</summary>
public sealed class EmbedWorkerOptions
{
    public const string SectionName = "Workers:Embed";

    /// <summary>False to run no embed worker in this process (another instance does the work).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Memories claimed and embedded per transaction (one provider call).</summary>
    public int BatchSize { get; set; } = 256;

    /// <summary>Recall texts (memory.query_embeddings) claimed per transaction.</summary>
    public int QueryBatchSize { get; set; } = 64;

    /// <summary>Batches in flight at once in this process, each on its own connection (two overlap embedding with database round trips; see docs/benchmarks.md).</summary>
    public int Concurrency { get; set; } = 2;

    /// <summary>Attempts per row before it is marked 'failed' (and left for an operator).</summary>
    public int MaxAttempts { get; set; } = 8;

    /// <summary>Delay before the first retry of a failed row; doubles per attempt, with jitter.</summary>
    public double RetryBaseSeconds { get; set; } = 5;

    /// <summary>The longest delay between attempts of a row.</summary>
    public double RetryMaxSeconds { get; set; } = 3600;

    /// <summary>How often an idle worker looks at the queue when no NOTIFY arrives.</summary>
    public double PollIntervalSeconds { get; set; } = 5;

    /// <summary>Whether the worker's model is registered as the default model (recall uses the default).</summary>
    public bool MakeDefault { get; set; } = true;

    /// <summary>How vectors are sent to PostgreSQL.</summary>
    public VectorTransfer VectorTransfer { get; set; } = VectorTransfer.Binary;

    /// <summary>Every problem, each naming its key; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        void Check(bool ok, string message)
        {
            if (!ok) errors.Add(message);
        }
        var inv = CultureInfo.InvariantCulture;
        Check(BatchSize is >= 1 and <= 10_000, string.Create(inv, $"Workers:Embed:BatchSize must be between 1 and 10000 (got {BatchSize})"));
        Check(QueryBatchSize is >= 1 and <= 10_000, string.Create(inv, $"Workers:Embed:QueryBatchSize must be between 1 and 10000 (got {QueryBatchSize})"));
        Check(Concurrency is >= 1 and <= 64, string.Create(inv, $"Workers:Embed:Concurrency must be between 1 and 64 (got {Concurrency})"));
        Check(MaxAttempts is >= 1 and <= 1000, string.Create(inv, $"Workers:Embed:MaxAttempts must be between 1 and 1000 (got {MaxAttempts})"));
        Check(RetryBaseSeconds >= 0, string.Create(inv, $"Workers:Embed:RetryBaseSeconds must be 0 or more (got {RetryBaseSeconds})"));
        Check(RetryMaxSeconds >= RetryBaseSeconds, string.Create(inv, $"Workers:Embed:RetryMaxSeconds must be at least RetryBaseSeconds (got {RetryMaxSeconds})"));
        Check(PollIntervalSeconds > 0 && PollIntervalSeconds <= 3600, string.Create(inv, $"Workers:Embed:PollIntervalSeconds must be above 0 and at most 3600 (got {PollIntervalSeconds})"));
        return errors;
    }
}
