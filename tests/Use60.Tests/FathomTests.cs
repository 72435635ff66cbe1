using System.Net;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Microsoft.SemanticKernel;
using Use60.Calendar;
using Use60.Copilot;
using Use60.Crm;
using Use60.Data;
using Use60.Orgs;
using Use60.Recordings;
using Use60.Security;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>One database, the fake Fathom on 127.0.0.1, the app on a controllable clock with Fathom set up.</summary>
public sealed class FathomFixture : IAsyncLifetime
{
    public FakeTimeProvider Clock { get; } = new(DateTimeOffset.Parse("2026-11-23T15:00:00Z"));
    public TestDatabase Database { get; private set; } = null!;
    public FakeFathom Fathom { get; private set; } = null!;
    public Use60App App { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Database = await TestDatabase.CreateAsync();
        Fathom = await FakeFathom.StartAsync();
        App = new Use60App(Database, Fathom.Settings, Clock);
        _ = App.BaseAddress;
    }

    public async Task DisposeAsync()
    {
        await App.DisposeAsync();
        await Fathom.DisposeAsync();
        await Database.DisposeAsync();
    }
}

/// <summary>
/// Fathom recordings by webhook and by the fathom-pull job, landing through the notetaker's transcript step: a 'fathom' meeting with
/// Fathom's link, searchable, one follow-up pack; once however they come; a bad signature refused; a failing Fathom loses nothing.
/// </summary>
public sealed class FathomTests(FathomFixture fixture) : IClassFixture<FathomFixture>
{
    FakeFathom Fathom => fixture.Fathom;
    DateTimeOffset Now => fixture.Clock.GetUtcNow();

    static readonly (string Speaker, int Second, string Text)[] PricingCall =
    [
        ("Sarah Chen", 0, "Thanks for making the time. Our budget for this quarter is fixed at forty thousand."),
        ("Alex Morgan", 7, "Understood. The pilot price per seat comes down with an annual contract."),
        ("Alex Morgan", 15, "We agreed to start the pilot with two warehouses in January."),
        ("Alex Morgan", 3725, "I'll send the security questionnaire answers by Friday."),
    ];

