using System.Text.Json.Nodes;
using Use60.Tests.Infrastructure;

namespace Use60.Tests.Drills;

/// <summary>
/// Drill: two app processes on one database, the scheduler on in both. Each gets half of a stream of events, and Slack's
/// retries of every event land on the other one. Every event is answered once, every scheduled firing runs once, and a
/// pending action confirmed by clicks on both replicas at once is executed once.
/// </summary>
[Collection(DrillCollection.Name)]
public sealed class TwoReplicaDrillTests
{
    const int Events = 24;
    const int ClicksPerReplica = 4;
    static readonly string[] EveryMinute = ["pipeline-digest", "meeting-briefs"];

    [Fact]
    public async Task Two_replicas_answer_each_event_once_fire_each_job_once_and_execute_a_confirmed_action_once()
    {
        await using var database = await TestDatabase.CreateAsync(migrate: false);
        await using var slack = await FakeSlack.StartAsync();
        slack.TeamId = Demo.DemoData.TeamId;
        await using var llm = await FakeOpenAI.StartAsync();
        llm.Always(new FakeOpenAI.Turn(Model));
        var environment = DrillKit.Environment(database, slack, llm, jobs: true);
        await DrillKit.SeedDemoAsync(environment);

        var started = await Task.WhenAll(AppProcess.ServeAsync(environment), AppProcess.ServeAsync(environment));
        await using var first = started[0].App;
        await using var second = started[1].App;
        var replicas = started.Select(s => DrillKit.Requests(s.Url)).ToArray();
        var su = database.SuperuserConnectionString;
        await FakeSlack.WaitUntilAsync(() => DrillKit.CountAsync(su, "SELECT count(*) FROM qrtz_scheduler_state").Result == 2,
            "both replicas to check in to the Quartz cluster", 30);
        // The every-minute jobs' runs so far, and the next minute boundary (not one a second away, which might be firing already).
        var runsBefore = await RunsAsync(su);
        var now = DateTimeOffset.UtcNow;
        var boundary = new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute, 0, TimeSpan.Zero).AddMinutes(now.Second >= 57 ? 2 : 1);

        // The stream: event i goes to replica i % 2 first; Slack's retry of it (as if the ack were lost) to the other, at once.
        var acks = await Task.WhenAll(Enumerable.Range(0, Events).SelectMany(i => new[]
        {
            replicas[i % 2].EventAsync(DrillKit.Dm(replicas[i % 2], "TWO", i)),
            replicas[(i + 1) % 2].EventAsync(DrillKit.Dm(replicas[(i + 1) % 2], "TWO", i), retryNum: 1, retryReason: "http_timeout"),
        }));
        Assert.All(acks, ack => Assert.Equal(200, (int)ack.StatusCode));

        // A preview to confirm, then Confirm clicked several times on each replica at once (a double click, two devices, retries).
        var alex = DrillKit.Reps[0];
        await replicas[0].EventAsync(replicas[0].DirectMessage("EvTWOEMAIL", alex, "email Sarah Chen our pricing"));
        await FakeSlack.WaitUntilAsync(() => ConfirmButton(slack) is not null, "the email preview with its Confirm button", 30);
        var (preview, confirm) = ConfirmButton(slack)!.Value;
        var clicks = await Task.WhenAll(Enumerable.Range(0, 2 * ClicksPerReplica).Select(i => replicas[i % 2].InteractionAsync(Click(replicas[i % 2], slack, alex, preview, confirm, i))));
        Assert.All(clicks, click => Assert.Equal(200, (int)click.StatusCode));

        await FakeSlack.WaitUntilAsync(() => DrillKit.Replies(slack).Count == Events, "a reply to every event", 60);
        await FakeSlack.WaitUntilAsync(() => slack.ResponseUrlPosts.Count(p => p.Id.StartsWith("click-")) == 2 * ClicksPerReplica, "an answer to every click", 30);
        await DrillKit.WaitForQuietAsync(su, 30);

        var replies = DrillKit.Replies(slack);
        Assert.Equal(Enumerable.Range(0, Events).Select(DrillKit.Marker).Order(), replies.Keys.Order());
        Assert.All(replies, r => Assert.True(r.Value == 1, $"{r.Key} was answered {r.Value} times"));
        Assert.Equal(Events + 1, await DrillKit.CountAsync(su, "SELECT count(*) FROM slack_inbox WHERE dedupe_key LIKE 'event:EvTWO%' AND outcome = 'handled'"));
        Assert.Equal(Events, await DrillKit.CountAsync(su, "SELECT count(*) FROM slack_inbox WHERE dedupe_key LIKE 'event:EvTWO0%' AND deliveries = 2"));

