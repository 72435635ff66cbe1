using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Use60.Data;
using Use60.Orgs;
using Use60.Slack;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

public sealed class SlackOutboxTests(SlackAppFixture fixture) : IClassFixture<SlackAppFixture>
{
    FakeSlack Slack => fixture.Slack;
    AppUser Rep => fixture.Org[1];

    [Fact]
    public async Task A_429_with_retry_after_holds_the_message_back_that_long_then_posts_it_exactly_once_without_blocking_other_methods()
    {
        Slack.Script("chat.postMessage", new FakeSlack.Scripted(429, null, RetryAfter: "2"));
        var row = await SendAsync(OutboxDraft.Dm(Rep.OrgId, Rep.Id, new SlackMessage("rate limited hello"), "test"));
        await FakeSlack.WaitUntilAsync(() => Calls("rate limited hello").Count == 1, "the first, rate-limited attempt");

        // While chat.postMessage waits, a response_url post goes straight through.
        await SendAsync(OutboxDraft.Respond(Rep.OrgId, Rep.Id, Slack.ResponseUrl("during-hold"), DateTimeOffset.UtcNow.AddMinutes(30),
            new SlackMessage("not held back"), inChannel: false, "test"));
        await FakeSlack.WaitUntilAsync(() => Slack.ResponseUrlPosts.Any(p => p.Id == "during-hold"), "the response_url post during the hold");
        Assert.Single(Calls("rate limited hello"));

        await FakeSlack.WaitUntilAsync(() => Calls("rate limited hello").Count == 2, "the retry after Retry-After");
        await FakeSlack.WaitUntilAsync(() => RowAsync(row.Id).Result.Status == OutboxStatus.Sent, "the row to be recorded as sent");
        var (first, second) = (Calls("rate limited hello")[0], Calls("rate limited hello")[1]);
        Assert.True(second.At - first.At >= TimeSpan.FromSeconds(1.9), $"retried after {(second.At - first.At).TotalSeconds} s");
        var sent = await RowAsync(row.Id);
        Assert.Equal((OutboxStatus.Sent, "D" + Rep.SlackUserId), (sent.Status, sent.SlackChannel));
        Assert.NotNull(sent.SlackTs);
        await fixture.App.Service<OutboxDispatcher>().DispatchDueAsync(CancellationToken.None);
        Assert.Equal(2, Calls("rate limited hello").Count);
    }

    [Fact]
    public async Task Two_dispatchers_on_one_database_post_every_row_exactly_once()
    {
        var drafts = Enumerable.Range(1, 40).Select(i => OutboxDraft.Dm(Rep.OrgId, Rep.Id, new SlackMessage($"race row {i:00}"), "race")).ToList();
        await TestData.AsAsync(fixture.App.Services, Rep, async db =>
        {
            var outbox = fixture.App.Service<SlackOutbox>();
            foreach (var draft in drafts) outbox.Add(db, draft);
            await db.SaveChangesAsync();
        });
        // Two more dispatchers besides the app's own, all claiming from the same table at once.
        var dispatchers = Enumerable.Range(0, 2).Select(_ => ActivatorUtilities.CreateInstance<OutboxDispatcher>(fixture.App.Services)).ToList();
        await Task.WhenAll(dispatchers.Select(async d =>
        {
            while (await d.DispatchDueAsync(CancellationToken.None) > 0)
            {
            }
        }));
        await FakeSlack.WaitUntilAsync(() => Slack.CallsOf("chat.postMessage").Count(c => c.Args["text"].StartsWith("race row")) >= 40, "40 posts");
        await fixture.App.Service<OutboxDispatcher>().DispatchDueAsync(CancellationToken.None);

        var posted = Slack.CallsOf("chat.postMessage").Where(c => c.Args["text"].StartsWith("race row")).Select(c => c.Args["text"]).ToList();
        Assert.Equal(40, posted.Count);
        Assert.Equal(40, posted.Distinct().Count());
    }

