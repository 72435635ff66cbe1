using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Npgsql;
using Use60.Demo;

namespace Use60.Tests.Infrastructure;

/// <summary>
/// What the fault drills share: the demo org served by real app processes against the fakes, DMs that carry a marker the fake
/// model echoes (so each reply names the event it answers), and counting those replies.
/// </summary>
public static partial class DrillKit
{
    /// <summary>The environment of an app process on <paramref name="appUrl"/>/<paramref name="ownerUrl"/>, talking to the fakes.</summary>
    public static Dictionary<string, string?> Environment(string appUrl, string ownerUrl, FakeSlack slack, FakeOpenAI? llm, bool jobs = false)
    {
        var environment = new Dictionary<string, string?>
        {
            ["DATABASE_URL"] = appUrl,
            ["DATABASE_OWNER_URL"] = ownerUrl,
            ["SLACK_SIGNING_SECRET"] = SlackRequests.Secret,
            ["SLACK_BOT_TOKEN"] = slack.BotToken,
            ["SLACK_API_URL"] = slack.ApiUrl,
            ["JOBS_ENABLED"] = jobs ? "true" : "false",
            // A drill's stream is many requests per rep a minute; the per-rep limit would hand them to the offline planner.
            ["COPILOT_REQUESTS_PER_MINUTE"] = "10000",
        };
        if (llm is not null)
        {
            environment["OPENAI_API_KEY"] = "sk-drill-0123456789";
            environment["OPENAI_BASE_URL"] = llm.BaseUrl;
        }
        return environment;
    }

    public static Dictionary<string, string?> Environment(TestDatabase database, FakeSlack slack, FakeOpenAI? llm, bool jobs = false) =>
        Environment(database.AppConnectionString, database.OwnerConnectionString, slack, llm, jobs);

    /// <summary>Migrates and seeds the demo org (three reps in workspace <see cref="DemoData.TeamId"/>) with the app's own command.</summary>
    public static async Task SeedDemoAsync(IReadOnlyDictionary<string, string?> environment)
    {
        var (exitCode, output) = await AppProcess.RunAsync(environment, "seed-demo");
        Assert.True(exitCode == 0, output);
    }

    public static string[] Reps => [.. DemoData.Reps.Select(r => r.SlackUserId)];

    /// <summary>A word that names one event, with no digits (the reply guard withholds figures no tool gave).</summary>
    public static string Marker(int i) => $"mark{(char)('a' + i / 676 % 26)}{(char)('a' + i / 26 % 26)}{(char)('a' + i % 26)}";

    /// <summary>The model's answer: "Noted" and the marker of the message it answers.</summary>
    public static FakeOpenAI.Turn Echo(TimeSpan delay = default) =>
        FakeOpenAI.Reply(request => "Noted " + (MarkerPattern().Match(FakeOpenAI.LastUserText(request)) is { Success: true } m ? m.Value : "nothing")) with
        {
            Delay = delay,
        };

    public static SlackRequests Requests(Uri url) =>
        new(new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(30) }, SlackRequests.Secret, DemoData.TeamId);

    /// <summary>A DM to the bot carrying <see cref="Marker"/>(<paramref name="i"/>), from one of the demo reps, as event Ev…i.</summary>
    public static JsonObject Dm(SlackRequests requests, string run, int i) =>
        requests.DirectMessage($"Ev{run}{i:D5}", Reps[i % Reps.Length], $"please note {Marker(i)}");

    /// <summary>How many replies (chat.postMessage) each marker got so far.</summary>
    public static Dictionary<string, int> Replies(FakeSlack slack) => slack.CallsOf("chat.postMessage")
        .Select(c => MarkerPattern().Match(c.Args.GetValueOrDefault("text") ?? ""))
        .Where(m => m.Success).GroupBy(m => m.Value).ToDictionary(g => g.Key, g => g.Count());

    public static async Task<long> CountAsync(string connectionString, string sql) =>
        await TestDatabase.ScalarAsync<long>(connectionString, sql);

    /// <summary>
    /// Waits until the inbox has nothing unprocessed and the outbox nothing unsent: then no more replies can come, and counts are final.
    /// </summary>
    public static async Task WaitForQuietAsync(string superuserConnectionString, double seconds)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            try
            {
                var busy = await CountAsync(superuserConnectionString,
                    "SELECT (SELECT count(*) FROM slack_inbox WHERE processed_at IS NULL) + (SELECT count(*) FROM slack_outbox WHERE status IN ('pending', 'sending'))");
                if (busy == 0) return;
            }
            catch (NpgsqlException) when (DateTime.UtcNow < deadline)
            {
            }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Waited {seconds} s for the inbox and the outbox to empty");
            await Task.Delay(200);
        }
    }

    /// <summary>Times one request.</summary>
    public static async Task<(int Status, TimeSpan Took)> TimedAsync(Func<Task<HttpResponseMessage>> send)
    {
        var watch = Stopwatch.StartNew();
        try
        {
            using var response = await send();
            return ((int)response.StatusCode, watch.Elapsed);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return (0, watch.Elapsed);
        }
    }

    [GeneratedRegex("mark[a-z]{3}")]
    private static partial Regex MarkerPattern();
}
