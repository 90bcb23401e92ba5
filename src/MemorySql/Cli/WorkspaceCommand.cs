using System.CommandLine;
using System.Security.Cryptography;
using MemorySql.Runtime;
using Npgsql;

namespace MemorySql.Cli;

/// <summary>`memorysql workspace create NAME`: a new tenant (a PostgreSQL role with its own memories).</summary>
internal static class WorkspaceCommand
{
    public static Command Create()
    {
        var dataDir = CommonOptions.DataDir();
        var upstream = CommonOptions.Upstream(required: false);
        var name = new Argument<string>("name") { Description = "The workspace (and PostgreSQL role) name: letters, digits and underscores." };
        var password = new Option<string?>("--password") { Description = "Its password (default: generated and printed once)." };
        var ifNotExists = new Option<bool>("--if-not-exists") { Description = "Succeed without changes when the workspace exists." };
        var create = new Command("create", "Create a workspace: a login role that sees only its own memories (row-level security), with a schema of its own for its tables.")
        {
            name, password, dataDir, upstream, ifNotExists,
        };
        create.SetAction((parse, cancellationToken) => Output.Guard(async () =>
        {
            var workspace = parse.GetValue(name)!;
            var secret = parse.GetValue(password) ?? Convert.ToBase64String(RandomNumberGenerator.GetBytes(18)).Replace('+', 'x').Replace('/', 'y');
            string adminConnectionString;
            string? url = null;
            if (parse.GetValue(upstream) is { } up)
            {
                adminConnectionString = PostgresUrl.ToConnectionString(up);
            }
            else
            {
                var folder = DataFolder.Open(parse.GetValue(dataDir)!);
                adminConnectionString = folder.AdminConnectionString();
                url = PostgresUrl.Build("127.0.0.1", folder.State.ProxyPort, workspace, secret, DataFolder.DatabaseName);
            }
            if (!await Workspaces.EnsureAsync(adminConnectionString, workspace, secret, Output.Progress, cancellationToken))
            {
                if (!parse.GetValue(ifNotExists)) return Output.Fail($"workspace {workspace} exists already");
                Output.Progress($"workspace {workspace} exists already");
                return 0;
            }
            Output.Success($"workspace {workspace} created");
            Console.WriteLine(url ?? $"user={workspace} password={secret}");
            return 0;
        }));
        var command = new Command("workspace", "Manage workspaces (tenants).") { create };
        return command;
    }
}
