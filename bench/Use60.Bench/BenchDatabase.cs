using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using Use60.Data;
using Use60.Tests.Infrastructure;

namespace Use60.Bench;

/// <summary>The three PostgreSQL roles of a cluster (no database named): the superuser seeds, the owner migrates, the app runs as the app.</summary>
public sealed record BenchCluster(string Superuser, string Owner, string App)
{
    public static BenchCluster FromEnvironment() => new(Env("USE60_BENCH_PG_SUPERUSER"), Env("USE60_BENCH_PG_OWNER"), Env("USE60_BENCH_PG_APP"));

    static string Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } value
        ? value
        : throw new InvalidOperationException($"{name} is not set: run the bench with scripts/bench.sh, which starts the PostgreSQL it needs.");
}

/// <summary>A fresh database on the bench cluster, owned by use60_owner and migrated by the app's own migrator as at start-up; dropped when disposed.</summary>
public sealed class BenchDatabase : IAsyncDisposable
{
    readonly BenchCluster cluster;
    readonly string name;

    BenchDatabase(BenchCluster cluster, string name) => (this.cluster, this.name) = (cluster, name);

    /// <summary>This database as the superuser (seeding, counting outside the app).</summary>
    public string Superuser => On(cluster.Superuser);

    public string Owner => On(cluster.Owner);

    public string App => On(cluster.App);

    public static async Task<BenchDatabase> CreateAsync(BenchCluster cluster, string name, CancellationToken cancellationToken)
    {
        await AdminAsync(cluster.Superuser, $"DROP DATABASE IF EXISTS {name} WITH (FORCE)", $"CREATE DATABASE {name} OWNER use60_owner");
        var database = new BenchDatabase(cluster, name);
        try
        {
            var options = Options.Create(new DatabaseOptions { Url = database.App, OwnerUrl = database.Owner });
            await using var sources = new Use60DataSources(options);
            await new Migrator(sources, options, NullLogger<Migrator>.Instance).MigrateAsync(cancellationToken);
            return database;
        }
        catch
        {
            await database.DisposeAsync();
            throw;
        }
    }

    /// <summary>The app's settings for this database, both of its connections through <paramref name="proxy"/> (which counts round trips).</summary>
    public Dictionary<string, string?> Settings(TcpProxy proxy) => new()
    {
        ["Database:Url"] = new NpgsqlConnectionStringBuilder(App) { Port = proxy.Port }.ConnectionString,
        ["Database:OwnerUrl"] = new NpgsqlConnectionStringBuilder(Owner) { Port = proxy.Port }.ConnectionString,
        // Production refuses to start without one: PII is sealed under each org's key, wrapped by it.
        ["Privacy:MasterKey"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
    };

    /// <summary>The port PostgreSQL listens on, for a proxy in front of it.</summary>
    public int Port => new NpgsqlConnectionStringBuilder(cluster.App).Port;

    string On(string connection) => new NpgsqlConnectionStringBuilder(connection) { Database = name }.ConnectionString;

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await AdminAsync(cluster.Superuser, $"DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    }

    static async Task AdminAsync(string superuser, params string[] statements)
    {
        await using var connection = new NpgsqlConnection(superuser);
        await connection.OpenAsync();
        foreach (var statement in statements)
        {
            await using var command = new NpgsqlCommand(statement, connection);
            await command.ExecuteNonQueryAsync();
        }
    }
}

/// <summary>
/// The app as Program.cs composes it, in Production, with its content (wwwroot) from src/Use60 and a line in the log only for warnings:
/// a line per request or per tool call would time the console, not the app. <paramref name="configureServices"/> changes what a bench needs
/// changed (a clock, no background services). With <paramref name="kestrel"/> it listens with Kestrel on a free port of 127.0.0.1.
/// </summary>
public sealed class BenchApp : WebApplicationFactory<Program>
{
    readonly IReadOnlyDictionary<string, string?> settings;
    readonly Action<IServiceCollection>? configureServices;
    readonly bool kestrel;

    public BenchApp(IReadOnlyDictionary<string, string?> settings, Action<IServiceCollection>? configureServices = null, bool kestrel = false)
    {
        (this.settings, this.configureServices, this.kestrel) = (settings, configureServices, kestrel);
        if (kestrel) UseKestrel(0);
    }

    /// <summary>Where Kestrel listens (starting the app on first use).</summary>
    public Uri BaseAddress
    {
        get
        {
            StartServer();
            return new Uri(Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());
        }
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Production");
        builder.UseContentRoot(AppFolder);
        if (kestrel) builder.UseUrls("http://127.0.0.1:0");
        builder.ConfigureAppConfiguration(configuration => configuration
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Log:Level"] = "Warning" })
            .AddInMemoryCollection(settings));
        if (configureServices is not null) builder.ConfigureServices(configureServices);
    }

    /// <summary>src/Use60 of the repository this bench was built in.</summary>
    static string AppFolder
    {
        get
        {
            for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
                if (File.Exists(Path.Combine(folder.FullName, "Use60.sln"))) return Path.Combine(folder.FullName, "src", "Use60");
            throw new InvalidOperationException("Use60.sln not found above " + AppContext.BaseDirectory);
        }
    }
}
