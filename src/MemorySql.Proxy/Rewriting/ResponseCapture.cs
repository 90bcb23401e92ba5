namespace MemorySql.Proxy.Rewriting;

/// <summary>What the proxy's own statement returned: its rows (text columns), or the error it raised, or nothing because the server skipped it.</summary>
internal sealed record CaptureResult(IReadOnlyList<string?[]> Rows, byte[]? ErrorResponse, bool Skipped)
{
    public static readonly CaptureResult WasSkipped = new([], null, true);
}

/// <summary>
/// The responses to messages the proxy sent upstream in the middle of the client's stream, taken out of the
/// stream by the backend loop. A capture starts after every response the server owed for earlier messages:
/// <see cref="Generation"/> ReadyForQuery messages seen and, within that, <see cref="UnitsBefore"/> "completion"
/// responses (ParseComplete, BindComplete, CloseComplete, ParameterDescription, RowDescription, NoData,
/// CommandComplete, EmptyQueryResponse, PortalSuspended, FunctionCallResponse). A simple-Query capture ends at its
/// ReadyForQuery; an extended one after <see cref="ExpectedUnits"/> completion responses or an error.
/// </summary>
internal sealed class ResponseCapture
{
    public ResponseCapture(long generation, long unitsBefore, int expectedUnits)
    {
        Generation = generation;
        UnitsBefore = unitsBefore;
        ExpectedUnits = expectedUnits;
    }

    public long Generation { get; }
    public long UnitsBefore { get; }

    /// <summary>Completion responses that end an extended capture; 0 for a simple Query (it ends at ReadyForQuery).</summary>
    public int ExpectedUnits { get; }

    public bool IsSimpleQuery => ExpectedUnits == 0;
    public int UnitsSeen { get; set; }
    public List<string?[]> Rows { get; } = [];
    public byte[]? Error { get; set; }
    public TaskCompletionSource<CaptureResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}
