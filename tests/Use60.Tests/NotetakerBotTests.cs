using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Use60.Calendar;
using Use60.Copilot;
using Use60.Data;
using Use60.Orgs;
using Use60.Proactive;
using Use60.Recordings;
using Use60.Security;
using Use60.Slack;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>One database, a fake MeetingBaaS on 127.0.0.1, and the app on a controllable clock (a second app on the same database is a second replica).</summary>
public sealed class NotetakerFixture : IAsyncLifetime
{
    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 12, 1, 9, 0, 0, TimeSpan.Zero));
    public TestDatabase Database { get; private set; } = null!;
    public FakeMeetingBaas MeetingBaas { get; private set; } = null!;
    public Use60App App { get; private set; } = null!;
    Use60App? replica;

    public Use60App Replica => replica ??= new Use60App(Database, MeetingBaas.Settings, Clock);

    public async Task InitializeAsync()
    {
        Database = await TestDatabase.CreateAsync();
        MeetingBaas = await FakeMeetingBaas.StartAsync();
        App = new Use60App(Database, MeetingBaas.Settings, Clock);
        _ = App.BaseAddress;
    }

    /// <summary>Each test starts on a day of its own, so the meetings of one are never in the auto-join window of another.</summary>
    public DateTimeOffset NextDay()
    {
        Clock.Advance(TimeSpan.FromDays(1));
        return Clock.GetUtcNow();
    }

    public async Task DisposeAsync()
    {
        if (replica is not null) await replica.DisposeAsync();
        await App.DisposeAsync();
        await MeetingBaas.DisposeAsync();
        await Database.DisposeAsync();
    }
}

public sealed class NotetakerBotTests(NotetakerFixture fixture) : IClassFixture<NotetakerFixture>
{
    const string Guest = "buyer@prospect.example";
    FakeMeetingBaas MeetingBaas => fixture.MeetingBaas;

    [Theory]
    [InlineData("https://meet.google.com/abc-defg-hij", MeetingPlatform.Meet)]
    [InlineData("https://meet.google.com/abc-defg-hij?authuser=1", MeetingPlatform.Meet)]
    [InlineData("https://us02web.zoom.us/j/81234567890?pwd=abc123", MeetingPlatform.Zoom)]
    [InlineData("https://acme.zoom.us/my/alex.morgan", MeetingPlatform.Zoom)]
    [InlineData("https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjM5%40thread.v2/0?context=%7b%22Tid%22%3a%22x%22%7d", MeetingPlatform.Teams)]
    [InlineData("https://teams.live.com/meet/9876543210123", MeetingPlatform.Teams)]
    public void A_meeting_link_is_recognised_with_its_platform(string url, MeetingPlatform platform)
    {
        var link = MeetingLinks.Parse(url);
        Assert.NotNull(link);
        Assert.Equal(platform, link.Platform);
        Assert.Equal(url, link.Url);
    }

    [Theory]
    [InlineData("https://meet.google.com/")]
    [InlineData("https://meet.google.com/landing")]
    [InlineData("https://zoom.us/")]
    [InlineData("https://zoom.us/pricing")]
    [InlineData("https://teams.microsoft.com/")]
    [InlineData("https://example.com/j/81234567890")]
    [InlineData("https://zoom.us.evil.example/j/81234567890")]
    [InlineData("ftp://zoom.us/j/81234567890")]
    [InlineData("tomorrow at 10")]
    [InlineData("")]
    public void Anything_else_is_not_a_meeting_link(string text) => Assert.Null(MeetingLinks.Parse(text));

    [Fact]
    public void An_events_link_comes_from_its_conference_data_then_its_location_then_its_description_html_included()
    {
        var zoomInHtml = "<p>Join Zoom Meeting<br><a href=\"https://us06web.zoom.us/j/85512345678?pwd=Zm9v&amp;from=addon\">us06web.zoom.us/j/85512345678</a></p>";
        var found = MeetingLinks.Find(null, "Room 4", zoomInHtml);
        Assert.Equal(("https://us06web.zoom.us/j/85512345678?pwd=Zm9v&from=addon", MeetingPlatform.Zoom), (found!.Url, found.Platform));
        Assert.Equal("us06web.zoom.us/j/85512345678", found.Key);

        var teams = MeetingLinks.Find(null, "Teams: https://teams.microsoft.com/l/meetup-join/19%3ameeting_abc%40thread.v2/0.", zoomInHtml);
        Assert.Equal(MeetingPlatform.Teams, teams!.Platform);
        Assert.EndsWith("/0", teams.Url);

        var conference = MeetingLinks.Find("https://meet.google.com/abc-defg-hij", null, zoomInHtml);
        Assert.Equal(MeetingPlatform.Meet, conference!.Platform);
        Assert.Null(MeetingLinks.Find(null, "Acme office", "See you at https://acme.example/agenda and https://zoom.us/pricing"));
    }

