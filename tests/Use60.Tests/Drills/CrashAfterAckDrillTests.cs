using Use60.Tests.Infrastructure;

namespace Use60.Tests.Drills;

/// <summary>
/// Drill: the app is killed (SIGKILL) right after acknowledging a batch of events and before it has answered them. On restart
/// each event is answered exactly once: none lost (they were stored before the ack), none twice.
/// </summary>
[Collection(DrillCollection.Name)]
public sealed class CrashAfterAckDrillTests
{
    const int Events = 8;

    [Fact]
    public async Task Events_acknowledged_before_a_kill_are_each_answered_exactly_once_after_restart()
    {
        await using var database = await TestDatabase.CreateAsync(migrate: false);
        await using var slack = await FakeSlack.StartAsync();
        slack.TeamId = Demo.DemoData.TeamId;
        await using var llm = await FakeOpenAI.StartAsync();
        var environment = DrillKit.Environment(database, slack, llm);
        await DrillKit.SeedDemoAsync(environment);

        // The model hangs: every worker is stuck in a call, the rest of the batch waits in memory, and nothing is answered yet.
        llm.Always(DrillKit.Echo(delay: TimeSpan.FromMinutes(5)));
        var (first, url) = await AppProcess.ServeAsync(environment);
        await using (first)
        {
            var requests = DrillKit.Requests(url);
            var acks = await Task.WhenAll(Enumerable.Range(0, Events).Select(i => requests.EventAsync(DrillKit.Dm(requests, "CRASH", i))));
            Assert.All(acks, ack => Assert.Equal(200, (int)ack.StatusCode));
            await FakeSlack.WaitUntilAsync(() => llm.Requests.Count >= Use60.Slack.SlackInboxWorker.Concurrency, "every worker to be in a model call", 30);

            await first.KillAsync();
        }
        Assert.Empty(DrillKit.Replies(slack));
        Assert.Equal(Events, await DrillKit.CountAsync(database.SuperuserConnectionString,
            "SELECT count(*) FROM slack_inbox WHERE processed_at IS NULL AND dedupe_key LIKE 'event:EvCRASH%'"));

        // Restarted, with the model answering again: the rows the dead process held are retaken when their lease lapses, the
        // others when their hand-over grace is over; no one waits for a schedule, only for the replies.
        llm.Reset();
        llm.Always(DrillKit.Echo());
        var (second, _) = await AppProcess.ServeAsync(environment);
        await using (second)
        {
            await FakeSlack.WaitUntilAsync(() => DrillKit.Replies(slack).Count == Events, "a reply to every acknowledged event", 90);
            await DrillKit.WaitForQuietAsync(database.SuperuserConnectionString, 30);
            var replies = DrillKit.Replies(slack);
            Assert.Equal(Enumerable.Range(0, Events).Select(DrillKit.Marker).Order(), replies.Keys.Order());
            Assert.All(replies, r => Assert.True(r.Value == 1, $"{r.Key} was answered {r.Value} times"));
            Assert.Equal(Events, await DrillKit.CountAsync(database.SuperuserConnectionString,
                "SELECT count(*) FROM slack_inbox WHERE outcome = 'handled' AND dedupe_key LIKE 'event:EvCRASH%'"));
        }
    }
}