    [Fact]
    public async Task A_signed_webhook_lands_a_fathom_meeting_with_its_link_that_search_finds_and_one_follow_up_pack_however_often_it_comes()
    {
        var rep = await RepAsync();
        var recording = FakeFathom.Recording(rep.Email!, "Globex — Pricing call", Now.AddMinutes(-2), PricingCall);
        var id = IdOf(recording);
        // The rep's calendar has the meeting, on a deal with a contact: the meeting is linked to both.
        var scheduled = DateTimeOffset.Parse(recording["scheduled_start_time"]!.GetValue<string>());
        var (eventId, dealId) = await TestData.AsAsync(fixture.App.Services, rep, async db =>
        {
            var contact = new Contact { OrgId = rep.OrgId, UserId = rep.Id, FirstName = "Sarah", LastName = "Chen", Email = "sarah@globex.example" };
            var deal = new Deal { OrgId = rep.OrgId, UserId = rep.Id, Name = "Globex pilot", PrimaryContactId = contact.Id, Amount = 40_000 };
            var meeting = new CalendarEvent
            {
                OrgId = rep.OrgId, UserId = rep.Id, ExternalId = "fathom-" + id, Title = "Globex — Pricing call", StartTime = scheduled,
                EndTime = scheduled.AddMinutes(30), DealId = deal.Id,
                Attendees = [new Attendee { Email = rep.Email!, Self = true }, new Attendee { Email = contact.Email!, Name = "Sarah Chen" }],
            };
            db.AddRange(contact, deal, meeting);
            await db.SaveChangesAsync();
            return (meeting.Id, deal.Id);
        });
        using var client = fixture.App.Client();

        var webhookId = "msg_" + Guid.NewGuid().ToString("N");
        Assert.Equal("handled", await SendAsync(client, recording, webhookId));
        fixture.Clock.Advance(TimeSpan.FromSeconds(20));
        Assert.Equal("duplicate", await SendAsync(client, recording, webhookId));
        // Fathom sends the same recording again as a new message: it has landed, so nothing more happens.
        Assert.Equal("ignored", await SendAsync(client, recording));

        var meeting = Assert.Single(await MeetingsAsync(id));
        Assert.Equal((MeetingSource.Fathom, "fathom", rep.Id, "Globex — Pricing call"), (meeting.SourceType, meeting.TranscriptProvider, meeting.OwnerUserId, meeting.Title));
        Assert.Equal(recording["share_url"]!.GetValue<string>(), meeting.VideoUrl);
        Assert.Equal((eventId, dealId, (Guid?)null), (meeting.CalendarEventId, meeting.DealId, meeting.RecordingId));
        Assert.Equal(DateTimeOffset.Parse(recording["recording_start_time"]!.GetValue<string>()), meeting.StartTime);
        Assert.Equal(["Sarah Chen", "Alex Morgan", "Alex Morgan", "Alex Morgan"], meeting.Transcript!.Select(s => s.Speaker));
        Assert.Equal([(0d, 7d), (7d, 15d), (15d, 3725d), (3725d, 3725d)], meeting.Transcript!.Select(s => (s.Start, s.End)));
        Assert.StartsWith("Sarah Chen: Thanks for making the time.", meeting.TranscriptText);

        // Searchable by the copilot's search_meetings, as the notetaker's are.
        var hit = Assert.Single(await SearchAsync(rep, "what did Globex say about the price per seat?"));
        Assert.Equal((meeting.Id.ToString(), "fathom"), ((string)hit!["meeting_id"]!, (string)hit["source"]!));

        // One follow-up pack, with the previews to confirm and a link to the recording at Fathom.
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        var pack = Assert.Single(await db.SlackOutbox.AsNoTracking().Where(m => m.UserId == rep.Id && m.Source.StartsWith("follow-up pack")).ToListAsync());
        Assert.Contains("Watch in Fathom", pack.Message);
        Assert.Contains(meeting.VideoUrl!, pack.Message);
        Assert.Contains(await db.PendingActions.AsNoTracking().Where(p => p.UserId == rep.Id).ToListAsync(),
            p => p.Action == "create_task" && p.Preview.Contains("Send the security questionnaire answers by Friday"));

        // The inbox has the message once, delivered twice, processed once, without what was said; the ledger has the recording.
        var inbox = await db.Database.SqlQuery<InboxRow>($"""
            SELECT deliveries AS "Deliveries", attempts AS "Attempts", outcome AS "Outcome", payload::text AS "Payload" FROM webhook_inbox
            WHERE provider = 'fathom' AND delivery_id = {webhookId}
            """).SingleAsync();
        Assert.Equal((2, 1, "handled"), (inbox.Deliveries, inbox.Attempts, inbox.Outcome));
        Assert.DoesNotContain("questionnaire", inbox.Payload);
        Assert.Equal(new Ledger("landed", rep.OrgId, rep.Id, meeting.Id, "webhook"), await LedgerAsync(id));
    }

    [Fact]
    public async Task A_webhook_with_a_bad_missing_or_stale_signature_is_refused_with_401_audited_and_lands_nothing()
    {
        var rep = await RepAsync();
        var recording = FakeFathom.Recording(rep.Email!, "Initech — Renewal", Now.AddMinutes(-1), PricingCall);
        using var client = fixture.App.Client();
        var otherSecret = "whsec_" + Convert.ToBase64String("another-endpoint-signing-key-32b"u8.ToArray());
        var unsigned = FakeFathom.Webhook(recording, Now);
        unsigned.Headers.Remove(FathomWebhook.SignatureHeader);
        var tampered = FakeFathom.Webhook(recording, Now);
        tampered.Content = new StringContent(recording.ToJsonString().Replace("Initech", "Initrode"), System.Text.Encoding.UTF8, "application/json");
        foreach (var (request, reason) in new[]
                 {
                     (FakeFathom.Webhook(recording, Now, secret: otherSecret), "bad_signature"), (tampered, "bad_signature"),
                     (unsigned, "missing_headers"), (FakeFathom.Webhook(recording, Now.AddMinutes(-6)), "stale_timestamp"),
                 })
        {
            var before = (await AuditAsync()).Count;
            Assert.Equal(HttpStatusCode.Unauthorized, (await client.SendAsync(request)).StatusCode);
            var audits = await AuditAsync();
            Assert.Equal(before + 1, audits.Count);
            Assert.Contains(audits, a => a.Details.Contains(reason) && a.Details.Contains(FathomWebhook.Path) && a.OccurredAt == Now);
        }
        Assert.Empty(await MeetingsAsync(IdOf(recording)));
        Assert.Null(await LedgerAsync(IdOf(recording)));
    }

