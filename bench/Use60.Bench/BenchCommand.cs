using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Use60.Bench;

/// <summary>
/// What scripts/bench.sh runs: <c>digests</c> (<see cref="DigestBench"/>), the digest and brief jobs' time and round trips per rep,
/// <c>pages</c> (<see cref="PagesBench"/>), how fast every admin page answers a signed-in owner on the demo data, or <c>upload</c>
/// (<see cref="UploadBench"/>), a recording's throughput and memory on its way into S3, <c>slack</c> (<see cref="SlackBench"/>), the
/// Slack front door's acknowledgements beside a minimal Bolt for JavaScript app's, or <c>soak</c> (<see cref="SoakBench"/>), whether the
/// app's memory, threads and database connections stay flat under 15 minutes of mixed Slack traffic and scheduled jobs.
/// </summary>
static class BenchCommand
{
    static readonly Dictionary<string, (string Usage, Func<BenchOptions, Task<int>> Run)> Benches = new()
    {
        ["digests"] = (DigestBench.Usage, DigestBench.MainAsync),
        ["pages"] = (PagesBench.Usage, PagesBench.MainAsync),
        ["upload"] = (UploadBench.Usage, UploadBench.MainAsync),
        ["slack"] = (SlackBench.Usage, SlackBench.MainAsync),
        ["soak"] = (SoakBench.Usage, SoakBench.MainAsync),
    };

    static string Usage => "usage: " + string.Join("\n       ", Benches.Values.Select(bench => "Use60.Bench " + bench.Usage));

    static async Task<int> Main(string[] args)
    {
        if (args is not [var name, .. var options] || !Benches.TryGetValue(name, out var bench))
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }
        if (BenchOptions.Parse(bench.Usage, options) is not { } parsed)
        {
            Console.Error.WriteLine("usage: Use60.Bench " + bench.Usage);
            return 2;
        }
        return await bench.Run(parsed);
    }
}

/// <summary>A bench's <c>--name value</c> options: only those its usage line names, a whole number where it says <c>N</c>.</summary>
public sealed partial class BenchOptions
{
    readonly Dictionary<string, string> values;

    BenchOptions(Dictionary<string, string> values) => this.values = values;

    /// <summary>Null (and why, on stderr) when an option is not in <paramref name="usage"/>, has no value, or is not the number it should be.</summary>
    public static BenchOptions? Parse(string usage, string[] args)
    {
        var known = UsageOption().Matches(usage).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);
        var values = new Dictionary<string, string>();
        for (var i = 0; i < args.Length; i += 2)
        {
            var problem = !known.TryGetValue(args[i], out var placeholder) ? $"unknown option {args[i]}"
                : i + 1 >= args.Length ? $"{args[i]} needs a value"
                : placeholder == "N" && !int.TryParse(args[i + 1], NumberStyles.Integer, CultureInfo.InvariantCulture, out _) ? $"{args[i]} takes a whole number"
                : null;
            if (problem is not null)
            {
                Console.Error.WriteLine(problem);
                return null;
            }
            values[args[i]] = args[i + 1];
        }
        return new BenchOptions(values);
    }

    [GeneratedRegex(@"\[(--[a-z-]+) ([A-Z]+)\]")]
    private static partial Regex UsageOption();

    public bool Has(string option) => values.ContainsKey(option);

    public int Number(string option, int fallback) =>
        values.TryGetValue(option, out var text) ? int.Parse(text, NumberStyles.Integer, CultureInfo.InvariantCulture) : fallback;

    /// <summary>--out, else bench/results/<paramref name="fileName"/>.</summary>
    public string Output(string fileName) => values.GetValueOrDefault("--out") ?? Path.Combine("bench", "results", fileName);
}

static class BenchResults
{
    /// <summary>Writes a bench's figures, with the machine and the date they were measured on, as indented JSON.</summary>
    public static async Task WriteAsync(JsonObject results, string path)
    {
        results["machine"] = $"{Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}";
        results["date"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        await File.WriteAllTextAsync(path, results.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        Console.WriteLine($"written to {path}");
    }

    /// <summary>The machine's 1-minute load average where Linux reports it: a bench timed on a busy machine says so.</summary>
    public static double? LoadAverage() =>
        File.Exists("/proc/loadavg") && double.TryParse(File.ReadAllText("/proc/loadavg").Split(' ')[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var load)
            ? load
            : null;
}
