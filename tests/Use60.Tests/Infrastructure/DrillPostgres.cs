using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Use60.Tests.Infrastructure;

/// <summary>
/// A small PostgreSQL cluster of its own (made with scripts/lib/postgres.sh, as test.sh makes the shared one), which a drill may
/// stop and start: the shared cluster serves the other test classes meanwhile. Database use60, roles use60_owner and use60_app.
/// </summary>
public sealed class DrillPostgres : IAsyncDisposable
{
    readonly string work = Directory.CreateTempSubdirectory("use60-drill-").FullName;
    readonly int port = FreePort();
    readonly string ownerPassword = Guid.NewGuid().ToString("N");
    readonly string appPassword = Guid.NewGuid().ToString("N");

    string Data => Path.Combine(work, "postgres");

    public string AppUrl => $"Host=127.0.0.1;Port={port};Username=use60_app;Password={appPassword};Database=use60";
    public string OwnerUrl => $"Host=127.0.0.1;Port={port};Username=use60_owner;Password={ownerPassword};Database=use60";

    /// <summary>The owner on the app's narrow cross-tenant path (app.system), to count every org's rows.</summary>
    public string SystemUrl => OwnerUrl + ";Options=-c app.system=on";

    public static async Task<DrillPostgres> StartAsync()
    {
        var postgres = new DrillPostgres();
        // The server runs as 'postgres' when the tests run as root: it must reach the folder.
        await postgres.ScriptAsync($"chmod 755 '{postgres.work}' && pg_init '{postgres.Data}' {postgres.port} '{Guid.NewGuid():N}' fast && pg_start '{postgres.Data}' && " +
                                   $"pg_roles '{postgres.Data}' '{postgres.ownerPassword}' '{postgres.appPassword}' && pg_database '{postgres.Data}' use60");
        return postgres;
    }

    /// <summary>pg_ctl stop -m fast: the server is gone, its port closed.</summary>
    public Task StopAsync() => ScriptAsync($"pg_as_server_user \"$PG_BIN/pg_ctl\" -D '{Data}/data' -m fast -w stop >/dev/null");

    public Task StartAgainAsync() => ScriptAsync($"pg_start '{Data}'");

    async Task ScriptAsync(string commands)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add($"set -euo pipefail; source '{Path.Combine(AppProcess.RepositoryRoot, "scripts", "lib", "postgres.sh")}'; " +
                               $"PG_BIN='{TestDatabase.Env("PG_BIN")}'; {commands}");
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0) throw new InvalidOperationException($"{commands} failed:\n{await output}\n{await error}");
    }

    static int FreePort()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }

    public async ValueTask DisposeAsync()
    {
        Npgsql.NpgsqlConnection.ClearAllPools();
        try
        {
            await ScriptAsync($"pg_stop '{Data}'");
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }
}