    [Fact]
    public async Task The_pull_pages_through_with_the_cursor_and_its_next_run_takes_only_what_is_new()
    {
        await ResetPullAsync();
        var rep = await RepAsync();
        var first = new[] { Now.AddMinutes(-50), Now.AddMinutes(-40), Now.AddMinutes(-30) }
            .Select((at, i) => Fathom.Add(FakeFathom.Recording(rep.Email!, $"Call {i}", at, ("Ann", 0, $"Call {i} went well."), ("Bo", 5, "Agreed."))))
            .ToList();

        var run = await PullAsync();
        Assert.Equal(new FathomPullRun(2, 3, 0, 0, 0, 0, 0, true), run);
        var calls = Fathom.ListCalls.ToList();
        Assert.Equal(2, calls.Count);
        // The first run takes in the last day; the second page is asked for by the first page's cursor, with the same filter.
        Assert.Equal((FakeFathom.Iso(Now - FathomPull.FirstLookback - FathomPull.Overlap), null, true), (calls[0].CreatedAfter, calls[0].Cursor, calls[0].IncludeTranscript));
        Assert.Equal(calls[0].CreatedAfter, calls[1].CreatedAfter);
        Assert.NotNull(calls[1].Cursor);
        Assert.Equal(first.Select(IdOf).Order(), calls.SelectMany(c => c.RecordingIds).Order());
        foreach (var recording in first)
            Assert.Equal((MeetingSource.Fathom, rep.Id), Assert.Single(await MeetingsAsync(IdOf(recording))) is var m ? (m.SourceType, m.OwnerUserId) : default);
        Assert.Equal(3, await PacksAsync(rep));

        // Fifteen minutes on, one new recording: the next run reads from the mark (the newest it took in, less the overlap) and
        // lands only the new one.
        fixture.Clock.Advance(TimeSpan.FromMinutes(15));
        var fresh = Fathom.Add(FakeFathom.Recording(rep.Email!, "Call 3", Now.AddMinutes(-1), ("Ann", 0, "A new call.")));
        Fathom.ListCalls.Clear();
        run = await PullAsync();
        Assert.Equal((1, 1, true), (run.Pages, run.Landed, run.Complete));
        Assert.Equal(FakeFathom.Iso(Now.AddMinutes(-45) - FathomPull.Overlap), Assert.Single(Fathom.ListCalls).CreatedAfter);
        Assert.Single(await MeetingsAsync(IdOf(fresh)));
        Assert.Equal(4, await PacksAsync(rep));

        // Nothing new: nothing lands.
        fixture.Clock.Advance(TimeSpan.FromMinutes(15));
        Assert.Equal(0, (await PullAsync()).Landed);
        Assert.Equal(4, await PacksAsync(rep));
    }

    [Fact]
    public async Task A_recording_that_comes_by_webhook_and_by_pull_lands_once_whichever_comes_first_or_both_at_once()
    {
        await ResetPullAsync();
        var rep = await RepAsync();
        using var client = fixture.App.Client();

        var webhookFirst = Fathom.Add(FakeFathom.Recording(rep.Email!, "Webhook first", Now.AddMinutes(-20), ("Ann", 0, "Hello from the webhook.")));
        Assert.Equal("handled", await SendAsync(client, webhookFirst));
        var pullFirst = Fathom.Add(FakeFathom.Recording(rep.Email!, "Pull first", Now.AddMinutes(-10), ("Ann", 0, "Hello from the pull.")));
        var run = await PullAsync();
        Assert.Equal((1, 1), (run.Landed, run.AlreadyLanded));
        Assert.Equal("ignored", await SendAsync(client, pullFirst));

        // Both at once, for a recording neither has seen.
        fixture.Clock.Advance(TimeSpan.FromMinutes(15));
        var both = Fathom.Add(FakeFathom.Recording(rep.Email!, "Both at once", Now.AddMinutes(-1), ("Ann", 0, "Hello from both.")));
        await Task.WhenAll(SendAsync(client, both), PullAsync());

        foreach (var recording in new[] { webhookFirst, pullFirst, both })
        {
            var meeting = Assert.Single(await MeetingsAsync(IdOf(recording)));
            Assert.Equal("landed", (await LedgerAsync(IdOf(recording)))!.Status);
            Assert.Equal(meeting.Id, (await LedgerAsync(IdOf(recording)))!.MeetingId);
        }
        Assert.Equal(3, await PacksAsync(rep));
    }

