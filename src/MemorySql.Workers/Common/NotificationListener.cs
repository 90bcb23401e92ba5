using Microsoft.Extensions.Logging;
using Npgsql;

namespace MemorySql.Workers.Common;

/// <summary>
/// Holds one connection that LISTENs on a channel and wakes the worker loops on a matching NOTIFY.
/// Reconnects with backoff when the connection drops, and wakes the loops after every (re)connect so
/// notifications sent while it was away are not waited for until the next poll.
/// </summary>
internal sealed class NotificationListener
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly string _channel;
    private readonly Func<string, bool> _accept;
    private readonly WakeSignal _signal;
    private readonly ILogger _logger;
    private readonly Backoff _backoff;
    private readonly TaskCompletionSource<bool> _firstAttempt = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public NotificationListener(NpgsqlDataSource dataSource, string channel, Func<string, bool> accept, WakeSignal signal, ILogger logger, Backoff backoff)
    {
        _dataSource = dataSource;
        _channel = channel;
        _accept = accept;
        _signal = signal;
        _logger = logger;
        _backoff = backoff;
    }

    /// <summary>Completes with true once LISTEN ran, or false when the first attempt failed (the loops then poll).</summary>
    public Task<bool> FirstAttempt => _firstAttempt.Task;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var failures = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
                connection.Notification += (_, e) =>
                {
                    if (_accept(e.Payload)) _signal.Set();
                };
                await using (var listen = new NpgsqlCommand("LISTEN " + QuoteIdentifier(_channel), connection))
                    await listen.ExecuteNonQueryAsync(cancellationToken);
                if (failures > 0) _logger.LogInformation("Listening on {Channel} again", _channel);
                failures = 0;
                _firstAttempt.TrySetResult(true);
                _signal.Set();
                while (true) await connection.WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NpgsqlException or IOException or TimeoutException or InvalidOperationException)
            {
                failures++;
                _firstAttempt.TrySetResult(false);
                var delay = _backoff.Delay(failures);
                _logger.LogWarning("LISTEN {Channel} connection failed ({Error}); polling until it is back, reconnecting in {Delay:F1} s",
                    _channel, e.Message, delay.TotalSeconds);
                try
                {
                    await Task.Delay(delay, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private static string QuoteIdentifier(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
