using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Use60.Privacy;
using Use60.Proactive;
using Use60.Tests.Infrastructure;

namespace Use60.Bench;

/// <summary>
/// Real time moved forward by an offset that the soak raises one simulated day at a time. Not FakeTimeProvider: its timers fire only
/// when it is advanced, and the app's workers wait on the clock's timers (the inbox poll, the outbox's nap, a command's 2 s answer
/// budget), so between jumps they would stall. Here timers and delays run in real time; only "now" is fast-forwarded.
/// </summary>
public sealed class SoakClock(DateTimeOffset start) : TimeProvider
{
    long offsetTicks = (start - DateTimeOffset.UtcNow).Ticks;

    public override DateTimeOffset GetUtcNow() => DateTimeOffset.UtcNow.AddTicks(Interlocked.Read(ref offsetTicks));

    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    public void Advance(TimeSpan by) => Interlocked.Add(ref offsetTicks, by.Ticks);
}

/// <summary>One minute's sample of the app's process, taken after a full blocking collection (see <see cref="SoakBench"/>).</summary>
public sealed record SoakSample(int Minute, double WorkingSetMb, double GcHeapMb, double GcCommittedMb, int Threads, int PoolThreads, int DbConnections, int Events, int Commands,
    int Clicks, int Errors, int SlackPosts, long OutboxPending, double? Load);

