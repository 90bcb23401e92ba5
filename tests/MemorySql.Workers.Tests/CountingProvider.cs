using System.Collections.Concurrent;
using MemorySql.Embeddings;

namespace MemorySql.Workers.Tests;

/// <summary>
/// Wraps the real builtin provider under a test-chosen model name, counts how often each text was
/// embedded, and can block on a gate or fail on demand: the worker under test cannot tell it apart
/// from a real provider.
/// </summary>
internal sealed class CountingProvider : IEmbeddingProvider
{
    private readonly BuiltinEmbeddingProvider _inner = new();
    private int _calls;
    private int _completedCalls;

    public CountingProvider(string model) => Model = model;

    public string Model { get; }
    public int Dimension => _inner.Dimension;

    public ConcurrentDictionary<string, int> Embedded { get; } = new(StringComparer.Ordinal);
    public int Calls => Volatile.Read(ref _calls);
    public int CompletedCalls => Volatile.Read(ref _completedCalls);

    /// <summary>When set, calls wait for it (after signalling <see cref="Entered"/>).</summary>
    public TaskCompletionSource? Gate { get; set; }
    public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>When it returns an exception for a batch, the call throws it instead of embedding.</summary>
    public Func<IReadOnlyList<string>, Exception?>? Fail { get; set; }

    public float[] Expected(string text) => _inner.Embed(text);

    public async ValueTask<float[][]> EmbedAsync(IReadOnlyList<string> texts, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _calls);
        Entered.TrySetResult();
        if (Gate is { } gate) await gate.Task.WaitAsync(cancellationToken);
        if (Fail?.Invoke(texts) is { } failure) throw failure;
        var vectors = await _inner.EmbedAsync(texts, cancellationToken);
        foreach (var text in texts) Embedded.AddOrUpdate(text, 1, (_, n) => n + 1);
        Interlocked.Increment(ref _completedCalls);
        return vectors;
    }
}
