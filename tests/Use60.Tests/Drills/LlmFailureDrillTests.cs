using System.Diagnostics;
using Use60.Demo;
using Use60.Slack;
using Use60.Tests.Infrastructure;

namespace Use60.Tests.Drills;

/// <summary>
/// Drill: the LLM endpoint hangs for one rep's questions, then fails outright. The stuck rep gets an honest apology once the
/// copilot's timeout is over (no stack trace, no raw error), and meanwhile the other reps' questions are acknowledged and
/// answered at their usual speed: the waits are asynchronous and hold no thread.
/// </summary>
[Collection(DrillCollection.Name)]
public sealed class LlmFailureDrillTests
{
    const int TimeoutSeconds = 4;

    [Fact]
    public async Task A_hanging_then_failing_model_gets_an_honest_apology_in_time_while_other_reps_keep_their_latency()
    {
        await using var slack = await FakeSlack.StartAsync();
        slack.TeamId = DemoData.TeamId;
        await using var llm = await FakeOpenAI.StartAsync();
        await using var database = await TestDatabase.CreateAsync();
        await using var app = new Use60App(database, new Dictionary<string, string?>
        {
            ["Slack:SigningSecret"] = SlackRequests.Secret, ["Slack:BotToken"] = slack.BotToken, ["Slack:ApiUrl"] = slack.ApiUrl,
            ["OpenAI:ApiKey"] = "sk-drill-0123456789", ["OpenAI:BaseUrl"] = llm.BaseUrl,
            ["Copilot:TimeoutSeconds"] = TimeoutSeconds.ToString(), ["Copilot:RequestsPerMinute"] = "10000",
        });
        await app.Service<DemoSeeder>().SeedAsync(CancellationToken.None);
        var requests = new SlackRequests(app.Client(), SlackRequests.Secret, DemoData.TeamId);
        var (alex, tom, priya) = (DrillKit.Reps[0], DrillKit.Reps[1], DrillKit.Reps[2]);

        // The model hangs on Alex's questions (longer than the timeout), answers everyone else at once.
        llm.Always(DrillKit.Echo() with { DelayFor = request => FakeOpenAI.LastUserText(request).Contains("stuck") ? TimeSpan.FromMinutes(2) : TimeSpan.Zero });
        var stuck = Stopwatch.StartNew();
        const int Stuck = SlackInboxWorker.Concurrency / 2; // half the workers hang; the others' questions go through the rest
        for (var i = 0; i < Stuck; i++)
            Assert.Equal(200, (int)(await requests.EventAsync(requests.DirectMessage($"EvLLMSTUCK{i}", alex, $"stuck question {DrillKit.Marker(i)}"))).StatusCode);
        await FakeSlack.WaitUntilAsync(() => llm.Requests.Count >= Stuck, "Alex's questions to reach the model", 20);

        // While those wait: the others' events are acknowledged fast, and answered before any of Alex's apologies is due.
        var others = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            var marker = DrillKit.Marker(100 + i);
            var (status, took) = await DrillKit.TimedAsync(() => requests.EventAsync(requests.DirectMessage($"EvLLMOTHER{i}", i % 2 == 0 ? tom : priya, $"quick {marker}")));
            Assert.Equal(200, status);
            Assert.True(took < TimeSpan.FromSeconds(2), $"an event's ack took {took.TotalMilliseconds:0} ms while the model hung");
            others.Add(marker);
        }
        await FakeSlack.WaitUntilAsync(() => others.All(o => DrillKit.Replies(slack).ContainsKey(o)), "the other reps' answers", 20);
        // Answered while Alex's questions still hang: they did not wait for the stuck ones.
        Assert.Empty(Apologies(slack, alex));
        var (health, healthTook) = await DrillKit.TimedAsync(() => app.Client().GetAsync("/healthz"));
        Assert.Equal(200, health);
        Assert.True(healthTook < TimeSpan.FromSeconds(1), $"/healthz took {healthTook.TotalMilliseconds:0} ms");

        // Alex gets one apology per question, honest and plain, once the timeout is over and not much later.
        await FakeSlack.WaitUntilAsync(() => Apologies(slack, alex).Count == Stuck, "an apology for each stuck question", TimeoutSeconds + 15);
        Assert.True(stuck.Elapsed >= TimeSpan.FromSeconds(TimeoutSeconds) && stuck.Elapsed < TimeSpan.FromSeconds(TimeoutSeconds + 8),
            $"the apologies came after {stuck.Elapsed.TotalSeconds:0.0} s with a timeout of {TimeoutSeconds} s");
        Assert.All(Apologies(slack, alex), text =>
        {
            Assert.Contains("took too long", text);
            Plain(text);
        });

        // Then the endpoint fails outright (HTTP 500): an apology at once, not after the timeout.
        llm.Reset();
        llm.Always(FakeOpenAI.Error(500));
        var failing = Stopwatch.StartNew();
        await requests.EventAsync(requests.DirectMessage("EvLLMFAIL", priya, "failing question"));
        await FakeSlack.WaitUntilAsync(() => Apologies(slack, priya).Count == 1, "an apology for the failed answer", 15);
        Assert.True(failing.Elapsed < TimeSpan.FromSeconds(TimeoutSeconds), $"a failing model's apology took {failing.Elapsed.TotalSeconds:0.0} s");
        var apology = Assert.Single(Apologies(slack, priya));
        Assert.Contains("isn't answering properly", apology);
        Plain(apology);
        Assert.DoesNotContain("500", apology.Split('\n')[0]);
    }

    static List<string> Apologies(FakeSlack slack, string slackUserId) => [.. slack.CallsOf("chat.postMessage")
        .Where(c => c.Args.GetValueOrDefault("channel") == "D" + slackUserId && c.Args.GetValueOrDefault("text")?.StartsWith("Sorry") == true)
        .Select(c => c.Args["text"] + "\n" + c.Args.GetValueOrDefault("blocks"))];

    /// <summary>Words for a rep: no exception, stack frame or internal detail.</summary>
    static void Plain(string text)
    {
        Assert.DoesNotContain("Exception", text);
        Assert.DoesNotContain(" at Use60.", text);
        Assert.DoesNotContain("scripted failure", text);
        Assert.DoesNotContain("System.", text);
    }
}