    [Fact]
    public async Task A_permanent_error_is_recorded_with_its_reason_and_never_retried()
    {
        Slack.ScriptError("chat.postMessage", "invalid_auth");
        var row = await SendAsync(OutboxDraft.Dm(Rep.OrgId, Rep.Id, new SlackMessage("doomed message"), "test"));
        await FakeSlack.WaitUntilAsync(() => RowAsync(row.Id).Result.Status == OutboxStatus.Failed, "the row to fail");

        for (var i = 0; i < 3; i++) await fixture.App.Service<OutboxDispatcher>().DispatchDueAsync(CancellationToken.None);
        Assert.Single(Calls("doomed message"));
        Assert.Equal("invalid_auth", (await RowAsync(row.Id)).Error);
    }

    [Fact]
    public async Task A_transient_failure_is_retried_with_backoff_and_then_sent()
    {
        Slack.Script("chat.postMessage", new FakeSlack.Scripted(503, null));
        var row = await SendAsync(OutboxDraft.Dm(Rep.OrgId, Rep.Id, new SlackMessage("flaky network"), "test"));
        await FakeSlack.WaitUntilAsync(() => RowAsync(row.Id).Result.Status == OutboxStatus.Sent, "the retried row to be sent");
        var calls = Calls("flaky network");
        Assert.Equal(2, calls.Count);
        Assert.True(calls[1].At - calls[0].At >= TimeSpan.FromSeconds(1.9));
        Assert.Equal(2, (await RowAsync(row.Id)).Attempts);
    }

    [Fact]
    public async Task The_ts_of_a_sent_message_is_stored_so_a_later_row_edits_it()
    {
        var original = await SendAsync(OutboxDraft.Dm(Rep.OrgId, Rep.Id, new SlackMessage("version one"), "test"));
        await FakeSlack.WaitUntilAsync(() => RowAsync(original.Id).Result.SlackTs is not null, "the original to be sent");
        var sent = await RowAsync(original.Id);

        var edit = await SendAsync(OutboxDraft.Update(sent, new SlackMessage("version two"), "test"));
        await FakeSlack.WaitUntilAsync(() => RowAsync(edit.Id).Result.Status == OutboxStatus.Sent, "the edit");
        var update = Assert.Single(Slack.CallsOf("chat.update"), c => c.Args["text"] == "version two");
        Assert.Equal((sent.SlackChannel, sent.SlackTs), (update.Args["channel"], update.Args["ts"]));
    }

    [Fact]
    public async Task A_response_url_is_used_five_times_within_thirty_minutes_then_replies_go_by_dm()
    {
        var url = Slack.ResponseUrl("five-uses");
        for (var i = 1; i <= 6; i++)
        {
            var row = await SendAsync(OutboxDraft.Respond(Rep.OrgId, Rep.Id, url, DateTimeOffset.UtcNow.AddMinutes(30), new SlackMessage($"use {i}"), false, "test"));
            await FakeSlack.WaitUntilAsync(() => RowAsync(row.Id).Result.Status == OutboxStatus.Sent, $"reply {i}");
        }
        var expired = await SendAsync(OutboxDraft.Respond(Rep.OrgId, Rep.Id, Slack.ResponseUrl("expired"), DateTimeOffset.UtcNow.AddMinutes(-1),
            new SlackMessage("too late for the url"), false, "test"));
        await FakeSlack.WaitUntilAsync(() => RowAsync(expired.Id).Result.Status == OutboxStatus.Sent, "the expired reply");

        Assert.Equal(5, Slack.ResponseUrlPosts.Count(p => p.Id == "five-uses"));
        Assert.Single(Calls("use 6"));
        Assert.Single(Calls("too late for the url"));
        Assert.DoesNotContain(Slack.ResponseUrlPosts, p => p.Id == "expired");
    }

