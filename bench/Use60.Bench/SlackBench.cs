using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Use60.Demo;
using Use60.Hosting;
using Use60.Slack;
using Use60.Tests.Infrastructure;

namespace Use60.Bench;

/// <summary>
/// scripts/bench.sh slack: use60's front door (/slack/events) beside a minimal Bolt for JavaScript app (bench/bolt/app.js), both on
/// 127.0.0.1, each in its own process, fed the same validly signed app_mention <c>event_callback</c>s with unique event ids by one
/// generator in this process, at fixed rates (open loop: latency counted from each request's scheduled time, so a stall is not hidden)
/// and at saturation (closed loop, --connections at once). use60 is the Release build run as `dotnet Use60.dll` on the demo org, with a
/// durable PostgreSQL (fsync on) and no LLM (the copilot's offline planner answers); both post their replies to one fake Slack Web API
/// here that answers at once and notes when each event's threaded reply arrives. Exits non-zero if a target is missed.
/// </summary>
public static class SlackBench
{
    public const string Usage = "slack [--seconds N] [--connections N] [--out FILE]";
    static readonly int[] Rates = [100, 500, 1000];
    const int LatencyTargetRate = 500;
    const double P99TargetMs = 50;
    static readonly TimeSpan ReplyWindow = TimeSpan.FromSeconds(10);

    /// <summary>How long a level waits for replies still on their way after the last ack, beyond which a reply counts as lost.</summary>
    static readonly TimeSpan ReplyDrain = TimeSpan.FromSeconds(30);

    public static async Task<int> MainAsync(BenchOptions options)
    {
        var seconds = options.Number("--seconds", 20);
        var connections = options.Number("--connections", 64);
        if (seconds < 1 || connections < 1)
        {
            Console.Error.WriteLine("--seconds and --connections must be at least 1");
            return 2;
        }
        var total = Stopwatch.StartNew();
        var root = RepositoryRoot();
        var secret = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
        const string botToken = "xoxb-bench-0000000000-token";

        await using var slack = await FakeSlackApi.StartAsync();
        var cluster = BenchCluster.FromEnvironment();
        await using var database = await BenchDatabase.CreateAsync(cluster, "use60_bench_slack", CancellationToken.None);
        var masterKey = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        await using (var seeder = new BenchApp(new Dictionary<string, string?>
                     {
                         ["Database:Url"] = database.App, ["Database:OwnerUrl"] = database.Owner, ["Privacy:MasterKey"] = masterKey,
                         ["Jobs:Enabled"] = "false",
                     }))
            await seeder.Services.GetRequiredService<DemoSeeder>().SeedAsync(CancellationToken.None);
        NpgsqlConnection.ClearAllPools();

        var use60Port = FreePort();
        var use60Environment = new Dictionary<string, string?>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["DATABASE_URL"] = database.App,
            ["DATABASE_OWNER_URL"] = database.Owner,
            ["USE60_MASTER_KEY"] = masterKey,
            ["SLACK_SIGNING_SECRET"] = secret,
            ["SLACK_BOT_TOKEN"] = botToken,
            ["SLACK_API_URL"] = slack.ApiUrl,
            // The scheduled jobs (digests, briefs) are not the front door; the inbox worker and the outbox run regardless.
            ["JOBS_ENABLED"] = "false",
        };
        await using var use60 = await ServerProcess.StartAsync("use60", "dotnet",
            [Path.Combine(root, "src", "Use60", "bin", "Release", "net10.0", "Use60.dll"), "--urls", $"http://127.0.0.1:{use60Port}"],
            Path.Combine(root, "src", "Use60"), use60Environment, use60Port);
        var boltPort = FreePort();
        await using var bolt = await ServerProcess.StartAsync("bolt", "node", [Path.Combine(root, "bench", "bolt", "app.js")],
            Path.Combine(root, "bench", "bolt"), new Dictionary<string, string?>
            {
                ["BOLT_PORT"] = boltPort.ToString(CultureInfo.InvariantCulture), ["SLACK_SIGNING_SECRET"] = secret,
                ["SLACK_BOT_TOKEN"] = botToken, ["SLACK_API_URL"] = slack.ApiUrl, ["NODE_ENV"] = "production",
            }, boltPort);
        var boltVersion = BoltVersion(root);
        Console.WriteLine($"slack: use60 (Release, dotnet Use60.dll, durable PostgreSQL) on 127.0.0.1:{use60Port}; Bolt for JavaScript {boltVersion} " +
                          $"(node {Environment.GetEnvironmentVariable("USE60_BENCH_NODE_VERSION") ?? "?"}) on 127.0.0.1:{boltPort}; fake Slack Web API on {slack.ApiUrl}");
        Console.WriteLine($"  {seconds} s per level at {string.Join(", ", Rates)} req/s (open loop), then saturation ({connections} connections, closed loop); " +
                          $"replies counted if they reach the fake within {ReplyWindow.TotalSeconds:0} s of the ack");