    [Fact]
    public async Task A_Fathom_that_fails_or_rate_limits_loses_nothing_and_the_next_run_picks_up_where_it_failed()
    {
        await ResetPullAsync();
        var rep = await RepAsync();
        var recordings = new[] { Now.AddMinutes(-30), Now.AddMinutes(-20), Now.AddMinutes(-10) }
            .Select((at, i) => Fathom.Add(FakeFathom.Recording(rep.Email!, $"Flaky {i}", at, ("Ann", 0, $"Flaky call {i}."))))
            .ToList();

        // Fathom is down: nothing read, the mark stays, the error is kept (without the key).
        Fathom.Script(500);
        Assert.Equal(new FathomPullRun(0, 0, 0, 0, 0, 0, 0, false), await PullAsync());
        var sync = await SyncAsync();
        Assert.Equal(Now - FathomPull.FirstLookback, sync.CreatedAfter);
        Assert.Contains("500", sync.LastError);
        Assert.DoesNotContain(FakeFathom.ApiKey, sync.LastError!);

        // The first page comes, the second fails: what landed stays landed, the mark still stays, and the scan keeps its place.
        fixture.Clock.Advance(TimeSpan.FromMinutes(15));
        Fathom.Script(null, 503);
        var run = await PullAsync();
        Assert.Equal((1, 2, false), (run.Pages, run.Landed, run.Complete));
        Assert.Equal(Now.AddMinutes(-15) - FathomPull.FirstLookback, (await SyncAsync()).CreatedAfter);

        // Rate-limited: the same (a transient failure keeps the scan's place too).
        fixture.Clock.Advance(TimeSpan.FromMinutes(15));
        Fathom.Script(429);
        Assert.False((await PullAsync()).Complete);
        Assert.Contains("rate-limiting", (await SyncAsync()).LastError);

        // Fathom is back: the scan goes on from the page that failed, the rest lands, nothing twice, and the mark moves to the newest recording.
        fixture.Clock.Advance(TimeSpan.FromMinutes(15));
        Fathom.ListCalls.Clear();
        run = await PullAsync();
        Assert.Equal((1, 1, 0, true), (run.Pages, run.Landed, run.AlreadyLanded, run.Complete));
        Assert.NotNull(Assert.Single(Fathom.ListCalls).Cursor);
        foreach (var recording in recordings) Assert.Single(await MeetingsAsync(IdOf(recording)));
        Assert.Equal(3, await PacksAsync(rep));
        Assert.Equal((Now.AddMinutes(-55), (string?)null), await SyncAsync() is var s ? (s.CreatedAfter, s.LastError) : default);
    }