    [Fact]
    public async Task Auto_join_sends_exactly_one_bot_per_meeting_across_runs_and_two_replicas_and_audits_its_consent()
    {
        var (now, org, rep) = await NewDayAsync();
        var link = NewMeetLink();
        var meeting = await EventAsync(rep, "Pilot kickoff", now.AddMinutes(8), link, Guest);

        // Two replicas, each running the job twice, all at the same moment.
        await Task.WhenAll(RunAsync(fixture.App), RunAsync(fixture.Replica), RunAsync(fixture.App), RunAsync(fixture.Replica));
        fixture.Clock.Advance(TimeSpan.FromMinutes(2));
        await RunAsync(fixture.Replica);

        var bot = Assert.Single(MeetingBaas.BotsAt(link));
        Assert.True(bot.Scheduled);
        Assert.Equal(now.AddMinutes(7), bot.JoinAt);
        Assert.Equal(OrgSettings.DefaultNotetakerBotName, bot.BotName);
        Assert.Equal(OrgSettings.DefaultNotetakerChatNotice, bot.EntryMessage);
        // Without Gladia set up, MeetingBaaS transcribes the meeting in the bot.
        Assert.True(bot.Request["transcription_enabled"]!.GetValue<bool>());
        var recording = Assert.Single(await RecordingsAsync(r => r.CalendarEventId == meeting.Id));
        Assert.Equal((bot.Id, RecordingStatus.Scheduled, ConsentBasis.OrgPolicy, bot.RecordingId), (recording.BotId, recording.Status, recording.ConsentBasis, recording.Id));
        Assert.Equal((MeetingPlatform.Meet, link, now), (recording.Platform, recording.MeetingUrl, recording.ConsentRecordedAt));

        var consent = Assert.Single(await AuditAsync(AuditEvents.RecordingConsent, org.Id));
        Assert.Equal(rep.Id, consent.UserId);
        var details = JsonNode.Parse(consent.Details)!;
        Assert.Equal((recording.Id.ToString(), "org_policy", "calendar"), ((string)details["recording_id"]!, (string)details["consent_basis"]!, (string)details["source"]!));
    }

    [Fact]
    public async Task Solo_events_no_link_auto_join_off_dont_record_and_do_not_record_domains_get_no_bot_and_a_reps_own_choice_wins()
    {
        var now = fixture.NextDay();
        var start = now.AddMinutes(6);
        var org = await OrgAsync(autoJoin: true, UserRole.Owner, UserRole.Member, UserRole.Member);
        await SystemAsync(db => db.OrgSettings.Where(s => s.OrgId == org.Id).ExecuteUpdateAsync(s => s.SetProperty(x => x.NotetakerBlockedDomains, new List<string> { "competitor.example" })));
        var (rep, optedOut) = (org[1], org[2]);
        await PreferAsync(optedOut, false);
        var solo = await EventAsync(rep, "Focus time", start, NewMeetLink());
        var noLink = await EventAsync(rep, "Lunch with the buyer", start, null, Guest);
        var dontRecord = await EventAsync(rep, "Off the record", start, NewMeetLink(), Guest);
        await SystemAsync(db => db.CalendarEvents.Where(e => e.Id == dontRecord.Id).ExecuteUpdateAsync(s => s.SetProperty(e => e.DoNotRecord, true)));
        var blocked = await EventAsync(rep, "Partner sync", start, NewMeetLink(), Guest, "cto@eu.competitor.example");
        var repSaidNo = await EventAsync(optedOut, "Demo", start, NewMeetLink(), Guest);
        var zoomInDescription = await EventAsync(rep, "Zoom call", start, null, Guest);
        await SystemAsync(db => db.CalendarEvents.Where(e => e.Id == zoomInDescription.Id).ExecuteUpdateAsync(s => s
            .SetProperty(e => e.Description, "<a href=\"https://acme.zoom.us/j/81234567890?pwd=x\">Join Zoom Meeting</a>")));

        var offOrg = await OrgAsync(autoJoin: false, UserRole.Owner, UserRole.Member);
        var orgSaidNo = await EventAsync(offOrg[1], "Discovery", start, NewMeetLink(), Guest);
        await PreferAsync(offOrg[0], true);
        var repSaidYes = await EventAsync(offOrg[0], "Negotiation", start, NewMeetLink(), Guest);

        await RunAsync(fixture.App);

        foreach (var none in new[] { solo, noLink, dontRecord, blocked, repSaidNo, orgSaidNo })
            Assert.Empty(await RecordingsAsync(r => r.CalendarEventId == none.Id));
        var chosen = Assert.Single(await RecordingsAsync(r => r.CalendarEventId == repSaidYes.Id));
        Assert.Equal(ConsentBasis.RepChoice, chosen.ConsentBasis);
        Assert.Single(MeetingBaas.BotsFor(chosen.Id));
        var zoom = Assert.Single(await RecordingsAsync(r => r.CalendarEventId == zoomInDescription.Id));
        Assert.Equal((MeetingPlatform.Zoom, "https://acme.zoom.us/j/81234567890?pwd=x"), (zoom.Platform, zoom.MeetingUrl));
    }

