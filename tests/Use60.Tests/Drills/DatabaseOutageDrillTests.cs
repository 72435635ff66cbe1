using System.Collections.Concurrent;
using System.Diagnostics;
using Use60.Tests.Infrastructure;

namespace Use60.Tests.Drills;

/// <summary>
/// Drill: PostgreSQL is stopped (pg_ctl stop -m fast, on a cluster of the drill's own) for 10 s under a steady stream of
/// events. /readyz turns 503 and back; Slack's requests during the outage get a fast non-2xx (so Slack retries them) rather
/// than a hang; afterwards every acknowledged event has been answered once and the outbox has drained.
/// </summary>
[Collection(DrillCollection.Name)]
public sealed class DatabaseOutageDrillTests
{
    static readonly TimeSpan Outage = TimeSpan.FromSeconds(10);

    sealed record Attempt(int Event, int Status, TimeSpan Took);

    [Fact]
    public async Task A_stopped_database_gets_fast_retryable_answers_and_every_acknowledged_event_is_answered_once_after_it()
    {
        await using var postgres = await DrillPostgres.StartAsync();
        await using var slack = await FakeSlack.StartAsync();
        slack.TeamId = Demo.DemoData.TeamId;
        await using var llm = await FakeOpenAI.StartAsync();
        llm.Always(DrillKit.Echo());
        var environment = DrillKit.Environment(postgres.AppUrl, postgres.OwnerUrl, slack, llm);
        await DrillKit.SeedDemoAsync(environment);
        var (app, url) = await AppProcess.ServeAsync(environment);
        await using (app)
        {
            var requests = DrillKit.Requests(url);
            using var probe = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(30) };
            Assert.Equal(200, (await DrillKit.TimedAsync(() => probe.GetAsync("/readyz"))).Status);

            // Slack's side: one new event every 200 ms; each is sent again (as Slack retries) until it gets a 2xx.
            var attempts = new ConcurrentQueue<Attempt>();
            var acked = new ConcurrentBag<int>();
            using var streaming = new CancellationTokenSource();
            var senders = new List<Task>();
            var stream = Task.Run(async () =>
            {
                for (var i = 0; !streaming.IsCancellationRequested; i++)
                {
                    var n = i;
                    senders.Add(Task.Run(async () =>
                    {
                        for (var retry = 0; ; retry++)
                        {
                            var envelope = DrillKit.Dm(requests, "DBOUT", n);
                            var (status, took) = await DrillKit.TimedAsync(() => requests.EventAsync(envelope, retry == 0 ? null : retry, retry == 0 ? null : "http_error"));
                            attempts.Enqueue(new Attempt(n, status, took));
                            if (status is >= 200 and < 300)
                            {
                                acked.Add(n);
                                return;
                            }
                            await Task.Delay(500);
                        }
                    }));
                    await Task.Delay(200);
                }
            });
            var readiness = new ConcurrentQueue<(TimeSpan At, int Status)>();
            var clock = Stopwatch.StartNew();
            var probing = Task.Run(async () =>
            {
                while (!streaming.IsCancellationRequested)
                {
                    readiness.Enqueue((clock.Elapsed, (await DrillKit.TimedAsync(() => probe.GetAsync("/readyz"))).Status));
                    await Task.Delay(250);
                }
            });

            await FakeSlack.WaitUntilAsync(() => acked.Count >= 5, "the stream to flow", 30);
            await postgres.StopAsync();
            var stopped = clock.Elapsed;
            await FakeSlack.WaitUntilAsync(() => readiness.Any(r => r.At > stopped && r.Status == 503), "/readyz to turn 503", 10);
            await Task.Delay(Outage - (clock.Elapsed - stopped)); // the outage lasts its 10 s; nothing here waits on the app's schedule
            await postgres.StartAgainAsync();
            var restarted = clock.Elapsed;
            await FakeSlack.WaitUntilAsync(() => readiness.Any(r => r.At > restarted && r.Status == 200), "/readyz to turn 200 again", 30);
            var lastBefore = attempts.Max(a => a.Event);
            await FakeSlack.WaitUntilAsync(() => acked.Count(n => n > lastBefore) >= 5, "the stream to flow again", 30);

            await streaming.CancelAsync();
            await Task.WhenAll(stream, probing);
            await Task.WhenAll(senders).WaitAsync(TimeSpan.FromSeconds(60));

            // No hang: every answer came within Slack's 3 s, and a refusal far sooner; some requests did meet the outage.
            var all = attempts.ToList();
            Assert.DoesNotContain(all, a => a.Status == 0);
            var refused = all.Where(a => a.Status is < 200 or >= 300).ToList();
            Assert.NotEmpty(refused);
            Assert.All(refused, a => Assert.True(a.Status >= 500, $"event {a.Event} got {a.Status}: Slack retries only 5xx and timeouts"));
            Assert.All(refused, a => Assert.True(a.Took < TimeSpan.FromSeconds(2), $"a refusal took {a.Took.TotalMilliseconds:0} ms"));
            Assert.All(all, a => Assert.True(a.Took < TimeSpan.FromSeconds(3), $"an answer took {a.Took.TotalMilliseconds:0} ms"));

            // Afterwards: each acknowledged event answered exactly once, and nothing left in the inbox or the outbox.
            var events = acked.Distinct().Order().ToList();
            await FakeSlack.WaitUntilAsync(() => events.All(n => DrillKit.Replies(slack).ContainsKey(DrillKit.Marker(n))), "a reply to every acknowledged event", 90);
            await DrillKit.WaitForQuietAsync(postgres.SystemUrl, 60);
            var replies = DrillKit.Replies(slack);
            Assert.Equal(events.Select(DrillKit.Marker).Order(), replies.Keys.Order());
            Assert.All(replies, r => Assert.True(r.Value == 1, $"{r.Key} was answered {r.Value} times"));
            Assert.Equal(0, await DrillKit.CountAsync(postgres.SystemUrl, "SELECT count(*) FROM slack_outbox WHERE status <> 'sent'"));
        }
    }
}