    [Fact]
    public async Task A_message_over_slacks_limits_is_split_into_valid_follow_ups_sent_in_order()
    {
        var sections = Enumerable.Range(1, 120).Select(i => (Block)new SectionBlock($"deal line {i:000}")).ToList();
        var first = await SendAsync(OutboxDraft.Dm(Rep.OrgId, Rep.Id, new SlackMessage("long digest", sections), "test"));
        await FakeSlack.WaitUntilAsync(() => Slack.CallsOf("chat.postMessage").Count(c => c.Args.GetValueOrDefault("blocks")?.Contains("deal line") == true) >= 3,
            "three messages");

        var posts = Slack.CallsOf("chat.postMessage").Where(c => c.Args.GetValueOrDefault("blocks")?.Contains("deal line") == true).ToList();
        var lines = posts.SelectMany(p => JsonNode.Parse(p.Args["blocks"])!.AsArray().Select(b => b!["text"]?["text"]?.GetValue<string>()))
            .Where(t => t?.StartsWith("deal line") == true).ToList();
        Assert.Equal(Enumerable.Range(1, 120).Select(i => $"deal line {i:000}"), lines);
        Assert.All(posts, p => Assert.True(JsonNode.Parse(p.Args["blocks"])!.AsArray().Count <= BlockKitLimits.MaxBlocksPerMessage));
        Assert.Equal("long digest", posts[0].Args["text"]);
        Assert.True((await RowAsync(first.Id)).Status == OutboxStatus.Sent);
    }

    [Fact]
    public async Task A_row_interrupted_mid_send_is_marked_failed_once_its_lease_expires_and_never_sent_again()
    {
        // A dispatcher that died between claiming and recording leaves 'sending' rows: Slack may or may not have the message,
        // so sending it again could post it twice. One lease has run out; the other's dispatcher may still be at work.
        var now = DateTimeOffset.UtcNow;
        var outbox = fixture.App.Service<SlackOutbox>();
        OutboxMessage dead, alive;
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
        {
            dead = outbox.Add(db, OutboxDraft.Dm(Rep.OrgId, Rep.Id, new SlackMessage("sent by a dispatcher that died"), "test"));
            alive = outbox.Add(db, OutboxDraft.Dm(Rep.OrgId, Rep.Id, new SlackMessage("being sent right now"), "test"));
            (dead.Status, dead.Attempts, dead.LockedUntil) = (OutboxStatus.Sending, 1, now.AddSeconds(-1));
            (alive.Status, alive.Attempts, alive.LockedUntil) = (OutboxStatus.Sending, 1, now.AddMinutes(2));
            await db.SaveChangesAsync();
        }

        await fixture.App.Service<OutboxDispatcher>().DispatchDueAsync(CancellationToken.None);
        await fixture.App.Service<OutboxDispatcher>().DispatchDueAsync(CancellationToken.None);

        var failed = await RowAsync(dead.Id);
        Assert.Equal((OutboxStatus.Failed, 1), (failed.Status, failed.Attempts));
        Assert.Contains("interrupted during delivery", failed.Error);
        var held = await RowAsync(alive.Id);
        Assert.Equal((OutboxStatus.Sending, 1, (string?)null), (held.Status, held.Attempts, held.Error));
        Assert.Empty(Calls("sent by a dispatcher that died"));
        Assert.Empty(Calls("being sent right now"));
    }

    List<FakeSlack.Call> Calls(string text) => [.. Slack.CallsOf("chat.postMessage").Where(c => c.Args["text"] == text)];

    Task<OutboxMessage> SendAsync(OutboxDraft draft) =>
        TestData.AsAsync(fixture.App.Services, Rep, db => fixture.App.Service<SlackOutbox>().SendAsync(db, draft, CancellationToken.None));

    async Task<OutboxMessage> RowAsync(long id)
    {
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        return await db.SlackOutbox.AsNoTracking().SingleAsync(m => m.Id == id);
    }
}