/// <summary>
/// scripts/bench.sh soak: the app as Program.cs composes it (scheduler on), served by Kestrel on 127.0.0.1 in this process, on a database
/// seeded with --reps reps (2,000 by default; 20 deals, 6 calendar events and 10 tasks each), with a fake Slack Web API and a fake
/// OpenAI-compatible model on 127.0.0.1 that answer at once. For --minutes (15 by default) it sends a steady 30 requests a second,
/// all signed as Slack signs them: Events API DMs and app_mentions (the copilot, which calls the model: a tool call, then an answer),
/// /sixty commands (help, settings, calendar, a question) and block_actions clicks (Mark done and Snooze on task reminders, Snooze on
/// deals). The app's clock (<see cref="SoakClock"/>) starts on <see cref="BenchData.Now"/> (9:30 to 11:30 in the reps' zones) and moves
/// one day forward each real minute; each reps' first meeting moves with it, so every simulated day has a brief due for every rep.
/// Quartz keeps its own schedule on the real clock (the app does not hand it its TimeProvider), so at each simulated day the bench
/// starts the pipeline-digest, meeting-briefs, task-reminders, deal-stalls and win-loss jobs through the scheduler (JobTrigger), as a
/// replica's Quartz would at that day's morning; Quartz's own cron firings run too and find what is due already claimed.
/// The measured process is this one, app and load generator together: the generator keeps one HttpClient and small payloads, and the
/// fakes' recorded calls are cleared every minute. Every minute, after a full blocking collection (so the heap figure is what is live,
/// not garbage waiting), it prints the working set, the GC heap, the process's thread count and the app's open database connections
/// (pg_stat_activity, the app's two roles). Verdict: over the last five samples each series' spread (max − min) / min is at most 10%,
/// or for the small integer series (threads, connections) at most 2 apart; exits non-zero if one grows or more than 1% of requests fail.
/// </summary>
public static class SoakBench
{
    public const string Usage = "soak [--minutes N] [--reps N] [--out FILE]";
    const double FlatPercent = 10;
    const int FlatCount = 2;
    const int LastSamples = 5;
    static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(100);
    static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);
    static readonly string[] DailyJobs = ["pipeline-digest", "meeting-briefs", "task-reminders", "deal-stalls", "win-loss"];

    public static async Task<int> MainAsync(BenchOptions options)
    {
        var code = await RunAsync(options);
        // The app, the fakes and the database are disposed by now. But when a job is still running at the host's shutdown timeout,
        // JobsHost gives up waiting and Quartz's scheduler threads (foreground) outlive the host, retrying the dropped database for
        // ever, so the process would not end: exit explicitly. (An app issue, found by this bench; see JobsHost.StopOnceAsync.)
        Console.Out.Flush();
        Environment.Exit(code);
        return code;
    }

    static async Task<int> RunAsync(BenchOptions options)
    {
        var minutes = options.Number("--minutes", 15);
        var reps = options.Number("--reps", 2000);
        if (minutes < 1 || reps < BenchShape.RepsPerOrg)
        {
            Console.Error.WriteLine($"--minutes must be at least 1, --reps at least {BenchShape.RepsPerOrg}");
            return 2;
        }
        var total = Stopwatch.StartNew();
        var shape = new BenchShape(reps, DealsPerRep: 20, MeetingsPerRep: 6);
        await using var database = await BenchDatabase.CreateAsync(BenchCluster.FromEnvironment(), "use60_bench_soak", CancellationToken.None);
        await BenchData.SeedAsync(database.Superuser, shape, CancellationToken.None);
        Console.WriteLine($"soak: {reps} reps seeded in {total.Elapsed.TotalSeconds:0.0} s");

        await using var slack = await FakeSlack.StartAsync();
        await using var model = await FakeOpenAI.StartAsync();
        var toolCall = FakeOpenAI.ToolCall("execute_action", new JsonObject { ["action"] = "get_pipeline_summary", ["params"] = new JsonObject() });
        var answer = FakeOpenAI.Text("Here is where your pipeline stands, and the three things to do next.");
        model.Always(new FakeOpenAI.Turn(request =>
            (request["messages"]!.AsArray().Any(m => (string?)m?["role"] == "tool") ? answer : toolCall).Answer(request)));

        var clock = new SoakClock(BenchData.Now);
        var settings = new Dictionary<string, string?>
        {
            ["Database:Url"] = database.App,
            ["Database:OwnerUrl"] = database.Owner,
            ["Privacy:MasterKey"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
            ["Slack:SigningSecret"] = SlackRequests.Secret, ["Slack:BotToken"] = slack.BotToken, ["Slack:ApiUrl"] = slack.ApiUrl,
            ["OpenAI:ApiKey"] = "sk-bench-not-a-real-key", ["OpenAI:BaseUrl"] = model.BaseUrl, ["OpenAI:Model"] = "gpt-4o-mini",
            // Limits that would change what the copilot does half-way (the offline planner instead of the model) are out of the way.
            ["Copilot:RequestsPerMinute"] = "10000", ["Copilot:MonthlyTokenBudget"] = "1000000000000",
        };
        await using var app = new BenchApp(settings, services => services.AddSingleton<TimeProvider>(clock), kestrel: true);
        var address = app.BaseAddress;
        await app.Services.GetRequiredService<PiiMaintenance>().SealPassAsync(CancellationToken.None);
        var jobs = app.Services.GetRequiredService<JobTrigger>();

        await using var monitor = new NpgsqlConnection(database.Superuser);
        await monitor.OpenAsync();
        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 16, AllowAutoRedirect = false }) { BaseAddress = address };
        var generator = new SoakTraffic(client, slack, clock, await RepsAsync(monitor));
        Console.WriteLine($"  the app listens on {address}; {minutes} minutes at {1000 / Tick.TotalMilliseconds * 3:0} requests/s, one simulated day a minute, " +
                          $"{Environment.ProcessorCount} cores, load average {BenchResults.LoadAverage():0.0}");
        Console.WriteLine();
        Console.WriteLine("minute  sim day     working set MB  GC heap MB (committed)  threads (pool)  db conns  events  commands  clicks  errors  slack posts  outbox pending  load");

        using var stop = new CancellationTokenSource();
        var samples = new List<SoakSample>();
        var jobsFired = 0;
        var traffic = Task.CompletedTask;
        for (var minute = 1; minute <= minutes; minute++)
        {
            var started = Stopwatch.StartNew();
            if (minute > 1)
            {
                // The next simulated day: each rep's first meeting stays 30 minutes ahead, so its brief is due again.
                await ExecuteAsync(monitor, """
                    UPDATE calendar_events SET start_time = start_time + interval '1 day', end_time = end_time + interval '1 day'
                    WHERE external_id LIKE 'bench-%-0'
                    """);
                await generator.PauseAsync();
                await JobsIdleAsync(monitor);
                clock.Advance(TimeSpan.FromDays(1));
                generator.Resume();
            }
            foreach (var job in DailyJobs) jobs.Now(job, "the soak's simulated day");
            jobsFired += DailyJobs.Length;
            generator.Targets = await TargetsAsync(monitor);
            if (minute == 1) traffic = generator.RunAsync(Tick, stop.Token);
            var remaining = Minute - started.Elapsed;
            if (remaining > TimeSpan.Zero) await Task.Delay(remaining);

            var counts = generator.TakeMinute();
            var posts = slack.Calls.Count(c => c.Method == "chat.postMessage");
            slack.Calls.Clear();
            slack.ResponseUrlPosts.Clear();
            model.Reset();
            model.Always(new FakeOpenAI.Turn(request =>
                (request["messages"]!.AsArray().Any(m => (string?)m?["role"] == "tool") ? answer : toolCall).Answer(request)));
            var sample = await SampleAsync(monitor, minute, counts, posts);
            samples.Add(sample);
            Console.WriteLine($"{minute,6}  {clock.GetUtcNow():ddd dd MMM}  {sample.WorkingSetMb,14:0.0}  {sample.GcHeapMb,10:0.0} {$"({sample.GcCommittedMb:0.0})",11}  {sample.Threads,7} {$"({sample.PoolThreads})",6}  " +
                              $"{sample.DbConnections,8}  {sample.Events,6}  {sample.Commands,8}  {sample.Clicks,6}  {sample.Errors,6}  {sample.SlackPosts,11}  " +
                              $"{sample.OutboxPending,14}  {sample.Load,4:0.0}");
        }
        await stop.CancelAsync();
        await traffic;

        var (jobRuns, jobFailures) = await JobRunsAsync(monitor);
        var series = new (string Name, string Key, Func<SoakSample, double> Value, bool Small)[]
        {
            ("working set", "working_set_mb", s => s.WorkingSetMb, false),
            ("GC heap", "gc_heap_mb", s => s.GcHeapMb, false),
            ("threads", "threads", s => s.Threads, true),
            ("db connections", "db_connections", s => s.DbConnections, true),
        };
        var last = samples.TakeLast(LastSamples).ToList();
        Console.WriteLine();
        Console.WriteLine(samples.Count >= LastSamples
            ? $"last {LastSamples} minutes (minutes {last[0].Minute}–{last[^1].Minute}): flat means (max − min) / min ≤ {FlatPercent:0}%, " +
              $"or for threads and db connections at most {FlatCount} apart"
            : $"only {samples.Count} minutes: the verdict is over all of them");
        if (minutes < 15) Console.WriteLine($"note: --minutes {minutes} is a short try, not the 15-minute soak");

        var results = new JsonObject
        {
            ["minutes"] = minutes,
            ["reps"] = reps,
            ["simulated_days"] = minutes,
            ["request_rate_per_s"] = Math.Round(1000 / Tick.TotalMilliseconds * 3, 1),
        };
        var flat = true;
        foreach (var (name, key, value, small) in series)
        {
            var values = last.Select(value).ToList();
            var (min, max) = (values.Min(), values.Max());
            var growth = min > 0 ? (max - min) / min * 100 : max > 0 ? double.PositiveInfinity : 0;
            var ok = growth <= FlatPercent || (small && max - min <= FlatCount);
            flat &= ok;
            Console.WriteLine($"  {name,-15} {min,8:0.#} to {max,8:0.#}: {(double.IsInfinity(growth) ? "∞" : growth.ToString("0.0", CultureInfo.InvariantCulture))}% " +
                              (ok ? growth <= FlatPercent ? "flat" : $"flat (within ±{FlatCount})"
                                  : values[^1] > values[0] ? "NOT FLAT: grows" : "NOT FLAT (though lower at the end than at the start)"));
            for (var i = 0; i < samples.Count; i++) results[$"{key}_min{samples[i].Minute}"] = Math.Round(value(samples[i]), 1);
            results[$"{key}_first"] = Math.Round(value(samples[0]), 1);
            results[$"{key}_last"] = Math.Round(value(samples[^1]), 1);
            results[$"{key}_growth_last5_pct"] = double.IsInfinity(growth) ? null : Math.Round(growth, 1);
            results[$"{key}_flat"] = ok;
        }
        // The thread pool grows and shrinks its workers with the load (hill climbing); a thread leak would be among the others.
        Console.WriteLine($"  of the threads, the thread pool's {last.Min(s => s.PoolThreads)} to {last.Max(s => s.PoolThreads)}, " +
                          $"the others {last.Min(s => s.Threads - s.PoolThreads)} to {last.Max(s => s.Threads - s.PoolThreads)}");
        foreach (var sample in samples)
        {
            results[$"pool_threads_min{sample.Minute}"] = sample.PoolThreads;
            results[$"gc_committed_mb_min{sample.Minute}"] = Math.Round(sample.GcCommittedMb, 1);
        }
        // The working set beyond what the GC has committed: the runtime's own memory (JIT'd code, type data), native libraries, thread stacks.
        Console.WriteLine($"  of the working set, beyond the GC's committed memory: {last.Min(s => s.WorkingSetMb - s.GcCommittedMb):0.0} to " +
                          $"{last.Max(s => s.WorkingSetMb - s.GcCommittedMb):0.0} MB");
        if (samples.Max(s => s.Load) is { } busiest && busiest > 2 * Environment.ProcessorCount)
            Console.WriteLine($"note: the load average reached {busiest:0.0} on {Environment.ProcessorCount} cores: other work competed for the CPU, " +
                              "which slows the app and makes the thread pool and the connection pool vary more");
        var sent = samples.Sum(s => s.Events + s.Commands + s.Clicks);
        var errors = samples.Sum(s => s.Errors);
        var errorsOk = errors <= sent / 100;
        results["events_sent"] = samples.Sum(s => s.Events);
        results["commands_sent"] = samples.Sum(s => s.Commands);
        results["clicks_sent"] = samples.Sum(s => s.Clicks);
        results["errors"] = errors;
        results["slack_posts"] = samples.Sum(s => s.SlackPosts);
        results["outbox_pending_last"] = samples[^1].OutboxPending;
        results["jobs_fired"] = jobsFired;
        results["job_runs"] = jobRuns;
        results["job_failures"] = jobFailures;
        results["all_flat"] = flat;
        results["load_average_max"] = samples.Max(s => s.Load);
        results["total_s"] = Math.Round(total.Elapsed.TotalSeconds, 1);
        Console.WriteLine($"sent {results["events_sent"]} events, {results["commands_sent"]} commands, {results["clicks_sent"]} clicks ({errors} failed); " +
                          $"{jobsFired} jobs started by the bench, {jobRuns} job runs in all ({jobFailures} failed); {results["slack_posts"]} Slack posts");
        Console.WriteLine(flat ? "verdict: nothing grows" : "verdict: NOT FLAT — see the series marked above");
        if (!errorsOk) Console.Error.WriteLine($"{errors} of {sent} requests failed (more than 1%)");
        await BenchResults.WriteAsync(results, options.Output("soak.json"));
        return flat && errorsOk ? 0 : 1;
    }

    static async Task<SoakSample> SampleAsync(NpgsqlConnection monitor, int minute, SoakTraffic.Counts counts, int posts)
    {
        // Live objects only: what a leak keeps, not garbage a later collection would take anyway.
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        using var process = Process.GetCurrentProcess();
        await using var command = new NpgsqlCommand("""
            SELECT (SELECT count(*)::int FROM pg_stat_activity WHERE datname = current_database() AND usename IN ('use60_app', 'use60_owner')),
                   (SELECT count(*) FROM slack_outbox WHERE status = 'pending')
            """, monitor);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return new SoakSample(minute, process.WorkingSet64 / 1e6, GC.GetTotalMemory(forceFullCollection: false) / 1e6,
            GC.GetGCMemoryInfo().TotalCommittedBytes / 1e6, process.Threads.Count,
            ThreadPool.ThreadCount, reader.GetInt32(0), counts.Events, counts.Commands, counts.Clicks, counts.Errors, posts, reader.GetInt64(1), BenchResults.LoadAverage());
    }

    /// <summary>Every rep's Slack user and team.</summary>
    static async Task<SoakTraffic.Rep[]> RepsAsync(NpgsqlConnection monitor)
    {
        var reps = new List<SoakTraffic.Rep>();
        await using var command = new NpgsqlCommand("SELECT u.slack_user_id, o.slack_team_id FROM users u JOIN orgs o ON o.id = u.org_id ORDER BY u.id", monitor);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync()) reps.Add(new SoakTraffic.Rep(reader.GetString(0), reader.GetString(1)));
        return [.. reps];
    }

    /// <summary>Open tasks to click on this minute (with their deal, to snooze), picked at random among every rep's.</summary>
    static async Task<SoakTraffic.Target[]> TargetsAsync(NpgsqlConnection monitor)
    {
        var targets = new List<SoakTraffic.Target>();
        await using var command = new NpgsqlCommand("""
            SELECT t.id, t.deal_id, u.slack_user_id, o.slack_team_id FROM tasks t JOIN users u ON u.id = t.user_id JOIN orgs o ON o.id = t.org_id
            WHERE t.status = 'open' AND t.deal_id IS NOT NULL ORDER BY random() LIMIT 1000
            """, monitor);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
            targets.Add(new SoakTraffic.Target(reader.GetGuid(0), reader.GetGuid(1), new SoakTraffic.Rep(reader.GetString(2), reader.GetString(3))));
        return [.. targets];
    }

    /// <summary>
    /// Waits (up to 20 s) until no scheduled job is running: a tenant scope that read its org's keys before the clock jumps a day finds them
    /// evicted after it (the keyring forgets keys idle for 10 minutes of the clock), and its digest or brief fails, to be retried on
    /// the next run. That is the jump's doing, not the app's, so the jump waits for the jobs.
    /// </summary>
    static async Task JobsIdleAsync(NpgsqlConnection monitor)
    {
        var waited = Stopwatch.StartNew();
        // The app's own record of runs (JobRunRecorder): a run under way is 'running' until it ends.
        await using var command = new NpgsqlCommand("SELECT count(*) FROM job_runs WHERE last_outcome = 'running'", monitor);
        while ((long)(await command.ExecuteScalarAsync())! > 0 && waited.Elapsed < TimeSpan.FromSeconds(20)) await Task.Delay(250);
    }

    static async Task<(long Runs, long Failures)> JobRunsAsync(NpgsqlConnection monitor)
    {
        await using var command = new NpgsqlCommand("SELECT coalesce(sum(runs), 0)::bigint, coalesce(sum(failures), 0)::bigint FROM job_runs", monitor);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    static async Task ExecuteAsync(NpgsqlConnection monitor, string sql)
    {
        await using var command = new NpgsqlCommand(sql, monitor);
        await command.ExecuteNonQueryAsync();
    }
}

