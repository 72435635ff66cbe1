using System.Diagnostics;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Use60.Data;
using Use60.Proactive;
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

public sealed record BenchResult(BenchShape Shape, TimeSpan Seed, TimeSpan Digests, TimeSpan Briefs, long DigestRoundTrips, long BriefRoundTrips,
    int DigestsSent, int BriefsSent, int BriefsExpected, string SampleDigest)
{
    public TimeSpan Total => Digests + Briefs;
    public long RoundTrips => DigestRoundTrips + BriefRoundTrips;
    public double PerRep(double value) => value / Shape.Reps;
}

/// <summary>
/// One run: a fresh database, migrated by the app's migrator and seeded to <see cref="BenchShape"/>; then the app, composed by its own
/// Program.cs on a clock at <see cref="BenchData.Now"/>, runs the real digest and meeting-brief jobs once each, with every one of its
/// connections through a proxy that counts round trips. No dispatcher runs, so the messages stay queued in slack_outbox, where they
/// are counted afterwards.
/// </summary>
public static class DigestBench
{
    public static async Task<BenchResult> RunAsync(BenchCluster cluster, BenchShape shape, CancellationToken cancellationToken)
    {
        var name = $"use60_bench_{shape.Reps}_{shape.DealsPerRep}";
        var superuser = new NpgsqlConnectionStringBuilder(cluster.Superuser) { Database = name }.ConnectionString;
        await AdminAsync(cluster.Superuser, $"DROP DATABASE IF EXISTS {name} WITH (FORCE)", $"CREATE DATABASE {name} OWNER use60_owner");
        try
        {
            var owner = new NpgsqlConnectionStringBuilder(cluster.Owner) { Database = name };
            var app = new NpgsqlConnectionStringBuilder(cluster.App) { Database = name };
            var seeding = Stopwatch.StartNew();
            await MigrateAsync(app.ConnectionString, owner.ConnectionString, cancellationToken);
            await BenchData.SeedAsync(superuser, shape, cancellationToken);
            var seeded = seeding.Elapsed;

            await using var proxy = new TcpProxy(app.Port);
            await using var use60 = new BenchApp(new Dictionary<string, string?>
            {
                ["Database:Url"] = new NpgsqlConnectionStringBuilder(app.ConnectionString) { Port = proxy.Port }.ConnectionString,
                ["Database:OwnerUrl"] = new NpgsqlConnectionStringBuilder(owner.ConnectionString) { Port = proxy.Port }.ConnectionString,
                // A line per tool call and per job run would time the console, not the jobs.
                ["Log:Level"] = "Warning",
            }, new FakeTimeProvider(BenchData.Now));
            await using var scope = use60.Services.CreateAsyncScope();
            var digest = scope.ServiceProvider.GetRequiredService<PipelineDigest>();
            var briefs = scope.ServiceProvider.GetRequiredService<MeetingBriefs>();

            var (digestsSent, digestTime, digestTrips) = await MeasureAsync(proxy, () => digest.RunAsync(cancellationToken));
            var (briefsSent, briefTime, briefTrips) = await MeasureAsync(proxy, () => briefs.RunAsync(cancellationToken));
            var (queuedDigests, queuedBriefs, sample) = await QueuedAsync(superuser, cancellationToken);
            if (queuedDigests != digestsSent || queuedBriefs != briefsSent)
                throw new InvalidOperationException($"The jobs said {digestsSent} digests and {briefsSent} briefs, slack_outbox holds {queuedDigests} and {queuedBriefs}.");
            return new BenchResult(shape, seeded, digestTime, briefTime, digestTrips, briefTrips, queuedDigests, queuedBriefs,
                shape.Reps * BenchShape.BriefsPerRep, sample);
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await AdminAsync(cluster.Superuser, $"DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        }
    }

    static async Task<(int Sent, TimeSpan Elapsed, long RoundTrips)> MeasureAsync(TcpProxy proxy, Func<Task<int>> job)
    {
        var before = proxy.RoundTrips;
        var watch = Stopwatch.StartNew();
        var sent = await job();
        return (sent, watch.Elapsed, proxy.RoundTrips - before);
    }

    /// <summary>The app's own migrator, as the owner, as at start-up.</summary>
    static async Task MigrateAsync(string app, string owner, CancellationToken cancellationToken)
    {
        var options = Options.Create(new DatabaseOptions { Url = app, OwnerUrl = owner });
        await using var sources = new Use60DataSources(options);
        await new Migrator(sources, options, NullLogger<Migrator>.Instance).MigrateAsync(cancellationToken);
    }

    /// <summary>What slack_outbox holds: digests, briefs, and one digest's text.</summary>
    static async Task<(int Digests, int Briefs, string SampleDigest)> QueuedAsync(string superuser, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(superuser);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("""
            SELECT count(*) FILTER (WHERE source LIKE 'pipeline digest %')::int, count(*) FILTER (WHERE source LIKE 'meeting brief %')::int,
                   (SELECT message ->> 'text' FROM slack_outbox WHERE source LIKE 'pipeline digest %' ORDER BY id LIMIT 1)
            FROM slack_outbox WHERE status = 'pending'
            """, connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (reader.GetInt32(0), reader.GetInt32(1), reader.IsDBNull(2) ? "" : reader.GetString(2));
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

    /// <summary>The app as Program.cs composes it, on the bench's clock, with no background services: the bench calls the jobs itself.</summary>
    sealed class BenchApp(Dictionary<string, string?> settings, TimeProvider clock) : WebApplicationFactory<Program>
    {
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            builder.UseEnvironment("Production");
            builder.UseContentRoot(AppFolder);
            builder.ConfigureAppConfiguration(configuration => configuration.AddInMemoryCollection(settings));
            builder.ConfigureServices(services =>
            {
                services.AddSingleton(clock);
                services.RemoveAll<IHostedService>();
            });
        }
    }
}
