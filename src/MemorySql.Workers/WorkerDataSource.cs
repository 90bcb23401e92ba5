using Npgsql;

namespace MemorySql.Workers;

/// <summary>The admin data source the workers use (owner of the memory schema); disposed with the container.</summary>
internal sealed class WorkerDataSource : IAsyncDisposable, IDisposable
{
    public WorkerDataSource(NpgsqlDataSource dataSource) => DataSource = dataSource ?? throw new ArgumentNullException(nameof(dataSource));

    public NpgsqlDataSource DataSource { get; }

    public ValueTask DisposeAsync() => DataSource.DisposeAsync();

    public void Dispose() => DataSource.Dispose();
}