/// <summary>
/// The soak's load: every tick one event, one command and one click, each signed at the app's (fast-forwarded) time as Slack would
/// sign it then, with at most <see cref="MaxInFlight"/> requests under way.
/// </summary>
public sealed class SoakTraffic(HttpClient client, FakeSlack slack, TimeProvider clock, SoakTraffic.Rep[] reps)
{
    public sealed record Rep(string SlackUserId, string TeamId);

    public sealed record Target(Guid TaskId, Guid DealId, Rep Rep);

    public sealed record Counts(int Events, int Commands, int Clicks, int Errors);

    readonly Dictionary<string, SlackRequests> teams = reps.Select(r => r.TeamId).Distinct()
        .ToDictionary(team => team, team => new SlackRequests(client, SlackRequests.Secret, team));
    readonly Random random = new(60);
    const int MaxInFlight = 48;
    readonly SemaphoreSlim inFlight = new(MaxInFlight);
    const int EventsSent = 0, CommandsSent = 1, ClicksSent = 2, Errors = 3;
    readonly int[] tally = new int[4];
    long sequence;

    public volatile Target[] Targets = [];

    /// <summary>This minute's counts, starting the next minute's from zero.</summary>
    public Counts TakeMinute() => new(Interlocked.Exchange(ref tally[EventsSent], 0), Interlocked.Exchange(ref tally[CommandsSent], 0),
        Interlocked.Exchange(ref tally[ClicksSent], 0), Interlocked.Exchange(ref tally[Errors], 0));

