using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Use60.Data;
using Use60.Orgs;
using Use60.Slack;
using Use60.Tests.Infrastructure;

namespace Use60.Tests.Drills;

/// <summary>
/// Drill: Slack answers 500 for a while, then 429 with Retry-After, then recovers. Every outbox row is delivered exactly once,
/// in order per channel, and the dispatcher's backoff shows in its log and in the use60.slack.outbox.* metrics.
/// </summary>
[Collection(DrillCollection.Name)]
public sealed partial class SlackOutageDrillTests
{
    static readonly string[] Channels = ["C0DRILLA", "C0DRILLB", "C0DRILLC"];
    const int PerChannel = 4;
    const int Failures = 4;
    const int FirstRowId = 970_000_001; // ids no other test's rows have, so this test's log lines are its own

    [Fact]
    public async Task Every_row_is_delivered_once_and_in_order_per_channel_through_500s_and_a_429_with_backoff_in_logs_and_metrics()
    {
        await using var slack = await FakeSlack.StartAsync();
        await using var database = await TestDatabase.CreateAsync();
        await TestDatabase.ExecuteAsync(database.OwnerConnectionString, $"ALTER SEQUENCE slack_outbox_id_seq RESTART WITH {FirstRowId}");

        var backoffs = new ConcurrentQueue<(string Method, string Error, double Seconds)>();
        var retries = new ConcurrentQueue<(string Method, string Error)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == SlackMetrics.MeterName) l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) => retries.Enqueue((Tag(tags, "method"), Tag(tags, "error"))));
        listener.SetMeasurementEventCallback<double>((_, value, tags, _) => backoffs.Enqueue((Tag(tags, "method"), Tag(tags, "error"), value)));
        listener.Start();
        using var log = ConsoleTap.Start();

        // Slack is down (500), then rate-limits (429, Retry-After 3), then answers again.
        for (var i = 0; i < Failures; i++) slack.Script("chat.postMessage", new FakeSlack.Scripted(500, null));
        slack.Script("chat.postMessage", new FakeSlack.Scripted(429, null, RetryAfter: "3"));
        await using var app = new Use60App(database, new Dictionary<string, string?>
        {
            ["Slack:SigningSecret"] = SlackRequests.Secret, ["Slack:BotToken"] = slack.BotToken, ["Slack:ApiUrl"] = slack.ApiUrl,
            ["Log:Level"] = "Information",
        });
        var org = await TestData.CreateOrgAsync(app.Services, "Outage Drill", UserRole.Owner);
        await using (var db = app.Service<SystemDb>().Open("test"))
        {
            var outbox = app.Service<SlackOutbox>();
            for (var n = 0; n < PerChannel; n++)
                foreach (var channel in Channels)
                    outbox.Add(db, OutboxDraft.Post(org.Id, null, channel, null, new SlackMessage($"{channel} message {n}"), "drill"));
            await db.SaveChangesAsync();
            app.Service<SlackOutbox>().Notify();
        }

        var rows = Channels.Length * PerChannel;
        await FakeSlack.WaitUntilAsync(() => SentAsync(app).Result == rows, "every row to be sent", 60);

        // The first calls got the scripted failures; every call after them was a delivery.
        var delivered = slack.CallsOf("chat.postMessage").Skip(Failures + 1).ToList();
        Assert.Equal(rows, delivered.Count);
        foreach (var channel in Channels)
            Assert.Equal(Enumerable.Range(0, PerChannel).Select(n => $"{channel} message {n}"),
                delivered.Where(c => c.Args["channel"] == channel).Select(c => c.Args["text"]));

        // At least: other tests in this process may meet failures too, and the meter is one for the process.
        Assert.True(retries.Count(r => r is ("chat.postMessage", "http_500")) >= Failures);
        Assert.Contains(retries, r => r is ("chat.postMessage", "ratelimited"));
        Assert.Contains(backoffs, b => b is ("chat.postMessage", "http_500", 2));
        Assert.Contains(backoffs, b => b is ("chat.postMessage", "http_500", 4));
        Assert.Contains(backoffs, b => b is ("chat.postMessage", "ratelimited", 3));

        var lines = log.Lines;
        Assert.Equal(Failures, lines.Count(l => Backoff().IsMatch(l)));
        Assert.Contains(lines, l => l.Contains("Slack rate-limited chat.postMessage; holding it back for 3 s"));
    }

    static string Tag(ReadOnlySpan<KeyValuePair<string, object?>> tags, string name)
    {
        foreach (var tag in tags)
            if (tag.Key == name) return tag.Value?.ToString() ?? "";
        return "";
    }

    static async Task<int> SentAsync(Use60App app)
    {
        await using var db = app.Service<SystemDb>().Open("test");
        return await db.SlackOutbox.CountAsync(m => m.Id >= FirstRowId && m.Status == OutboxStatus.Sent);
    }

    [GeneratedRegex(@"Slack chat\.postMessage failed for outbox row 9700000\d\d \(http_500\); retry \d in \d+ s")]
    private static partial Regex Backoff();
}