        var apps = new[] { new Target("use60", new Uri($"http://127.0.0.1:{use60Port}/slack/events")), new Target("bolt", new Uri($"http://127.0.0.1:{boltPort}/slack/events")) };
        using var generator = new LoadGenerator(secret, DemoData.TeamId);
        var run = 0;
        var results = new List<LevelResult>();
        var load = (Before: BenchResults.LoadAverage(), After: (double?)null);
        // One app after the other, Bolt first: use60 keeps working on its replies after the acks, and on 2 cores that work would
        // slow whichever app is measured next; Bolt is done with its replies once they are delivered.
        foreach (var app in apps.Reverse())
        {
            // Warm-up (JIT, pools, connections): not counted.
            var warm = await generator.OpenLoopAsync(app.Url, ++run, 200, TimeSpan.FromSeconds(5));
            await slack.WaitForRepliesAsync(warm, ReplyDrain);
            app.Acked += warm.Count(s => s.Acked);
            foreach (var level in Rates.Select(r => (int?)r).Append(null))
            {
                var samples = level is { } rate
                    ? await generator.OpenLoopAsync(app.Url, ++run, rate, TimeSpan.FromSeconds(seconds))
                    : await generator.ClosedLoopAsync(app.Url, ++run, connections, TimeSpan.FromSeconds(seconds));
                var replies = await slack.WaitForRepliesAsync(samples, ReplyDrain);
                var result = LevelResult.Of(app.Name, level, samples, replies);
                app.Acked += result.Acked;
                results.Add(result);
                Console.WriteLine("  " + result.Line);
            }
        }
        load.After = BenchResults.LoadAverage();

        // Where use60's callbacks and replies stand at the end: a lost reply is either not processed yet or not sent.
        long inboxRows, inboxUnprocessed, outboxUnsent;
        string inboxOutcomes, outboxStatuses;
        await using (var connection = new NpgsqlConnection(database.Superuser))
        {
            await connection.OpenAsync();
            async Task<string> ScalarAsync(string sql)
            {
                await using var command = new NpgsqlCommand(sql, connection);
                return Convert.ToString(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture) ?? "";
            }
            inboxRows = long.Parse(await ScalarAsync("SELECT count(*) FROM slack_inbox"), CultureInfo.InvariantCulture);
            inboxUnprocessed = long.Parse(await ScalarAsync("SELECT count(*) FROM slack_inbox WHERE processed_at IS NULL"), CultureInfo.InvariantCulture);
            outboxUnsent = long.Parse(await ScalarAsync("SELECT count(*) FROM slack_outbox WHERE status <> 'sent'"), CultureInfo.InvariantCulture);
            inboxOutcomes = await ScalarAsync("SELECT string_agg(coalesce(outcome::text, 'unprocessed') || ' ' || n, ', ') FROM " +
                                              "(SELECT outcome, count(*) AS n FROM slack_inbox GROUP BY 1 ORDER BY 1) o");
            outboxStatuses = await ScalarAsync("SELECT string_agg(status::text || ' ' || n, ', ') FROM (SELECT status, count(*) AS n FROM slack_outbox GROUP BY 1 ORDER BY 1) s");
        }