    public async Task RunAsync(TimeSpan tick, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(tick);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                await SendAsync(EventAsync, EventsSent, cancellationToken);
                await SendAsync(CommandAsync, CommandsSent, cancellationToken);
                await SendAsync(ClickAsync, ClicksSent, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        // The requests still under way finish (or fail) before the app stops.
        for (var i = 0; i < MaxInFlight; i++) await inFlight.WaitAsync(CancellationToken.None);
    }

    /// <summary>
    /// Holds new requests back and waits for those under way: one signed before the clock jumps a day and checked after it would be
    /// refused as stale (as Slack's would be), which is the jump's doing, not the app's.
    /// </summary>
    public async Task PauseAsync()
    {
        for (var i = 0; i < MaxInFlight; i++) await inFlight.WaitAsync();
    }

    public void Resume() => inFlight.Release(MaxInFlight);

    /// <summary>Starts one request without waiting for its answer (a command may take the app's whole 2 s budget), as long as fewer than
    /// <see cref="MaxInFlight"/> are under way; past that it waits, so a slow app slows the load instead of piling requests up.</summary>
    async Task SendAsync(Func<long, Task<HttpResponseMessage>> request, int kind, CancellationToken cancellationToken)
    {
        await inFlight.WaitAsync(cancellationToken);
        Interlocked.Increment(ref tally[kind]);
        _ = CheckAsync(request, Interlocked.Increment(ref sequence));
    }

    async Task CheckAsync(Func<long, Task<HttpResponseMessage>> request, long n)
    {
        try
        {
            using var response = await request(n);
            if (!response.IsSuccessStatusCode) Interlocked.Increment(ref tally[Errors]);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            Interlocked.Increment(ref tally[Errors]);
        }
        finally
        {
            inFlight.Release();
        }
    }

    Rep AnyRep()
    {
        lock (random) return reps[random.Next(reps.Length)];
    }

    string Ts(long n) => $"{clock.GetUtcNow().ToUnixTimeSeconds()}.{n % 1_000_000:000000}";

    /// <summary>A DM to the app, or (every other one) an app_mention in a channel: either way a question for the copilot.</summary>
    Task<HttpResponseMessage> EventAsync(long n)
    {
        var rep = AnyRep();
        var requests = teams[rep.TeamId];
        var question = SoakQuestions[n % SoakQuestions.Length];
        var inner = n % 2 == 0
            ? new JsonObject
            {
                ["type"] = "message", ["channel_type"] = "im", ["channel"] = "D" + rep.SlackUserId, ["user"] = rep.SlackUserId, ["text"] = question,
                ["ts"] = Ts(n), ["event_ts"] = Ts(n),
            }
            : new JsonObject
            {
                ["type"] = "app_mention", ["channel"] = "C0GENERAL", ["user"] = rep.SlackUserId, ["text"] = "<@U0BOT> " + question,
                ["ts"] = Ts(n), ["event_ts"] = Ts(n),
            };
        var envelope = requests.Event($"EvSOAK{n:000000000}", inner);
        envelope["event_time"] = clock.GetUtcNow().ToUnixTimeSeconds();
        return requests.PostAsync("slack/events", new StringContent(envelope.ToJsonString(), System.Text.Encoding.UTF8, "application/json"), clock.GetUtcNow());
    }

    static readonly string[] SoakQuestions = ["what's my pipeline?", "what closes this week?", "which deals are stalled?", "what's overdue?"];
    static readonly string[] SoakCommands = ["help", "settings", "calendar", "ask what's my pipeline?"];

    Task<HttpResponseMessage> CommandAsync(long n)
    {
        var rep = AnyRep();
        var form = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["token"] = "legacy", ["team_id"] = rep.TeamId, ["team_domain"] = "bench", ["channel_id"] = "C0GENERAL", ["channel_name"] = "general",
            ["user_id"] = rep.SlackUserId, ["user_name"] = "rep", ["command"] = "/sixty", ["text"] = SoakCommands[n % SoakCommands.Length],
            ["api_app_id"] = "A0USE60", ["response_url"] = slack.ResponseUrl("command-" + n), ["trigger_id"] = $"{n}.soak{n:x}",
        });
        return teams[rep.TeamId].PostAsync("slack/commands", form, clock.GetUtcNow());
    }

    /// <summary>Mark done or Snooze on a task reminder's line, or Snooze on a deal: the rep's own task and deal.</summary>
    Task<HttpResponseMessage> ClickAsync(long n)
    {
        var targets = Targets;
        if (targets.Length == 0) return EventAsync(n);
        Target target;
        lock (random) target = targets[random.Next(targets.Length)];
        var requests = teams[target.Rep.TeamId];
        var (actionId, blockId, value) = (n % 3) switch
        {
            0 => (TaskReminders.DoneAction, TaskReminders.BlockIdOf(target.TaskId), "done"),
            1 => (TaskReminders.SnoozeAction, TaskReminders.BlockIdOf(target.TaskId), "snooze"),
            _ => (DealButtons.Snooze, "deal:" + target.DealId, target.DealId.ToString()),
        };
        var channel = "D" + target.Rep.SlackUserId;
        var click = requests.Interaction("block_actions", target.Rep.SlackUserId);
        click["trigger_id"] = $"{n}.soak{n:x}";
        click["container"] = new JsonObject { ["type"] = "message", ["channel_id"] = channel, ["message_ts"] = "1700000000.000001" };
        click["channel"] = new JsonObject { ["id"] = channel };
        click["message"] = new JsonObject
        {
            ["text"] = "You have overdue tasks.",
            ["blocks"] = new JsonArray(new JsonObject
            {
                ["type"] = "section", ["block_id"] = blockId, ["text"] = new JsonObject { ["type"] = "mrkdwn", ["text"] = "A task" },
            }),
        };
        click["response_url"] = slack.ResponseUrl("click-" + n);
        click["actions"] = new JsonArray(new JsonObject
        {
            ["type"] = "button", ["action_id"] = actionId, ["block_id"] = blockId, ["value"] = value, ["action_ts"] = Ts(n),
        });
        return requests.PostAsync("slack/interactions", new FormUrlEncodedContent(new Dictionary<string, string> { ["payload"] = click.ToJsonString() }),
            clock.GetUtcNow());
    }
}