        var answers = slack.ResponseUrlPosts.Where(p => p.Id.StartsWith("click-")).Select(p => p.Body.ToJsonString()).ToList();
        Assert.Single(answers, a => a.Contains("Email sent"));
        Assert.Equal(2 * ClicksPerReplica - 1, answers.Count(a => a.Contains("already done") || a.Contains("being done") || a.Contains("in progress")));
        Assert.Equal(1, await DrillKit.CountAsync(su, "SELECT count(*) FROM outbound_emails"));
        Assert.Equal(1, await DrillKit.CountAsync(su, "SELECT count(*) FROM pending_actions WHERE status = 'executed'"));

        // The scheduler: the firing at the next minute boundary runs once in the cluster, on one replica or the other.
        await FakeSlack.WaitUntilAsync(() => DrillKit.CountAsync(su, $"""
            SELECT count(*) FROM job_runs WHERE job_name IN ('{string.Join("','", EveryMinute)}')
              AND last_started_at >= '{boundary:O}' AND last_outcome <> 'running'
            """).Result == EveryMinute.Length, "the every-minute jobs to run at the next minute", 90);
        var runsAfter = await RunsAsync(su);
        Assert.All(EveryMinute, job => Assert.True(runsAfter[job] == runsBefore.GetValueOrDefault(job) + 1,
            $"{job} ran {runsAfter[job] - runsBefore.GetValueOrDefault(job)} times for one firing"));
    }

    /// <summary>The fake model: "email Sarah Chen" becomes resolve_entity, then a send_email preview; anything else is echoed.</summary>
    static JsonObject? Model(JsonObject request)
    {
        if (!FakeOpenAI.LastUserText(request).Contains("email Sarah Chen")) return DrillKit.Echo().Answer(request);
        var results = FakeOpenAI.ToolResults(request);
        return (results.Count switch
        {
            0 => FakeOpenAI.ToolCall("resolve_entity", new JsonObject { ["name"] = "Sarah Chen", ["entity_type"] = "contact" }),
            1 => FakeOpenAI.ToolCall("execute_action", new JsonObject
            {
                ["action"] = "send_email", ["is_simulation"] = true,
                ["params"] = new JsonObject { ["contact_id"] = (string)results[0]["candidates"]![0]!["id"]!, ["subject"] = "Pricing", ["body"] = "Hi Sarah, our pricing." },
            }),
            _ => FakeOpenAI.Text("I've prepared the email to Sarah Chen."),
        }).Answer(request);
    }

    static async Task<Dictionary<string, long>> RunsAsync(string su)
    {
        var runs = new Dictionary<string, long>();
        foreach (var job in EveryMinute)
            runs[job] = await DrillKit.CountAsync(su, $"SELECT coalesce(sum(runs), 0)::bigint FROM job_runs WHERE job_name = '{job}'");
        return runs;
    }

    static (FakeSlack.Call Post, JsonObject Button)? ConfirmButton(FakeSlack slack)
    {
        foreach (var post in slack.CallsOf("chat.postMessage"))
        {
            if (post.Args.GetValueOrDefault("blocks") is not { } blocks) continue;
            foreach (var block in JsonNode.Parse(blocks)!.AsArray().OfType<JsonObject>().Where(b => (string?)b["type"] == "actions"))
                if (block["elements"]!.AsArray().OfType<JsonObject>().FirstOrDefault(e => (string?)e["action_id"] == "copilot_confirm") is { } button)
                {
                    var found = (JsonObject)button.DeepClone();
                    found["block_id"] = (string?)block["block_id"];
                    return (post, found);
                }
        }
        return null;
    }

    static JsonObject Click(SlackRequests requests, FakeSlack slack, string user, FakeSlack.Call preview, JsonObject button, int i)
    {
        var click = requests.Interaction("block_actions", user);
        var channel = preview.Args["channel"];
        click["container"] = new JsonObject { ["type"] = "message", ["channel_id"] = channel, ["message_ts"] = "1700000000.000001" };
        click["channel"] = new JsonObject { ["id"] = channel };
        click["message"] = new JsonObject { ["text"] = preview.Args.GetValueOrDefault("text"), ["blocks"] = JsonNode.Parse(preview.Args["blocks"]) };
        click["response_url"] = slack.ResponseUrl("click-" + i);
        click["actions"] = new JsonArray(new JsonObject
        {
            ["type"] = "button", ["action_id"] = "copilot_confirm", ["block_id"] = (string?)button["block_id"], ["value"] = (string?)button["value"],
            ["text"] = new JsonObject { ["type"] = "plain_text", ["text"] = "Confirm" },
        });
        return click;
    }
}