    [Fact]
    public async Task A_cancelled_meeting_loses_its_bot_and_a_moved_one_has_its_join_time_moved_or_its_bot_sent_again()
    {
        var (now, org, rep) = await NewDayAsync();
        var (cancelledLink, movedLink, closeLink, guestLink) = (NewMeetLink(), NewMeetLink(), NewMeetLink(), NewMeetLink());
        var cancelled = await EventAsync(rep, "Cancelled call", now.AddMinutes(8), cancelledLink, Guest);
        var moved = await EventAsync(rep, "Moved demo", now.AddMinutes(9), movedLink, Guest);
        var close = await EventAsync(rep, "Brought forward", now.AddMinutes(9), closeLink, Guest);
        var lawyered = await EventAsync(rep, "Terms", now.AddMinutes(9), guestLink, Guest);
        await RunAsync(fixture.App);
        Assert.All(new[] { cancelledLink, movedLink, closeLink, guestLink }, link => Assert.True(Assert.Single(MeetingBaas.BotsAt(link)).Scheduled));

        // The calendar sync removes a cancelled meeting, and keeps a moved one's row with its new time.
        await TestData.AsAsync(fixture.App.Services, rep, db => db.CalendarEvents.Where(e => e.Id == cancelled.Id).ExecuteDeleteAsync());
        await MoveAsync(moved, now.AddMinutes(40));
        await MoveAsync(close, now.AddMinutes(2));
        // Someone from a do-not-record domain is invited after the bot was scheduled.
        await SystemAsync(db => db.OrgSettings.Where(s => s.OrgId == org.Id)
            .ExecuteUpdateAsync(s => s.SetProperty(x => x.NotetakerBlockedDomains, new List<string> { "lawfirm.example" })));
        await TestData.AsAsync(fixture.App.Services, rep, async db =>
        {
            var terms = await db.CalendarEvents.SingleAsync(e => e.Id == lawyered.Id);
            terms.Attendees = [.. terms.Attendees, new Attendee { Email = "counsel@lawfirm.example" }];
            await db.SaveChangesAsync();
        });
        await RunAsync(fixture.App);

        Assert.True(Assert.Single(MeetingBaas.BotsAt(guestLink)).Cancelled);
        Assert.Contains("lawfirm.example, a do-not-record domain", Assert.Single(await RecordingsAsync(r => r.CalendarEventId == lawyered.Id)).CancelledReason);

        Assert.True(Assert.Single(MeetingBaas.BotsAt(cancelledLink)).Cancelled);
        var gone = Assert.Single(await RecordingsAsync(r => r.MeetingUrl == cancelledLink));
        Assert.Equal(RecordingStatus.Cancelled, gone.Status);
        Assert.Contains("no longer in the calendar", gone.CancelledReason);
        Assert.Contains(await AuditAsync(AuditEvents.RecordingCancelled, org.Id), a => a.Details.Contains(gone.Id.ToString()));

        var movedBot = Assert.Single(MeetingBaas.BotsAt(movedLink));
        Assert.False(movedBot.Cancelled);
        Assert.Equal(now.AddMinutes(39), movedBot.JoinAt);
        Assert.Equal(now.AddMinutes(39), Assert.Single(await RecordingsAsync(r => r.CalendarEventId == moved.Id)).JoinAt);
        Assert.Contains(MeetingBaas.Calls, c => c.Method == "PATCH" && c.Path.EndsWith(movedBot.Id));

        // Too close to its start for MeetingBaaS to move the bot: the bot is called back and a new one joins now.
        var closeBots = MeetingBaas.BotsAt(closeLink);
        Assert.Equal(2, closeBots.Count);
        Assert.Single(closeBots, b => b.Scheduled && b.Cancelled);
        Assert.Single(closeBots, b => !b.Scheduled && !b.Cancelled);
        var closeRecordings = await RecordingsAsync(r => r.MeetingUrl == closeLink);
        Assert.Equal([RecordingStatus.Joining, RecordingStatus.Cancelled], closeRecordings.Select(r => r.Status).Order());

        await RunAsync(fixture.App);
        Assert.Equal(2, MeetingBaas.BotsAt(closeLink).Count);
        Assert.Single(MeetingBaas.BotsAt(movedLink));
    }