        LevelResult Find(string app, int? level) => results.Single(r => r.App == app && r.Rate == level);
        var (use60Sat, boltSat) = (Find("use60", null), Find("bolt", null));
        var use60At500 = Find("use60", LatencyTargetRate);
        var problems = new List<string>();
        if (use60Sat.Rps < boltSat.Rps)
            problems.Add($"at saturation use60 acknowledged {use60Sat.Rps:0} req/s, Bolt {boltSat.Rps:0} req/s (target: at least Bolt's)");
        if (!(use60At500.P99 < P99TargetMs))
            problems.Add($"use60's p99 ack latency at {LatencyTargetRate} req/s is {use60At500.P99:0.0} ms (target under {P99TargetMs:0} ms)");
        foreach (var r in results.Where(r => r.App == "use60" && r.Lost > 0))
            problems.Add($"use60 lost {r.Lost} of {r.Acked} replies at {r.LevelName} (none reached the fake within {ReplyDrain.TotalSeconds:0} s after the last ack)");
        foreach (var r in results.Where(r => r.App == "use60" && r.Late > 0))
            problems.Add($"{r.Late} of use60's {r.Acked} replies at {r.LevelName} reached the fake later than {ReplyWindow.TotalSeconds:0} s after the ack");
        foreach (var r in results.Where(r => r.App == "use60" && r.Errors > 0))
            problems.Add($"use60 answered {r.Errors} of {r.Sent} requests at {r.LevelName} with an error or not at all");
        if (inboxRows < apps[0].Acked)
            problems.Add($"use60 acknowledged {apps[0].Acked} events but its inbox holds only {inboxRows} rows");

        Console.WriteLine();
        Console.WriteLine($"{"level",-10} {"app",-6} {"sent",7} {"acked/s",8} {"p50 ms",7} {"p95 ms",7} {"p99 ms",7} {"max ms",8} {"errors",6} " +
                          $"{"replies≤10s",11} {"late",5} {"lost",5} {"dup",4}");
        foreach (var r in results.OrderBy(r => r.Rate ?? int.MaxValue).ThenByDescending(r => r.App)) Console.WriteLine(r.Row);
        Console.WriteLine();
        foreach (var level in Rates.Select(r => (int?)r).Append(null))
        {
            var (u, b) = (Find("use60", level), Find("bolt", level));
            Console.WriteLine($"{u.LevelName,-10} use60 / Bolt: acked/s {Ratio(u.Rps, b.Rps)}, p50 {Ratio(u.P50, b.P50)}, p99 {Ratio(u.P99, b.P99)}, " +
                              $"max {Ratio(u.Max, b.Max)}");
        }
        Console.WriteLine($"use60's inbox holds {inboxRows} rows for the {apps[0].Acked} events it acknowledged (warm-up included); Bolt keeps nothing");
        Console.WriteLine($"at the end, use60's inbox: {inboxOutcomes}; its outbox: {outboxStatuses}");
        foreach (var server in new[] { use60, bolt })
            if (server.Warnings is { Length: > 0 } warnings) Console.WriteLine($"{server.Name}'s last warnings and errors:\n{warnings}");
        if (load is ({ } before, { } after))
            Console.WriteLine($"load average {before:0.0} before and {after:0.0} after, on {Environment.ProcessorCount} cores");

        var json = new JsonObject
        {
            ["use60_rps"] = use60Sat.Rps,
            ["bolt_rps"] = boltSat.Rps,
            ["rps_ratio_use60_to_bolt"] = Ratio(use60Sat.Rps, boltSat.Rps),
            ["p99_ack_ms_at_500"] = use60At500.P99,
            ["bolt_p99_ack_ms_at_500"] = Find("bolt", LatencyTargetRate).P99,
        };
        foreach (var r in results)
            foreach (var (key, value) in r.Figures()) json[key] = value;
        foreach (var level in Rates.Select(r => (int?)r).Append(null))
        {
            var (u, b) = (Find("use60", level), Find("bolt", level));
            var at = LevelResult.KeySuffix(level);
            json[$"rps_ratio_{at}"] = Ratio(u.Rps, b.Rps);
            json[$"p99_ack_ratio_{at}"] = Ratio(u.P99, b.P99);
        }
        json["use60_inbox_rows"] = inboxRows;
        json["use60_acked_total"] = apps[0].Acked;
        json["use60_inbox_unprocessed_at_end"] = inboxUnprocessed;
        json["use60_outbox_unsent_at_end"] = outboxUnsent;
        json["seconds_per_level"] = seconds;
        json["saturation_connections"] = connections;
        json["target_p99_ack_ms_at_500"] = P99TargetMs;
        json["reply_window_s"] = ReplyWindow.TotalSeconds;
        json["bolt_version"] = boltVersion;
        json["all_ok"] = problems.Count == 0;
        json["problems"] = new JsonArray([.. problems.Select(p => (JsonNode)p)]);
        json["load_average_before"] = load.Before;
        json["load_average_after"] = load.After;
        json["total_s"] = Math.Round(total.Elapsed.TotalSeconds, 1);
        json["note"] = "ack latency: from each request's scheduled send time (open loop) or its send (saturation) to the 200; " +
                       "rps = acknowledged requests per second; late = reply after the 10 s window, lost = no reply 30 s after the last ack";
        await BenchResults.WriteAsync(json, options.Output("slack.json"));

