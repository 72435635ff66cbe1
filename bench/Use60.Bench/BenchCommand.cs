using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Use60.Bench;

/// <summary>
/// What scripts/bench.sh runs. <c>digests</c> generates every rep's digest and meeting briefs through the app's own jobs and reports
/// the time and the database round trips per rep. Without --deals it runs three data sizes (100, 50 and 400 deals per rep), to show
/// that the round trips per rep do not grow with the data.
/// </summary>
static class BenchCommand
{
    const string Usage = "usage: Use60.Bench digests [--reps N] [--deals N] [--meetings N] [--out FILE]";

    static async Task<int> Main(string[] args)
    {
        if (args is not ["digests", .. var options] || options.Length % 2 != 0)
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }
        var settings = new Dictionary<string, string>();
        for (var i = 0; i < options.Length; i += 2) settings[options[i]] = options[i + 1];
        if (settings.Keys.Except(["--reps", "--deals", "--meetings", "--out"]).FirstOrDefault() is { } unknown)
        {
            Console.Error.WriteLine($"unknown option {unknown}; {Usage}");
            return 2;
        }
        int Number(string option, int fallback) => settings.TryGetValue(option, out var text) ? int.Parse(text, CultureInfo.InvariantCulture) : fallback;
        var reps = Number("--reps", 2000);
        var meetings = Number("--meetings", 20);
        int[] deals = settings.ContainsKey("--deals") ? [Number("--deals", 100)] : [100, 50, 400];
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
            var run = await DigestBench.RunAsync(cluster, shape, CancellationToken.None);
            runs.Add(run);
            Console.WriteLine($"  seeded in {run.Seed.TotalSeconds:0.0} s");
            Console.WriteLine($"  digests {run.DigestsSent,6} queued in {run.Digests.TotalSeconds,5:0.0} s, {run.PerRep(run.DigestRoundTrips):0.00} round trips per rep");
            Console.WriteLine($"  briefs  {run.BriefsSent,6} queued in {run.Briefs.TotalSeconds,5:0.0} s, {run.PerRep(run.BriefRoundTrips):0.00} round trips per rep");
            Console.WriteLine($"  total {run.Total.TotalSeconds:0.0} s, {run.PerRep(run.Total.TotalMilliseconds):0.00} ms per rep, " +
                              $"{run.PerRep(run.RoundTrips):0.00} round trips per rep ({run.RoundTrips} in all)");
            Console.WriteLine($"  e.g. \"{run.SampleDigest}\"");
        }

        JsonObject Figures(BenchResult run) => new()
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

        // The first run's figures at the top level, every run's under "runs".
        var results = Figures(runs[0]);
        results["runs"] = new JsonArray([.. runs.Select(run => (JsonNode)Figures(run))]);
        results["machine"] = $"{Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}";
        var output = settings.GetValueOrDefault("--out") ?? Path.Combine("bench", "results", "digests.json");
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
        await File.WriteAllTextAsync(output, results.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        Console.WriteLine($"written to {output}");

        var failed = runs.Where(run => run.DigestsSent != run.Shape.Reps || run.BriefsSent != run.BriefsExpected).ToList();
        foreach (var run in failed)
            Console.Error.WriteLine($"{run.Shape.DealsPerRep} deals per rep: {run.DigestsSent} of {run.Shape.Reps} digests and {run.BriefsSent} of {run.BriefsExpected} briefs were queued");
        return failed.Count == 0 ? 0 : 1;
    }
}
