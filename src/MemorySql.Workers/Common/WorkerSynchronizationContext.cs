using System.Runtime.CompilerServices;

namespace MemorySql.Workers.Common;

/// <summary>
/// Runs the workers' continuations on the thread pool, never on the thread that completed the awaited I/O.
/// </summary>
/// <remarks>
/// The proxy in the same process turns on inline socket completions (one thread hop less per relayed message):
/// a socket read then completes on one of .NET's few socket event threads and, with no context, the code awaiting
/// it continues right there. The relay never blocks, but worker code may — CPU work, or a synchronous wait such as
/// Npgsql's savepoint methods (see <see cref="Savepoint"/>): a socket thread blocked on an answer that only it can
/// deliver stalls every socket of the process until a timeout fires. With this context every <c>await</c> in
/// worker code resumes on a pool thread instead; workers pay a few microseconds per await, which they never notice.
/// Enter it once at the top of a worker's loop with <c>await WorkerSynchronizationContext.Enter()</c>.
/// </remarks>
internal sealed class WorkerSynchronizationContext : SynchronizationContext
{
    public static readonly WorkerSynchronizationContext Instance = new();

    private WorkerSynchronizationContext() { }

    /// <summary>Continues the calling async method on the thread pool, under this context from then on.</summary>
    public static EnterAwaitable Enter() => default;

    public override void Post(SendOrPostCallback d, object? state) =>
        ThreadPool.UnsafeQueueUserWorkItem(static work => work.Run(), new WorkItem(d, state), preferLocal: false);

    public override void Send(SendOrPostCallback d, object? state) => new WorkItem(d, state).Run();

    public override SynchronizationContext CreateCopy() => this;

    private sealed class WorkItem(SendOrPostCallback callback, object? state)
    {
        public void Run()
        {
            var previous = Current;
            SetSynchronizationContext(Instance);
            try
            {
                callback(state);
            }
            finally
            {
                SetSynchronizationContext(previous);
            }
        }
    }

    public readonly struct EnterAwaitable
    {
        public EnterAwaiter GetAwaiter() => default;
    }

    public readonly struct EnterAwaiter : INotifyCompletion
    {
        // Always hop, even when already under the context: the caller may be on a socket thread right now.
        public bool IsCompleted => false;

        public void OnCompleted(Action continuation) => Instance.Post(static c => ((Action)c!)(), continuation);

        public void GetResult() { }
    }
}