    [Fact]
    public async Task Sixty_record_previews_then_confirm_sends_one_bot_cancel_sends_none_and_a_bad_link_is_explained()
    {
        var now = fixture.NextDay();
        var org = await OrgAsync(autoJoin: false, UserRole.Owner, UserRole.Member);
        var rep = org[1];
        var dm = await SandboxDm.OfAsync(fixture.App, rep);
        var zoom = $"https://acme.zoom.us/j/{Random.Shared.NextInt64(10_000_000_000, 99_999_999_999)}?pwd=secret";

        await dm.Sandbox.SendAsync(dm.Org, rep, "/sixty record " + zoom, default);
        var preview = await dm.MessageAsync("Send the notetaker to this Zoom meeting now", "the preview");
        Assert.Empty(MeetingBaas.BotsAt(zoom));
        var pending = PendingIdIn(preview);
        Assert.True(await dm.ClickAsync(preview, CopilotBlocks.PreviewBlockId(pending), CopilotSlack.ConfirmAction, pending.ToString()));
        await FakeSlack.WaitUntilAsync(() => MeetingBaas.BotsAt(zoom).Count > 0, "the bot sent on Confirm");
        await dm.MessageAsync("The notetaker is joining your Zoom meeting now", "the confirmed preview");
        // A second Confirm (a double click, a retry, another replica) does nothing.
        await using (var scope = fixture.App.Services.CreateAsyncScope())
        {
            scope.ServiceProvider.GetRequiredService<TenantContext>().Enter(rep.OrgId, rep.Id);
            var again = await scope.ServiceProvider.GetRequiredService<CopilotChat>().DecideAsync(rep, pending, true, default);
            Assert.False(again.Done);
            Assert.Contains("already done", again.Text);
        }

        var bot = Assert.Single(MeetingBaas.BotsAt(zoom));
        Assert.False(bot.Scheduled);
        var recording = Assert.Single(await RecordingsAsync(r => r.MeetingUrl == zoom));
        Assert.Equal((RecordingSource.Command, ConsentBasis.RepChoice, RecordingStatus.Joining, bot.Id, now),
            (recording.Source, recording.ConsentBasis, recording.Status, recording.BotId, recording.ConsentRecordedAt));
        Assert.Contains(await AuditAsync(AuditEvents.RecordingConsent, org.Id), a => a.Details.Contains("rep_choice") && a.Details.Contains(recording.Id.ToString()));

        // Cancel: nothing is sent.
        var teams = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_" + Guid.NewGuid().ToString("N") + "%40thread.v2/0";
        await dm.Sandbox.SendAsync(dm.Org, rep, "/sixty record " + teams, default);
        var second = await dm.MessageAsync("Send the notetaker to this Microsoft Teams meeting now", "the second preview");
        var secondId = PendingIdIn(second);
        Assert.True(await dm.ClickAsync(second, CopilotBlocks.PreviewBlockId(secondId), CopilotSlack.CancelAction, secondId.ToString()));
        await dm.MessageAsync("Cancelled", "the cancelled preview");
        Assert.Empty(MeetingBaas.BotsAt(teams));
        Assert.Empty(await RecordingsAsync(r => r.MeetingUrl == teams));

        // Links that are not meetings, and no link at all.
        await dm.Sandbox.SendAsync(dm.Org, rep, "/sixty record https://example.com/standup", default);
        await dm.MessageAsync("Google Meet or Microsoft Teams meeting link, so there", "the refusal of a web page");
        await dm.Sandbox.SendAsync(dm.Org, rep, "/sixty record tomorrow at ten", default);
        await dm.MessageAsync("a link. Paste the meeting", "the refusal of words");
        await dm.Sandbox.SendAsync(dm.Org, rep, "/sixty record", default);
        await dm.MessageAsync("Give me the meeting", "the usage");
    }

