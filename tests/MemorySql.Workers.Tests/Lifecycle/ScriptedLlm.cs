using System.Text.Json;
using MemorySql.Embeddings.Llm;

namespace MemorySql.Workers.Tests.Lifecycle;

/// <summary>
/// A chat model whose answers the test writes: <see cref="Answer"/> maps the (older, newer) texts of a
/// contradiction question to a JSON answer or an exception. Counts calls, can hold calls on a gate.
/// </summary>
internal sealed class ScriptedLlm : ILlmProvider
{
    private int _calls;

    public string Model => "scripted-judge";

    public int Calls => Volatile.Read(ref _calls);

    /// <summary>(older text, newer text) → the answer object (serialised as the model's JSON), or throw.</summary>
    public Func<string, string, object> Answer { get; set; } = (_, _) => new { verdict = "unrelated", current = "unclear", confidence = 0.5, reason = "scripted" };

    /// <summary>When set, calls wait for it after signalling <see cref="Entered"/>.</summary>
    public TaskCompletionSource? Gate { get; set; }

    public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public List<LlmRequest> Requests { get; } = [];

    public async Task<LlmResult> CompleteAsync(LlmRequest request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _calls);
        lock (Requests) Requests.Add(request);
        Entered.TrySetResult();
        if (Gate is { } gate) await gate.Task.WaitAsync(cancellationToken);
        using var question = JsonDocument.Parse(request.Messages[^1].Content);
        var older = question.RootElement.GetProperty("older").GetProperty("text").GetString()!;
        var newer = question.RootElement.GetProperty("newer").GetProperty("text").GetString()!;
        var answer = Answer(older, newer);
        var text = JsonSerializer.Serialize(answer);
        return new LlmResult(text, JsonDocument.Parse(text).RootElement.Clone(), new LlmUsage(120, 30), Model);
    }
}