        foreach (var problem in problems) Console.Error.WriteLine("target missed: " + problem);
        if (problems.Count == 0) Console.WriteLine("all targets met");
        return problems.Count == 0 ? 0 : 1;
    }

    static double Ratio(double a, double b) => b == 0 ? 0 : Math.Round(a / b, 2);

    /// <summary>Bolt's exact version as installed in bench/bolt/node_modules.</summary>
    static string BoltVersion(string root)
    {
        var manifest = Path.Combine(root, "bench", "bolt", "node_modules", "@slack", "bolt", "package.json");
        return File.Exists(manifest) ? JsonNode.Parse(File.ReadAllText(manifest))?["version"]?.GetValue<string>() ?? "?" : "?";
    }

    static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    static string RepositoryRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
            if (File.Exists(Path.Combine(folder.FullName, "Use60.sln"))) return folder.FullName;
        throw new InvalidOperationException("Use60.sln not found above " + AppContext.BaseDirectory);
    }

    sealed class Target(string name, Uri url)
    {
        public string Name => name;
        public Uri Url => url;
        public long Acked { get; set; }
    }
}

/// <summary>One request as the generator saw it: its event's ts (the key of its reply), whether it was acknowledged (200), and when.</summary>
public readonly record struct Sample(string Ts, bool Acked, double LatencyMs, long AckedAt);

/// <summary>What the fake Slack saw of one level's replies.</summary>
public sealed record Replies(int Within, int Late, int Lost, int Duplicates);