    [Fact]
    public async Task Webhooks_need_a_valid_signature_are_processed_once_and_move_the_recording_on_and_a_failure_is_told_once()
    {
        var (now, org, rep) = await NewDayAsync();
        var (joinedLink, failedLink) = (NewMeetLink(), NewMeetLink());
        var joinedEvent = await EventAsync(rep, "Recorded call", now.AddMinutes(5), joinedLink, Guest);
        var failedEvent = await EventAsync(rep, "Locked room", now.AddMinutes(5), failedLink, Guest);
        await RunAsync(fixture.App);
        var (recorded, failing) = (BotAt(joinedLink), BotAt(failedLink));
        using var client = fixture.App.Client();

        // Forged, unsigned and replayed requests: 401, and each in the audit log.
        var forged = FakeMeetingBaas.Webhook(FakeMeetingBaas.Event("bot.completed", recorded.Id), at: now,
            secret: "whsec_" + Convert.ToBase64String(Encoding.UTF8.GetBytes("someone else's key")));
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.SendAsync(forged)).StatusCode);
        var unsigned = new HttpRequestMessage(HttpMethod.Post, MeetingBaasWebhook.Path)
            { Content = new StringContent(FakeMeetingBaas.Event("bot.completed", recorded.Id).ToJsonString(), Encoding.UTF8, "application/json") };
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.SendAsync(unsigned)).StatusCode);
        var replayed = FakeMeetingBaas.Webhook(FakeMeetingBaas.Event("bot.completed", recorded.Id), at: now.AddMinutes(-10));
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.SendAsync(replayed)).StatusCode);
        var refusals = await AuditAsync(AuditEvents.NotetakerWebhookRejected, null);
        foreach (var reason in new[] { "bad_signature", "missing_headers", "stale_timestamp" })
            Assert.Contains(refusals, a => a.Details.Contains(reason) && a.OccurredAt == now);
        Assert.Equal(RecordingStatus.Scheduled, (await RecordingAsync(recorded.RecordingId)).Status);

        // In the call; a late "joining" does not take it back.
        await SendAsync(client, FakeMeetingBaas.Event("bot.status_change", recorded.Id, new JsonObject { ["status"] = new JsonObject { ["code"] = "in_call_recording" } }), now);
        await SendAsync(client, FakeMeetingBaas.Event("bot.status_change", recorded.Id, new JsonObject { ["status"] = new JsonObject { ["code"] = "joining_call" } }), now);
        var joined = await RecordingAsync(recorded.RecordingId);
        Assert.Equal((RecordingStatus.Joined, now), (joined.Status, joined.JoinedAt));

        // Completed, delivered twice: processed once.
        var completed = FakeMeetingBaas.Event("bot.completed", recorded.Id, new JsonObject
        {
            ["mp4"] = "https://media.meetingbaas.example/video.mp4?X-Amz-Signature=abc", ["audio"] = "https://media.meetingbaas.example/audio.flac?X-Amz-Signature=def",
            ["extra"] = new JsonObject { ["recording_id"] = recorded.RecordingId.ToString() },
        });
        var deliveryId = "msg_" + Guid.NewGuid().ToString("N");
        Assert.Equal("handled", await SendAsync(client, completed, now, deliveryId));
        fixture.Clock.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal("duplicate", await SendAsync(client, completed, fixture.Clock.GetUtcNow(), deliveryId));
        var done = await RecordingAsync(recorded.RecordingId);
        Assert.Equal((RecordingStatus.Completed, S3UploadStatus.Pending, now, now), (done.Status, done.S3UploadStatus, done.SourceUrlsReceivedAt, done.NextUploadAt));
        Assert.Equal(("https://media.meetingbaas.example/video.mp4?X-Amz-Signature=abc", "https://media.meetingbaas.example/audio.flac?X-Amz-Signature=def"),
            (done.VideoSourceUrl, done.AudioSourceUrl));
        var inbox = await SystemAsync(db => db.Database.SqlQuery<InboxRow>($"""
            SELECT deliveries AS "Deliveries", attempts AS "Attempts", outcome AS "Outcome" FROM webhook_inbox WHERE delivery_id = {deliveryId}
            """).SingleAsync());
        Assert.Equal(new InboxRow(2, 1, "handled"), inbox);

        // Failed, reported twice (two messages): failed with the reason, and the rep is told once.
        var failed = FakeMeetingBaas.Event("bot.failed", failing.Id, new JsonObject
            { ["error_code"] = "BOT_NOT_ACCEPTED", ["error_message"] = "Bot was not accepted into the meeting" });
        await SendAsync(client, failed, fixture.Clock.GetUtcNow());
        await SendAsync(client, failed.DeepClone().AsObject(), fixture.Clock.GetUtcNow());
        var lost = await RecordingAsync(failing.RecordingId);
        Assert.Equal(RecordingStatus.Failed, lost.Status);
        Assert.Equal("Bot was not accepted into the meeting (BOT_NOT_ACCEPTED)", lost.FailureReason);
        Assert.NotNull(lost.FailureNotifiedAt);
        var told = await SystemAsync(db => db.SlackOutbox.AsNoTracking().Where(m => m.UserId == rep.Id && m.Source == "notetaker failed " + lost.Id).ToListAsync());
        Assert.Contains("Locked room", Assert.Single(told).Message);
        Assert.Contains("not accepted", told[0].Message);

        // A bot that is not ours is acknowledged and ignored.
        Assert.Equal("ignored", await SendAsync(client, FakeMeetingBaas.Event("bot.completed", Guid.NewGuid().ToString()), fixture.Clock.GetUtcNow()));
        Assert.Equal(RecordingStatus.Completed, (await RecordingAsync(recorded.RecordingId)).Status);
        _ = (joinedEvent, failedEvent);
    }

    [Fact]
    public async Task A_meeting_service_that_is_down_is_asked_again_and_one_that_refuses_fails_the_recording_and_the_rep_is_told_once()
    {
        var (now, org, rep) = await NewDayAsync();
        var (flaky, refused) = (NewMeetLink(), NewMeetLink());
        var flakyEvent = await EventAsync(rep, "Flaky", now.AddMinutes(9), flaky, Guest);
        MeetingBaas.Fail(new FakeMeetingBaas.Failure(503, "FST_ERR_UNAVAILABLE", "Service Unavailable"));
        await RunAsync(fixture.App);
        var waiting = Assert.Single(await RecordingsAsync(r => r.CalendarEventId == flakyEvent.Id));
        Assert.Equal((RecordingStatus.Scheduled, (string?)null, 1), (waiting.Status, waiting.BotId, waiting.DeployAttempts));
        Assert.Contains("MeetingBaaS failed to send the notetaker (503: FST_ERR_UNAVAILABLE, Service Unavailable)", waiting.FailureReason);
        Assert.DoesNotContain(FakeMeetingBaas.ApiKey, waiting.FailureReason);

        fixture.Clock.Advance(TimeSpan.FromMinutes(2));
        await RunAsync(fixture.App);
        Assert.Single(MeetingBaas.BotsAt(flaky));
        Assert.Equal(RecordingStatus.Scheduled, (await RecordingAsync(waiting.Id)).Status);

        var refusedEvent = await EventAsync(rep, "No tokens", fixture.Clock.GetUtcNow().AddMinutes(9), refused, Guest);
        MeetingBaas.Fail(new FakeMeetingBaas.Failure(402, "FST_ERR_INSUFFICIENT_TOKENS", "Not enough tokens"));
        await RunAsync(fixture.App);
        fixture.Clock.Advance(TimeSpan.FromMinutes(2));
        await RunAsync(fixture.App);
        var failed = Assert.Single(await RecordingsAsync(r => r.CalendarEventId == refusedEvent.Id));
        Assert.Equal(RecordingStatus.Failed, failed.Status);
        Assert.Contains("no tokens left", failed.FailureReason);
        Assert.Empty(MeetingBaas.BotsAt(refused));
        Assert.Single(await SystemAsync(db => db.SlackOutbox.AsNoTracking().Where(m => m.Source == "notetaker failed " + failed.Id).ToListAsync()));
    }

    [Fact]
    public async Task Dont_record_on_the_brief_marks_the_meeting_calls_its_bot_back_is_audited_and_updates_the_message()
    {
        var (now, org, rep) = await NewDayAsync();
        var link = NewMeetLink();
        var meeting = await EventAsync(rep, "Contract review", now.AddMinutes(8), link, Guest);
        await RunAsync(fixture.App);
        var bot = Assert.Single(MeetingBaas.BotsAt(link));

        var briefs = ActivatorUtilities.CreateInstance<MeetingBriefs>(fixture.App.Services);
        Assert.True(await briefs.SendAsync((await briefs.DueAsync(default)).Single(d => d.EventId == meeting.Id), default));
        var dm = await SandboxDm.OfAsync(fixture.App, rep);
        var brief = await dm.MessageAsync("brief:" + meeting.Id, "the brief");
        Assert.Contains(NotetakerSlack.DontRecordAction, brief.Message);
        Assert.True(await dm.ClickAsync(brief, "brief:" + meeting.Id, NotetakerSlack.DontRecordAction, meeting.Id.ToString()));
        await FakeSlack.WaitUntilAsync(() => dm.Sandbox.ConversationAsync(rep, default).Result.Messages.Any(m => m.Id == brief.Id && m.Message.Contains("Not recorded")),
            "the brief to show it will not be recorded");

        var updated = (await dm.Sandbox.ConversationAsync(rep, default)).Messages.Single(m => m.Id == brief.Id).Message;
        Assert.DoesNotContain(NotetakerSlack.DontRecordAction, updated);
        Assert.Contains(MeetingBriefs.ViewAction, updated);
        Assert.Contains("called back the notetaker", updated);
        Assert.True(MeetingBaas[bot.Id].Cancelled);
        var recording = Assert.Single(await RecordingsAsync(r => r.CalendarEventId == meeting.Id));
        Assert.Equal(RecordingStatus.Cancelled, recording.Status);
        Assert.True((await SystemAsync(db => db.CalendarEvents.AsNoTracking().SingleAsync(e => e.Id == meeting.Id))).DoNotRecord);
        Assert.Contains(await AuditAsync(AuditEvents.DoNotRecord, org.Id), a => a.UserId == rep.Id && a.Details.Contains(meeting.Id.ToString()));

        await RunAsync(fixture.App);
        Assert.Single(MeetingBaas.BotsAt(link));
    }

    [Fact]
    public async Task A_rep_chooses_for_themselves_in_sixty_settings()
    {
        fixture.NextDay();
        var org = await OrgAsync(autoJoin: true, UserRole.Owner, UserRole.Member);
        var rep = org[1];
        var dm = await SandboxDm.OfAsync(fixture.App, rep);
        await dm.Sandbox.SendAsync(dm.Org, rep, "/sixty settings", default);
        await FakeSlack.WaitUntilAsync(() => dm.Sandbox.ConversationAsync(rep, default).Result.OpenView?.View.Contains("notetaker_auto_join") == true, "the settings modal");
        var view = (await dm.Sandbox.ConversationAsync(rep, default)).OpenView!;
        Assert.Contains("default (record)", view.View);
        await dm.Sandbox.SubmitViewAsync(dm.Org, rep, view.ViewId, new Dictionary<string, (string, string, string?)>
        {
            ["tz"] = ("time_zone", "external_select", "Europe/London"), ["notetaker"] = ("notetaker_auto_join", "static_select", "off"),
        }, default);
        await FakeSlack.WaitUntilAsync(() => PreferenceOf(rep) == false, "the rep's choice saved");
    }

    [Fact]
    public async Task Recordings_are_seen_by_their_rep_and_the_orgs_admins_only()
    {
        fixture.NextDay();
        var org = await OrgAsync(autoJoin: true, UserRole.Owner, UserRole.Member, UserRole.Member);
        var other = await OrgAsync(autoJoin: true, UserRole.Owner);
        var (owner, member, colleague) = (org[0], org[1], org[2]);
        // Each rep records a meeting of their own, as that rep.
        Task<int> RecordAs(AppUser writer, AppUser owner) => TestData.AsAsync(fixture.App.Services, writer, db =>
        {
            var link = MeetingLinks.Parse(NewMeetLink())!;
            db.Recordings.Add(new Recording
            {
                OrgId = owner.OrgId, UserId = owner.Id, Source = RecordingSource.Command, MeetingUrl = link.Url, MeetingKey = link.Key, Platform = link.Platform,
                BotName = OrgSettings.DefaultNotetakerBotName, ChatNotice = "Recorded.", ConsentBasis = ConsentBasis.RepChoice, ConsentRecordedAt = DateTimeOffset.UtcNow,
            });
            return db.SaveChangesAsync();
        });
        foreach (var rep in new[] { member, colleague, other[0] }) await RecordAs(rep, rep);

        Task<List<Guid>> SeenBy(AppUser user) => TestData.AsAsync(fixture.App.Services, user, db => db.Recordings.Select(r => r.UserId).ToListAsync());
        Assert.Equal([member.Id], await SeenBy(member));
        Assert.Equal([colleague.Id], await SeenBy(colleague));
        Assert.Equal(new[] { member.Id, colleague.Id }.Order(), (await SeenBy(owner)).Order());
        Assert.Equal([other[0].Id], await SeenBy(other[0]));
        // A rep cannot claim a bot in a colleague's name.
        await Assert.ThrowsAnyAsync<DbUpdateException>(() => RecordAs(member, colleague));
    }

    sealed record InboxRow(int Deliveries, int Attempts, string? Outcome);

    sealed record SentBot(string Id, Guid RecordingId);

    SentBot BotAt(string link)
    {
        var bot = Assert.Single(MeetingBaas.BotsAt(link));
        return new SentBot(bot.Id, bot.RecordingId);
    }

    async Task<string> SendAsync(HttpClient client, JsonObject payload, DateTimeOffset at, string? deliveryId = null)
    {
        var response = await client.SendAsync(FakeMeetingBaas.Webhook(payload, deliveryId, at));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (string)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["outcome"]!;
    }

    static Guid PendingIdIn(SandboxMessage message)
    {
        var text = message.Message;
        var at = text.IndexOf("pending:", StringComparison.Ordinal) + "pending:".Length;
        return Guid.Parse(text.AsSpan(at, 36));
    }

    static string NewMeetLink()
    {
        string Letters(int n) => new([.. Enumerable.Range(0, n).Select(_ => (char)('a' + Random.Shared.Next(26)))]);
        return $"https://meet.google.com/{Letters(3)}-{Letters(4)}-{Letters(3)}";
    }

    static Task<NotetakerAutoJoin.Run> RunAsync(Use60App app) => ActivatorUtilities.CreateInstance<NotetakerAutoJoin>(app.Services).RunAsync(default);

    /// <summary>A day of its own, and a new org with auto-join on whose member (the rep) the test works with.</summary>
    async Task<(DateTimeOffset Now, TestData.TestOrg Org, AppUser Rep)> NewDayAsync()
    {
        var now = fixture.NextDay();
        var org = await OrgAsync(autoJoin: true, UserRole.Owner, UserRole.Member);
        return (now, org, org[1]);
    }

    async Task<TestData.TestOrg> OrgAsync(bool autoJoin, params UserRole[] roles)
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Notetakers " + Guid.NewGuid().ToString("N")[..6], roles);
        await SystemAsync(db => db.OrgSettings.Where(s => s.OrgId == org.Id).ExecuteUpdateAsync(s => s.SetProperty(x => x.NotetakerAutoJoin, autoJoin)));
        return org;
    }

    Task PreferAsync(AppUser rep, bool? autoJoin) => TestData.AsAsync(fixture.App.Services, rep, async db =>
    {
        db.UserPreferences.Add(new UserPreferences { OrgId = rep.OrgId, UserId = rep.Id, NotetakerAutoJoin = autoJoin });
        await db.SaveChangesAsync();
    });

    bool? PreferenceOf(AppUser rep) =>
        TestData.AsAsync(fixture.App.Services, rep, db => db.UserPreferences.AsNoTracking().Where(p => p.UserId == rep.Id).Select(p => p.NotetakerAutoJoin).SingleOrDefaultAsync())
            .Result;

    Task<CalendarEvent> EventAsync(AppUser rep, string title, DateTimeOffset start, string? conferenceUrl, params string[] guests) =>
        TestData.AsAsync(fixture.App.Services, rep, async db =>
        {
            var calendarEvent = new CalendarEvent
            {
                OrgId = rep.OrgId, UserId = rep.Id, ExternalId = "test-" + Guid.NewGuid().ToString("N"), Title = title, StartTime = start,
                EndTime = start.AddMinutes(30), ConferenceUrl = conferenceUrl, Location = conferenceUrl is null ? "Acme office" : null,
                Attendees = [new Attendee { Email = rep.Email!, Self = true, ResponseStatus = "accepted" }, .. guests.Select(g => new Attendee { Email = g })],
            };
            db.CalendarEvents.Add(calendarEvent);
            await db.SaveChangesAsync();
            return calendarEvent;
        });

    Task MoveAsync(CalendarEvent calendarEvent, DateTimeOffset start) =>
        SystemAsync(db => db.CalendarEvents.Where(e => e.Id == calendarEvent.Id)
            .ExecuteUpdateAsync(s => s.SetProperty(e => e.StartTime, start).SetProperty(e => e.EndTime, start.AddMinutes(30))));

    Task<List<Recording>> RecordingsAsync(System.Linq.Expressions.Expression<Func<Recording, bool>> where) =>
        SystemAsync(db => db.Recordings.AsNoTracking().Where(where).ToListAsync());

    Task<Recording> RecordingAsync(Guid id) => SystemAsync(db => db.Recordings.AsNoTracking().SingleAsync(r => r.Id == id));

    Task<List<SecurityAuditEvent>> AuditAsync(string eventType, Guid? orgId) =>
        SystemAsync(db => db.SecurityAuditLog.AsNoTracking().Where(a => a.EventType == eventType && a.OrgId == orgId).ToListAsync());

    async Task<T> SystemAsync<T>(Func<Use60Db, Task<T>> work)
    {
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        return await work(db);
    }
}
