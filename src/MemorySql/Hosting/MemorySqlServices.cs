using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace MemorySql.Hosting;

/// <summary>Registers the proxy, the embedding provider and the workers from configuration.</summary>
internal static class MemorySqlServices
{
    public static void Add(IServiceCollection services, IConfiguration configuration, HostTarget target)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(target);
    }
}