/// <summary>One app at one level (a rate, or null: saturation).</summary>
public sealed record LevelResult(string App, int? Rate, int Sent, int Acked, int Errors, double Rps, double P50, double P95, double P99, double Max,
    Replies Replies)
{
    public int Late => Replies.Late;
    public int Lost => Replies.Lost;
    public string LevelName => Rate is { } rate ? $"{rate} req/s" : "saturation";

    public static string KeySuffix(int? rate) => rate is { } r ? $"at_{r}" : "at_saturation";

    public static LevelResult Of(string app, int? rate, IReadOnlyList<Sample> samples, Replies replies)
    {
        var acked = samples.Where(s => s.Acked).ToList();
        var latencies = acked.Select(s => s.LatencyMs).Order().ToList();
        // Acknowledged per second over the level: from the first request's start to the last ack.
        var span = acked.Count == 0 ? 1 : Math.Max(1e-3, (acked.Max(s => s.AckedAt) - acked.Min(s => s.AckedAt - (long)(s.LatencyMs * Stopwatch.Frequency / 1000)))
                                                        / (double)Stopwatch.Frequency);
        return new LevelResult(app, rate, samples.Count, acked.Count, samples.Count - acked.Count, Math.Round(acked.Count / span, 1),
            Percentile(latencies, 50), Percentile(latencies, 95), Percentile(latencies, 99), latencies.Count == 0 ? 0 : Math.Round(latencies[^1], 1),
            replies);
    }

    static double Percentile(List<double> sorted, double percent) =>
        sorted.Count == 0 ? 0 : Math.Round(sorted[Math.Max(0, (int)Math.Ceiling(percent / 100.0 * sorted.Count) - 1)], 1);

    public string Line => $"{App,-5} {LevelName,-10}: {Rps,7:0.0} acked/s, ack p50 {P50:0.0} ms, p95 {P95:0.0}, p99 {P99:0.0}, max {Max:0.0}; " +
                          $"{Errors} errors; {Replies.Within}/{Acked} replies within 10 s ({Late} late, {Lost} lost)";

    public string Row => $"{LevelName,-10} {App,-6} {Sent,7} {Rps,8:0.0} {P50,7:0.0} {P95,7:0.0} {P99,7:0.0} {Max,8:0.0} {Errors,6} " +
                         $"{Replies.Within,11} {Late,5} {Lost,5} {Replies.Duplicates,4}";

    public IEnumerable<(string Key, JsonNode Value)> Figures()
    {
        var at = KeySuffix(Rate);
        yield return ($"{App}_sent_{at}", Sent);
        yield return ($"{App}_rps_{at}", Rps);
        yield return ($"{App}_p50_ack_ms_{at}", P50);
        yield return ($"{App}_p95_ack_ms_{at}", P95);
        yield return ($"{App}_p99_ack_ms_{at}", P99);
        yield return ($"{App}_max_ack_ms_{at}", Max);
        yield return ($"{App}_errors_{at}", Errors);
        yield return ($"{App}_replies_within_10s_{at}", Replies.Within);
        yield return ($"{App}_replies_late_{at}", Late);
        yield return ($"{App}_replies_lost_{at}", Lost);
        yield return ($"{App}_replies_duplicate_{at}", Replies.Duplicates);
    }
}

/// <summary>
/// Validly signed app_mention event_callbacks, each with a unique event id and message ts (the reply's thread_ts, by which the fake
/// matches a reply to its event), from the demo org's reps, sent over many kept-alive HTTP/1.1 connections.
/// </summary>
public sealed class LoadGenerator(string secret, string teamId) : IDisposable
{
    static readonly string[] Users = [.. DemoData.Reps.Select(r => r.SlackUserId)];
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    readonly HttpClient client = new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = 1024,
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(2), // under Node's 5 s keep-alive, so no request lands on a closing socket
        UseCookies = false,
        AllowAutoRedirect = false,
        UseProxy = false,
    }) { Timeout = Timeout };

    /// <summary>Sends <paramref name="rate"/> requests a second for <paramref name="duration"/>, each at its scheduled time whatever the answers do.</summary>
    public async Task<IReadOnlyList<Sample>> OpenLoopAsync(Uri url, int run, int rate, TimeSpan duration)
    {
        var count = (int)(rate * duration.TotalSeconds);
        var sends = new Task<Sample>[count];
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < count;)
        {
            var now = Stopwatch.GetTimestamp();
            for (; i < count && Due(i) <= now; i++) sends[i] = SendAsync(url, run, i, Due(i));
            if (i < count) await Task.Delay(1);
        }
        return await Task.WhenAll(sends);

        long Due(int i) => start + (long)(i * (double)Stopwatch.Frequency / rate);
    }

    /// <summary>Keeps <paramref name="connections"/> requests in flight for <paramref name="duration"/>: the app's most.</summary>
    public async Task<IReadOnlyList<Sample>> ClosedLoopAsync(Uri url, int run, int connections, TimeSpan duration)
    {
        var samples = new ConcurrentQueue<Sample>();
        var next = -1;
        var end = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        await Task.WhenAll(Enumerable.Range(0, connections).Select(_ => Task.Run(async () =>
        {
            while (Stopwatch.GetTimestamp() < end)
                samples.Enqueue(await SendAsync(url, run, Interlocked.Increment(ref next), Stopwatch.GetTimestamp()));
        })));
        return [.. samples];
    }

    async Task<Sample> SendAsync(Uri url, int run, int i, long scheduled)
    {
        await Task.Yield();
        var ts = Ts(run, i);
        var user = Users[i % Users.Length];
        var body = Encoding.UTF8.GetBytes(
            $$$"""{"token":"bench","team_id":"{{{teamId}}}","api_app_id":"A0BENCH","type":"event_callback","event_id":"Ev{{{run:D3}}}{{{i:D7}}}","event_time":{{{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}}},"event":{"type":"app_mention","user":"{{{user}}}","text":"<@U0BOT> hello","ts":"{{{ts}}}","channel":"C0BENCH","event_ts":"{{{ts}}}"}}""");
        var timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new("application/json");
        request.Headers.Add(SlackSignature.TimestampHeader, timestamp);
        request.Headers.Add(SlackSignature.SignatureHeader, SlackSignature.Sign(secret, timestamp, body));
        bool acked;
        try
        {
            using var response = await client.SendAsync(request);
            await response.Content.ReadAsByteArrayAsync();
            acked = response.StatusCode == HttpStatusCode.OK;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            acked = false;
        }
        var done = Stopwatch.GetTimestamp();
        return new Sample(ts, acked, (done - scheduled) * 1000.0 / Stopwatch.Frequency, done);
    }

    /// <summary>A message ts unique to the run and the request, shaped as Slack's are.</summary>
    public static string Ts(int run, int i) => $"{1800000000 + run}.{i:D7}";

    public void Dispose() => client.Dispose();
}

