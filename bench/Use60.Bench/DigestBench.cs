using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Use60.Privacy;
using Use60.Proactive;
using Use60.Tests.Infrastructure;

namespace Use60.Bench;

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
    public const string Usage = "digests [--reps N] [--deals N] [--meetings N] [--out FILE]";

    /// <summary>
    /// scripts/bench.sh digests: every rep's digest and meeting briefs through the app's own jobs, with the time and the database round trips
    /// per rep. Without --deals it runs three data sizes (100, 50 and 400 deals per rep), to show that the round trips per rep do not grow
    /// with the data.
    /// </summary>
    public static async Task<int> MainAsync(BenchOptions options)
    {
        var reps = options.Number("--reps", 2000);
        var meetings = options.Number("--meetings", 20);
        int[] deals = options.Has("--deals") ? [options.Number("--deals", 100)] : [100, 50, 400];
        if (reps < 1 || meetings < BenchShape.BriefsPerRep + 1 || deals.Any(d => d < 1))
        {
            Console.Error.WriteLine($"--reps and --deals must be at least 1, --meetings at least {BenchShape.BriefsPerRep + 1}");
            return 2;
        }

        var cluster = BenchCluster.FromEnvironment();
        var runs = new List<BenchResult>();
        foreach (var size in deals)
        {
            var shape = new BenchShape(reps, size, meetings);
            Console.WriteLine($"digests: {shape.Reps} reps × {shape.DealsPerRep} deals × {shape.MeetingsPerRep} meetings");
            var run = await RunAsync(cluster, shape, CancellationToken.None);
            runs.Add(run);
            Console.WriteLine($"  seeded in {run.Seed.TotalSeconds:0.0} s");
            Console.WriteLine($"  digests {run.DigestsSent,6} queued in {run.Digests.TotalSeconds,5:0.0} s, {run.PerRep(run.DigestRoundTrips):0.00} round trips per rep");
            Console.WriteLine($"  briefs  {run.BriefsSent,6} queued in {run.Briefs.TotalSeconds,5:0.0} s, {run.PerRep(run.BriefRoundTrips):0.00} round trips per rep");
            Console.WriteLine($"  total {run.Total.TotalSeconds:0.0} s, {run.PerRep(run.Total.TotalMilliseconds):0.00} ms per rep, " +
                              $"{run.PerRep(run.RoundTrips):0.00} round trips per rep ({run.RoundTrips} in all)");
            Console.WriteLine($"  e.g. \"{run.SampleDigest}\"");
        }

        // The first run's figures at the top level, every run's under "runs".
        var results = Figures(runs[0]);
        results["runs"] = new JsonArray([.. runs.Select(run => (JsonNode)Figures(run))]);
        await BenchResults.WriteAsync(results, options.Output("digests.json"));

        var failed = runs.Where(run => run.DigestsSent != run.Shape.Reps || run.BriefsSent != run.BriefsExpected).ToList();
        foreach (var run in failed)
            Console.Error.WriteLine($"{run.Shape.DealsPerRep} deals per rep: {run.DigestsSent} of {run.Shape.Reps} digests and {run.BriefsSent} of {run.BriefsExpected} briefs were queued");
        return failed.Count == 0 ? 0 : 1;
    }

    static JsonObject Figures(BenchResult run) => new()
    {
        ["reps"] = run.Shape.Reps,
        ["deals_per_rep"] = run.Shape.DealsPerRep,
        ["meetings_per_rep"] = run.Shape.MeetingsPerRep,
        ["total_s"] = Math.Round(run.Total.TotalSeconds, 2),
        ["ms_per_rep"] = Math.Round(run.PerRep(run.Total.TotalMilliseconds), 2),
        ["db_roundtrips_per_rep"] = Math.Round(run.PerRep(run.RoundTrips), 3),
        ["db_roundtrips"] = run.RoundTrips,
        ["digests_sent"] = run.DigestsSent,
        ["briefs_sent"] = run.BriefsSent,
        ["digest_s"] = Math.Round(run.Digests.TotalSeconds, 2),
        ["briefs_s"] = Math.Round(run.Briefs.TotalSeconds, 2),
        ["digest_roundtrips_per_rep"] = Math.Round(run.PerRep(run.DigestRoundTrips), 3),
        ["brief_roundtrips_per_rep"] = Math.Round(run.PerRep(run.BriefRoundTrips), 3),
        ["seed_s"] = Math.Round(run.Seed.TotalSeconds, 2),
    };

    public static async Task<BenchResult> RunAsync(BenchCluster cluster, BenchShape shape, CancellationToken cancellationToken)
    {
        var seeding = Stopwatch.StartNew();
        await using var database = await BenchDatabase.CreateAsync(cluster, $"use60_bench_{shape.Reps}_{shape.DealsPerRep}", cancellationToken);
        await BenchData.SeedAsync(database.Superuser, shape, cancellationToken);
        var seeded = seeding.Elapsed;

        await using var proxy = new TcpProxy(database.Port);
        await using var use60 = new BenchApp(database.Settings(proxy), services =>
        {
            services.AddSingleton<TimeProvider>(new FakeTimeProvider(BenchData.Now));
            services.RemoveAll<IHostedService>();
        });
        // The seed wrote contacts' PII in plaintext: the app's own sealing pass encrypts it (counted as seeding, not measured).
        seeding.Restart();
        await use60.Services.GetRequiredService<PiiMaintenance>().SealPassAsync(cancellationToken);
        seeded += seeding.Elapsed;
        await using var scope = use60.Services.CreateAsyncScope();
        var digest = scope.ServiceProvider.GetRequiredService<PipelineDigest>();
        var briefs = scope.ServiceProvider.GetRequiredService<MeetingBriefs>();

        var (digestsSent, digestTime, digestTrips) = await MeasureAsync(proxy, () => digest.RunAsync(cancellationToken));
        var (briefsSent, briefTime, briefTrips) = await MeasureAsync(proxy, () => briefs.RunAsync(cancellationToken));
        var (queuedDigests, queuedBriefs, sample) = await QueuedAsync(database.Superuser, cancellationToken);
        if (queuedDigests != digestsSent || queuedBriefs != briefsSent)
            throw new InvalidOperationException($"The jobs said {digestsSent} digests and {briefsSent} briefs, slack_outbox holds {queuedDigests} and {queuedBriefs}.");
        return new BenchResult(shape, seeded, digestTime, briefTime, digestTrips, briefTrips, queuedDigests, queuedBriefs,
            shape.Reps * BenchShape.BriefsPerRep, sample);
    }

    static async Task<(int Sent, TimeSpan Elapsed, long RoundTrips)> MeasureAsync(TcpProxy proxy, Func<Task<int>> job)
    {
        var before = proxy.RoundTrips;
        var watch = Stopwatch.StartNew();
        var sent = await job();
        return (sent, watch.Elapsed, proxy.RoundTrips - before);
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
}