    [Fact]
    public async Task A_backlog_longer_than_one_run_is_read_on_by_the_next_run_from_its_cursor_and_the_mark_then_moves()
    {
        await ResetPullAsync();
        var rep = await RepAsync();
        Fathom.PageSize = 1;
        // More pages than one run reads (Fathom lists newest first): recordings by nobody in use60 (kept as unmatched; they hold nothing
        // back), and, oldest, on the last page, one of the rep's.
        var started = Now;
        var outsider = $"someone@{Guid.NewGuid():N}.example";
        for (var i = 0; i < FathomPull.MaxPages + 1; i++)
            Fathom.Add(FakeFathom.Recording(outsider, $"Backlog {i}", started.AddMinutes(-50).AddSeconds(i), ("Ann", 0, "Backlog.")));
        var oldest = Fathom.Add(FakeFathom.Recording(rep.Email!, "The oldest", started.AddMinutes(-55), ("Ann", 0, "The oldest call.")));

        var run = await PullAsync();
        Assert.Equal((FathomPull.MaxPages, 0, false), (run.Pages, run.Landed, run.Complete));
        Assert.Equal(started - FathomPull.FirstLookback, (await SyncAsync()).CreatedAfter);
        var stoppedAt = Fathom.ListCalls.Last();
        Assert.Empty(await MeetingsAsync(IdOf(oldest)));

        // The next run asks for the page after the last one read, with the same filter, reads to the end, and moves the mark.
        fixture.Clock.Advance(TimeSpan.FromMinutes(15));
        Fathom.ListCalls.Clear();
        run = await PullAsync();
        Assert.Equal((2, 1, true), (run.Pages, run.Landed, run.Complete));
        var resumed = Fathom.ListCalls.First();
        Assert.Equal(stoppedAt.CreatedAfter, resumed.CreatedAfter);
        Assert.NotNull(resumed.Cursor);
        Assert.NotEqual(stoppedAt.Cursor, resumed.Cursor);
        Assert.Single(await MeetingsAsync(IdOf(oldest)));
        var newest = started.AddMinutes(-50).AddSeconds(FathomPull.MaxPages);
        Assert.Equal(newest, (await SyncAsync()).CreatedAfter);

        // And the run after starts from the new mark.
        fixture.Clock.Advance(TimeSpan.FromMinutes(15));
        Fathom.ListCalls.Clear();
        Assert.True((await PullAsync()).Complete);
        Assert.Equal(FakeFathom.Iso(newest - FathomPull.Overlap), Fathom.ListCalls.First().CreatedAfter);
    }

    [Fact]
    public async Task A_recording_by_someone_who_is_not_a_use60_user_is_kept_and_lands_once_they_are_added()
    {
        await ResetPullAsync();
        var name = "Late joiner " + Guid.NewGuid().ToString("N")[..6];
        var email = $"member1@{new string(name.ToLowerInvariant().Where(char.IsLetterOrDigit).ToArray())}.example";
        var recording = FakeFathom.Recording(email, "Umbrella — Intro", Now.AddMinutes(-3), ("Ann", 0, "Nice to meet you."));
        using var client = fixture.App.Client();

        Assert.Equal("ignored", await SendAsync(client, recording));
        Assert.Empty(await MeetingsAsync(IdOf(recording)));
        var kept = await LedgerAsync(IdOf(recording));
        Assert.Equal(("unmatched", (Guid?)null), (kept!.Status, kept.OrgId));

        // The rep joins use60; the next pull lands the recording it kept (Fathom does not list it again: it was not pulled).
        var org = await TestData.CreateOrgAsync(fixture.App.Services, name, UserRole.Owner, UserRole.Member);
        Assert.Equal(email, org[1].Email);
        Assert.Equal(1, (await PullAsync()).UnmatchedLanded);
        var meeting = Assert.Single(await MeetingsAsync(IdOf(recording)));
        Assert.Equal(org[1].Id, meeting.OwnerUserId);
        Assert.Equal(("landed", org.Id), await LedgerAsync(IdOf(recording)) is var l ? (l!.Status, l.OrgId) : default);
        Assert.Equal(1, await PacksAsync(org[1]));

        // One whose recorder never joins is forgotten after the 30 days it is tried for.
        var stranger = FakeFathom.Recording($"nobody.{Guid.NewGuid():N}@elsewhere.example", "Stranger call", Now.AddMinutes(-2), ("Bo", 0, "Hi."));
        Assert.Equal("ignored", await SendAsync(client, stranger));
        var later = ActivatorUtilities.CreateInstance<FathomRecordings>(fixture.App.Services, (TimeProvider)new FakeTimeProvider(Now + FathomPull.RetryUnmatchedFor));
        await later.RetryUnmatchedAsync(FathomPull.RetryUnmatchedFor, default);
        Assert.Null(await LedgerAsync(IdOf(stranger)));
    }