/// <summary>
/// Slack's Web API as far as the two apps use it here, on 127.0.0.1, answering at once: chat.postMessage (its thread_ts noted with the
/// time it arrived), conversations.open, users.info and auth.test. It reads form-encoded and JSON bodies, as use60 and Bolt send them.
/// </summary>
public sealed class FakeSlackApi : IAsyncDisposable
{
    readonly WebApplication app = LoopbackServer.Create();
    readonly ConcurrentDictionary<string, long> firstReply = new();
    int duplicates, nextTs;

    public string ApiUrl { get; private set; } = "";

    public static async Task<FakeSlackApi> StartAsync()
    {
        var fake = new FakeSlackApi();
        fake.app.MapPost("/api/{method}", fake.HandleAsync);
        fake.ApiUrl = new Uri(await LoopbackServer.StartAsync(fake.app), "api/").ToString();
        return fake;
    }

    async Task<IResult> HandleAsync(string method, HttpRequest request)
    {
        var args = new Dictionary<string, string?>();
        if (request.HasFormContentType)
            foreach (var (key, value) in await request.ReadFormAsync()) args[key] = value.ToString();
        else if (request.ContentLength is not 0 && await JsonNode.ParseAsync(request.Body) is JsonObject json)
            foreach (var (key, value) in json) args[key] = value is JsonValue v ? v.ToString() : value?.ToJsonString();
        switch (method)
        {
            case "chat.postMessage":
                if (args.GetValueOrDefault("thread_ts") is { } thread && !firstReply.TryAdd(thread, Stopwatch.GetTimestamp()))
                    Interlocked.Increment(ref duplicates);
                return Results.Json(new JsonObject
                {
                    ["ok"] = true, ["channel"] = args.GetValueOrDefault("channel"),
                    ["ts"] = $"1700000000.{Interlocked.Increment(ref nextTs):D6}",
                });
            case "conversations.open":
                return Results.Json(new JsonObject { ["ok"] = true, ["channel"] = new JsonObject { ["id"] = "D" + args.GetValueOrDefault("users") } });
            case "users.info":
                var user = args.GetValueOrDefault("user");
                return Results.Json(new JsonObject
                {
                    ["ok"] = true,
                    ["user"] = new JsonObject
                    {
                        ["id"] = user, ["name"] = "rep", ["tz"] = "America/Chicago",
                        ["profile"] = new JsonObject { ["real_name"] = "Bench Rep", ["email"] = $"{user?.ToLowerInvariant()}@bench.example" },
                    },
                });
            case "auth.test":
                return Results.Json(new JsonObject { ["ok"] = true, ["team_id"] = DemoData.TeamId, ["user_id"] = "U0BOT", ["bot_id"] = "B0BENCH" });
            default:
                return Results.Json(new JsonObject { ["ok"] = true });
        }
    }

    /// <summary>
    /// Waits until every acknowledged sample's reply has arrived, or <paramref name="drain"/> after the last ack; then counts the replies that
    /// came within the window of their ack, later, or not at all.
    /// </summary>
    public async Task<Replies> WaitForRepliesAsync(IReadOnlyList<Sample> samples, TimeSpan drain)
    {
        var acked = samples.Where(s => s.Acked).ToList();
        var duplicatesBefore = Volatile.Read(ref duplicates);
        var lastAck = acked.Count == 0 ? Stopwatch.GetTimestamp() : acked.Max(s => s.AckedAt);
        var deadline = lastAck + (long)(drain.TotalSeconds * Stopwatch.Frequency);
        while (acked.Any(s => !firstReply.ContainsKey(s.Ts)) && Stopwatch.GetTimestamp() < deadline) await Task.Delay(100);
        // A moment more for a reply sent twice to show as a duplicate.
        await Task.Delay(200);
        var window = (long)(10 * Stopwatch.Frequency);
        int within = 0, late = 0, lost = 0;
        foreach (var sample in acked)
            if (!firstReply.TryGetValue(sample.Ts, out var at)) lost++;
            else if (at - sample.AckedAt <= window) within++;
            else late++;
        return new Replies(within, late, lost, Volatile.Read(ref duplicates) - duplicatesBefore);
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }
}

/// <summary>A server the bench starts as its own process (use60, Bolt): its output kept (the last lines, for a failure), stopped with SIGTERM.</summary>
public sealed partial class ServerProcess : IAsyncDisposable
{
    readonly string name;
    readonly Process process;
    readonly Queue<string> lastLines = new();
    readonly Queue<string> warnings = new();

    public string Name => name;

    ServerProcess(string name, Process process) => (this.name, this.process) = (name, process);

    public static async Task<ServerProcess> StartAsync(string name, string file, IEnumerable<string> args, string workingDirectory,
        IReadOnlyDictionary<string, string?> environment, int port)
    {
        var start = new ProcessStartInfo(file)
        {
            WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var arg in args) start.ArgumentList.Add(arg);
        // Nothing of the developer's own settings reaches the server; only what the bench gives it.
        foreach (var variable in EnvironmentVariables.All) start.Environment.Remove(variable.Name);
        start.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (key, value) in environment) start.Environment[key] = value;
        var server = new ServerProcess(name, new Process { StartInfo = start, EnableRaisingEvents = true });
        DataReceivedEventHandler keep = (_, e) =>
        {
            if (e.Data is null) return;
            lock (server.lastLines)
            {
                server.lastLines.Enqueue(e.Data);
                if (server.lastLines.Count > 40) server.lastLines.Dequeue();
                if (!WarningLine().IsMatch(e.Data)) return;
                server.warnings.Enqueue(e.Data.Length > 300 ? e.Data[..300] + "…" : e.Data);
                if (server.warnings.Count > 15) server.warnings.Dequeue();
            }
        };
        server.process.OutputDataReceived += keep;
        server.process.ErrorDataReceived += keep;
        server.process.Start();
        server.process.BeginOutputReadLine();
        server.process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (true)
        {
            if (server.process.HasExited || DateTime.UtcNow > deadline)
                throw new InvalidOperationException($"{name} did not start listening on 127.0.0.1:{port}:\n{server.Output}");
            try
            {
                using var socket = new TcpClient();
                await socket.ConnectAsync(IPAddress.Loopback, port);
                return server;
            }
            catch (SocketException)
            {
                await Task.Delay(200);
            }
        }
    }

    /// <summary>The last warnings and errors it logged (use60's WRN/ERR lines, whatever Bolt wrote as an error).</summary>
    public string Warnings
    {
        get { lock (lastLines) return string.Join('\n', warnings); }
    }

    [System.Text.RegularExpressions.GeneratedRegex(@" (WRN|ERR|FTL)\]|^bolt: |\[ERROR\]|\[WARN\]")]
    private static partial System.Text.RegularExpressions.Regex WarningLine();

    public string Output
    {
        get { lock (lastLines) return string.Join('\n', lastLines); }
    }

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)])?.WaitForExit();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                Console.Error.WriteLine($"{name} did not stop within 20 s of SIGTERM; killed");
                process.Kill(entireProcessTree: true);
            }
        }
        process.Dispose();
    }
}