    [Fact]
    public void The_options_say_what_is_wrong()
    {
        Assert.Empty(new FathomOptions().Validate());
        Assert.Contains(new FathomOptions { WebhookSecret = "whsec_x" }.Validate(), p => p.Contains("FATHOM_API_KEY is not"));
        Assert.Contains(new FathomOptions { ApiKey = "k", BaseUrl = "api.fathom.ai" }.Validate(), p => p.Contains("FATHOM_BASE_URL"));
        Assert.Equal(FathomOptions.DefaultBaseUrl + "/", new FathomOptions().BaseUri.ToString());
    }

    sealed record InboxRow(int Deliveries, int Attempts, string? Outcome, string Payload);

    sealed record Ledger(string Status, Guid? OrgId, Guid? UserId, Guid? MeetingId, string Via);

    sealed record Sync(DateTimeOffset? CreatedAfter, string? LastError);

    static string IdOf(JsonObject recording) => recording["recording_id"]!.ToJsonString();

    async Task<string> SendAsync(HttpClient client, JsonObject recording, string? webhookId = null)
    {
        var response = await client.SendAsync(FakeFathom.Webhook(recording, Now, webhookId));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (string)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["outcome"]!;
    }

    /// <summary>One run of the fathom-pull job's work, as Quartz runs it: in a scope of its own.</summary>
    async Task<FathomPullRun> PullAsync()
    {
        await using var scope = fixture.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<FathomPull>().RunAsync(default);
    }

    /// <summary>A pull test starts from no mark, with an empty Fathom account.</summary>
    async Task ResetPullAsync()
    {
        Fathom.Clear();
        await SystemAsync(db => db.Database.ExecuteSqlAsync($"DELETE FROM fathom_sync"));
    }

    async Task<AppUser> RepAsync() => (await TestData.CreateOrgAsync(fixture.App.Services, "Fathom " + Guid.NewGuid().ToString("N")[..6],
        UserRole.Owner, UserRole.Member))[1];

    async Task<JsonArray> SearchAsync(AppUser rep, string query)
    {
        await using var scope = fixture.App.Services.CreateAsyncScope();
        scope.ServiceProvider.GetRequiredService<TenantContext>().Enter(rep.OrgId, rep.Id);
        var user = await scope.ServiceProvider.GetRequiredService<Use60Db>().Users.AsNoTracking().SingleAsync(u => u.Id == rep.Id);
        scope.ServiceProvider.GetRequiredService<CopilotSession>().Start(user);
        var result = await scope.ServiceProvider.GetRequiredService<CopilotTools>().CallAsync(CopilotTools.ExecuteAction,
            new KernelArguments { ["action"] = "search_meetings", ["params"] = new JsonObject { ["query"] = query } }, default);
        return result["meetings"]!.AsArray();
    }

    Task<List<Meeting>> MeetingsAsync(string recordingId) => SystemAsync(db => db.Meetings.AsNoTracking()
        .Where(m => m.SourceType == MeetingSource.Fathom && m.SourceRef == recordingId).ToListAsync());

    Task<int> PacksAsync(AppUser rep) => SystemAsync(db => db.SlackOutbox.AsNoTracking().CountAsync(m => m.UserId == rep.Id && m.Source.StartsWith("follow-up pack")));

    Task<Ledger?> LedgerAsync(string recordingId) => SystemAsync(db => db.Database.SqlQuery<Ledger>($"""
        SELECT status AS "Status", org_id AS "OrgId", user_id AS "UserId", meeting_id AS "MeetingId", via AS "Via" FROM fathom_recordings
        WHERE recording_id = {recordingId}
        """).SingleOrDefaultAsync());

    Task<Sync> SyncAsync() => SystemAsync(db => db.Database.SqlQuery<Sync>($"""
        SELECT created_after AS "CreatedAfter", last_error AS "LastError" FROM fathom_sync WHERE id = 1
        """).SingleAsync());

    async Task<List<SecurityAuditEvent>> AuditAsync() => [.. (await SystemAsync(db => db.SecurityAuditLog.AsNoTracking()
        .Where(a => a.EventType == AuditEvents.NotetakerWebhookRejected).ToListAsync())).Where(a => a.Details.Contains(FathomWebhook.Path))];

    async Task<T> SystemAsync<T>(Func<Use60Db, Task<T>> work)
    {
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        return await work(db);
    }
}
