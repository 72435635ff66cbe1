using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;
using Use60.Calendar;
using Use60.Data;
using Use60.Orgs;
using Use60.Proactive;
using Use60.Security;
using Use60.Slack;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

public sealed class CalendarFixture : IAsyncLifetime
{
    public FakeTimeProvider Clock { get; } = new(DigestFixture.Start);
    public FakeGoogle Google { get; private set; } = null!;
    public TestDatabase Database { get; private set; } = null!;
    public Use60App App { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Google = await FakeGoogle.StartAsync();
        Database = await TestDatabase.CreateAsync();
        var settings = new Dictionary<string, string?>(Google.Settings)
        {
            ["Privacy:MasterKey"] = Convert.ToBase64String(Enumerable.Range(7, 32).Select(i => (byte)i).ToArray()),
        };
        App = new Use60App(Database, settings, Clock);
        _ = App.BaseAddress;
    }

    public async Task DisposeAsync()
    {
        await App.DisposeAsync();
        await Database.DisposeAsync();
        await Google.DisposeAsync();
    }
}

/// <summary>Google Calendar: connect through OAuth from Slack, then incremental sync against a fake Google on 127.0.0.1.</summary>
[Collection(SchedulerCollection.Name)]
public sealed class CalendarSyncTests(CalendarFixture fixture) : IClassFixture<CalendarFixture>
{
    FakeGoogle Google => fixture.Google;
    DateTimeOffset Now => fixture.Clock.GetUtcNow();

    [Fact]
    public async Task Connect_calendar_links_to_google_consent_and_the_callback_seals_the_refresh_token_once()
    {
        var (rep, dm) = await RepAsync("Connect");
        var account = Google.NewAccount(rep.Email!);
        Google.Put(account, "evt-1", "Discovery call", Now.AddHours(26), TimeSpan.FromMinutes(30), "buyer@prospect.example");

        var consent = await ConsentAsync(dm);
        Assert.Equal(Google.AuthUrl, consent.GetLeftPart(UriPartial.Path));
        var query = QueryHelpers.ParseQuery(consent.Query);
        Assert.Equal(FakeGoogle.ClientId, query["client_id"]);
        Assert.Equal("http://127.0.0.1:5175/calendar/google/callback", query["redirect_uri"]);
        Assert.Equal(GoogleCalendarAuth.Scope, query["scope"]);
        Assert.Equal(("code", "offline", "consent"), (query["response_type"].ToString(), query["access_type"].ToString(), query["prompt"].ToString()));
        var state = query["state"].ToString();

        var client = fixture.App.Client();
        var forged = await client.GetAsync($"calendar/google/callback?code={Google.IssueCode(account)}&state=forged-state");
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        Assert.Contains("expired", await forged.Content.ReadAsStringAsync());

        var code = Google.IssueCode(account);
        var done = await client.GetAsync($"calendar/google/callback?code={code}&state={state}");
        Assert.Equal(HttpStatusCode.OK, done.StatusCode);
        Assert.Contains("Google Calendar connected", await done.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync($"calendar/google/callback?code={Google.IssueCode(account)}&state={state}")).StatusCode);
        var exchange = Google.TokenRequests.Single(r => r.GetValueOrDefault("grant_type") == "authorization_code" && r.GetValueOrDefault("code") == code);
        Assert.Equal("http://127.0.0.1:5175/calendar/google/callback", exchange["redirect_uri"]);

        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
        {
            var connection = await db.CalendarConnections.AsNoTracking().SingleAsync(c => c.UserId == rep.Id);
            Assert.Equal((CalendarConnectionStatus.Active, rep.Email), (connection.Status, connection.AccountEmail));
            Assert.NotNull(connection.LastSyncedAt);
            // Sealed: the plaintext token is nowhere in the row, and it opens only for this rep.
            Assert.Equal(0, await db.Database.SqlQuery<int>($"""
                SELECT count(*)::int AS "Value" FROM calendar_connections WHERE position(convert_to({account.RefreshToken}, 'UTF8') IN refresh_token_encrypted) > 0
                """).SingleAsync());
            Assert.Contains(await db.SecurityAuditLog.AsNoTracking().Where(a => a.EventType == AuditEvents.CalendarConnectRefused).ToListAsync(), a => a.OrgId == null);
            Assert.Single(await db.SecurityAuditLog.AsNoTracking().Where(a => a.EventType == AuditEvents.CalendarConnected && a.UserId == rep.Id).ToListAsync());
            // The first sync ran at once.
            var synced = await db.CalendarEvents.AsNoTracking().SingleAsync(e => e.UserId == rep.Id);
            Assert.Equal(("evt-1", "Discovery call", 2), (synced.ExternalId, synced.Title, synced.AttendeesCount));
        }
        await dm.MessageAsync("is connected: I found 1 event", "the connected DM");
    }

    [Fact]
    public async Task A_denied_consent_changes_nothing_and_a_missing_google_setup_is_explained()
    {
        var (rep, dm) = await RepAsync("Denied");
        var consent = await ConsentAsync(dm);
        var state = QueryHelpers.ParseQuery(consent.Query)["state"];
        var denied = await fixture.App.Client().GetAsync($"calendar/google/callback?error=access_denied&state={state}");
        Assert.Equal(HttpStatusCode.OK, denied.StatusCode);
        Assert.Contains("Not connected", await denied.Content.ReadAsStringAsync());
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
            Assert.False(await db.CalendarConnections.AnyAsync(c => c.UserId == rep.Id));

        await dm.Sandbox.SendAsync(dm.Org, rep, "/sixty connect my crm", default);
        await dm.MessageAsync("I can connect your Google Calendar", "the hint for an unknown thing to connect");
        await dm.Sandbox.SendAsync(dm.Org, rep, "/sixty calendar", default);
        await dm.MessageAsync("isn't connected", "the status of a rep without a calendar");

        await using var database = await TestDatabase.CreateAsync();
        await using var bare = new Use60App(database);
        var org = await TestData.CreateOrgAsync(bare.Services, "NoGoogle", UserRole.Owner);
        var bareDm = await SandboxDm.OfAsync(bare, org[0]);
        await bareDm.Sandbox.SendAsync(bareDm.Org, org[0], "/sixty connect calendar", default);
        await bareDm.MessageAsync("isn't set up on this use60", "the explanation when Google is not configured");
    }

    [Fact]
    public async Task Sync_pages_through_single_events_keeps_the_sync_token_and_then_reads_only_changes()
    {
        var (rep, dm) = await RepAsync("Paging");
        var account = Google.NewAccount(rep.Email!);
        account.PageSize = 2;
        var start = Now.AddDays(1);
        Google.Put(account, "a", "Alpha review", start, TimeSpan.FromHours(1), "ann@acme.example");
        Google.Put(account, "b", "Bravo demo", start.AddHours(2), TimeSpan.FromHours(1), "bob@bravo.example", "bea@bravo.example");
        Google.Put(account, "c", "Focus time", start.AddHours(4), TimeSpan.FromHours(2));
        Google.Put(account, "d", "Charlie call", start.AddHours(6), TimeSpan.FromMinutes(30), "cy@charlie.example");
        Google.Put(account, "e", "Delta sync", start.AddHours(8), TimeSpan.FromMinutes(30), "di@delta.example");
        await ConnectAsync(dm, account);

        var first = account.EventRequests.ToList();
        Assert.Equal(3, first.Count);
        Assert.All(first, r => Assert.Equal("true", r["singleEvents"]));
        Assert.True(first[0].ContainsKey("timeMin") && !first[0].ContainsKey("syncToken") && !first[0].ContainsKey("pageToken"));
        Assert.All(first.Skip(1), r => Assert.True(r.ContainsKey("pageToken")));
        var events = await EventsAsync(rep);
        Assert.Equal(["Alpha review", "Bravo demo", "Charlie call", "Delta sync", "Focus time"], events.Select(e => e.Title).Order());
        Assert.Equal(1, events.Single(e => e.ExternalId == "c").AttendeesCount);
        Assert.Equal(3, events.Single(e => e.ExternalId == "b").AttendeesCount);
        var token = await SyncTokenAsync(rep);
        Assert.NotNull(token);

        // Changes only: a new title, a new meeting, a cancellation.
        var alpha = Google.Get(account, "a");
        alpha["summary"] = "Alpha review (agenda attached)";
        Google.Put(account, alpha);
        Google.Put(account, "f", "Echo intro", start.AddHours(9), TimeSpan.FromMinutes(30), "ed@echo.example");
        Google.Cancel(account, "d");
        account.EventRequests.Clear();
        var result = await SyncAsync(rep);

        Assert.Equal((CalendarSyncStatus.Synced, false, 1, 1, 1), (result.Status, result.Full, result.Added, result.Changed, result.Removed));
        var incremental = account.EventRequests.ToList();
        Assert.Equal(token, incremental[0]["syncToken"]);
        Assert.False(incremental[0].ContainsKey("timeMin"));
        events = await EventsAsync(rep);
        Assert.Equal(["Alpha review (agenda attached)", "Bravo demo", "Delta sync", "Echo intro", "Focus time"], events.Select(e => e.Title).Order());
        Assert.NotEqual(token, await SyncTokenAsync(rep));
    }

    [Fact]
    public async Task An_expired_sync_token_410_leads_to_a_full_resync_that_drops_what_google_no_longer_lists()
    {
        var (rep, dm) = await RepAsync("Gone");
        var account = Google.NewAccount(rep.Email!);
        Google.Put(account, "keep", "Kept meeting", Now.AddDays(2), TimeSpan.FromHours(1), "k@keep.example");
        Google.Put(account, "purged", "Purged meeting", Now.AddDays(2).AddHours(3), TimeSpan.FromHours(1), "p@purge.example");
        await ConnectAsync(dm, account);
        Assert.Equal(2, (await EventsAsync(rep)).Count);

        Google.Purge(account, "purged");
        Google.ExpireSyncTokens(account);
        account.EventRequests.Clear();
        var result = await SyncAsync(rep);

        Assert.Equal((CalendarSyncStatus.Synced, true, 1), (result.Status, result.Full, result.Removed));
        var requests = account.EventRequests.ToList();
        Assert.True(requests[0].ContainsKey("syncToken"));
        Assert.True(requests[1].ContainsKey("timeMin") && !requests[1].ContainsKey("syncToken"));
        Assert.Equal(["keep"], (await EventsAsync(rep)).Select(e => e.ExternalId));
        // The new token works: the next sync is incremental again.
        Assert.False((await SyncAsync(rep)).Full);
    }

    [Fact]
    public async Task Rate_limits_and_server_errors_back_off_in_the_database_and_a_success_resets_it()
    {
        var (rep, dm) = await RepAsync("Backoff");
        var account = Google.NewAccount(rep.Email!);
        await ConnectAsync(dm, account);

        Google.Fail(account, new FakeGoogle.Failure(503));
        var failed = await SyncAsync(rep);
        Assert.Equal(CalendarSyncStatus.Failed, failed.Status);
        Assert.Equal(Now.AddMinutes(5), failed.RetryAt);
        Assert.DoesNotContain(await SyncAt(Now.AddMinutes(4)).DueAsync(default), d => d.UserId == rep.Id);
        Assert.Contains(await SyncAt(Now.AddMinutes(5)).DueAsync(default), d => d.UserId == rep.Id);

        Google.Fail(account, new FakeGoogle.Failure(403, Reason: "rateLimitExceeded"));
        Assert.Equal(Now.AddMinutes(10), (await SyncAsync(rep, force: true)).RetryAt);   // the second failure in a row waits twice as long

        // Google's own Retry-After wins when it is longer, and a rep's "Sync now" does not override it.
        Google.Fail(account, new FakeGoogle.Failure(429, RetryAfter: "3600"));
        Assert.Equal(Now.AddHours(1), (await SyncAsync(rep, force: true)).RetryAt);
        Assert.Equal(CalendarSyncStatus.BackingOff, (await SyncAsync(rep, force: true)).Status);
        Assert.DoesNotContain(await SyncAt(Now.AddMinutes(59)).DueAsync(default), d => d.UserId == rep.Id);

        Assert.Equal(CalendarSyncStatus.Synced, (await SyncAt(Now.AddHours(1)).SyncAsync(rep.OrgId, rep.Id, force: false, default)).Status);
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        var connection = await db.CalendarConnections.AsNoTracking().SingleAsync(c => c.UserId == rep.Id);
        Assert.Equal((0, null, null), (connection.Failures, connection.NextSyncAt, connection.LastError));
    }

    [Fact]
    public async Task A_moved_meeting_gets_its_brief_at_the_new_time_and_a_cancelled_one_gets_none()
    {
        var (rep, dm) = await RepAsync("Moves");
        var account = Google.NewAccount(rep.Email!);
        var at = Now;
        Google.Put(account, "moving", "Pricing call", at.AddHours(5), TimeSpan.FromMinutes(45), "cfo@buyer.example");
        Google.Put(account, "cancelling", "Kickoff", at.AddHours(1), TimeSpan.FromMinutes(30), "pm@buyer.example");
        await ConnectAsync(dm, account);
        var moving = (await EventsAsync(rep)).Single(e => e.ExternalId == "moving");
        Assert.DoesNotContain(await BriefsAt(at).DueAsync(default), d => d.EventId == moving.Id);

        // Moved earlier, into the 2-hour window: briefed now.
        Move(account, "moving", at.AddMinutes(90));
        Google.Cancel(account, "cancelling");
        await SyncAsync(rep);
        var due = await BriefsAt(at).DueAsync(default);
        Assert.Contains(due, d => d.EventId == moving.Id);
        Assert.DoesNotContain(await EventsAsync(rep), e => e.ExternalId == "cancelling");
        Assert.True(await BriefsAt(at).RunAsync(default) >= 1);

        // Moved later after its brief: a new brief comes 2 hours before the new time, not before.
        Move(account, "moving", at.AddHours(6));
        await SyncAsync(rep);
        Assert.Equal(moving.Id, (await EventsAsync(rep)).Single(e => e.ExternalId == "moving").Id);
        Assert.DoesNotContain(await BriefsAt(at.AddMinutes(1)).DueAsync(default), d => d.EventId == moving.Id);
        Assert.DoesNotContain(await BriefsAt(at.AddHours(4).AddMinutes(-1)).DueAsync(default), d => d.EventId == moving.Id);
        Assert.Contains(await BriefsAt(at.AddHours(4)).DueAsync(default), d => d.EventId == moving.Id);
        await BriefsAt(at.AddHours(4)).RunAsync(default);
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        Assert.Equal(2, await db.SlackOutbox.CountAsync(m => m.UserId == rep.Id && m.Source.StartsWith("meeting brief " + moving.Id)));
    }

    [Fact]
    public async Task Rooms_all_day_entries_and_declined_invites_are_not_meetings_and_attendees_link_the_deal()
    {
        var (rep, dm) = await RepAsync("Shapes");
        var deal = await TestData.AsAsync(fixture.App.Services, rep, async db =>
        {
            var contact = new Crm.Contact { OrgId = rep.OrgId, UserId = rep.Id, FirstName = "Dana", LastName = "Buyer", Email = "Dana.Buyer@Globex.example" };
            db.Contacts.Add(contact);
            await db.SaveChangesAsync();
            var newDeal = new Crm.Deal { OrgId = rep.OrgId, UserId = rep.Id, Name = "Globex expansion", Stage = Crm.DealStage.Proposal, PrimaryContactId = contact.Id };
            db.Deals.Add(newDeal);
            await db.SaveChangesAsync();
            return newDeal;
        });
        var account = Google.NewAccount(rep.Email!);
        var day = Now.AddDays(1);
        var focus = Google.Get(account, Google.Put(account, "room", "Focus block", day, TimeSpan.FromHours(1)));
        ((JsonArray)focus["attendees"]!).Add(new JsonObject { ["email"] = "room-4@resource.calendar.google.com", ["resource"] = true, ["responseStatus"] = "accepted" });
        Google.Put(account, focus);
        Google.Put(account, new JsonObject
        {
            ["id"] = "holiday", ["status"] = "confirmed", ["summary"] = "Thanksgiving",
            ["start"] = new JsonObject { ["date"] = "2026-11-26" }, ["end"] = new JsonObject { ["date"] = "2026-11-27" },
        });
        var declined = Google.Get(account, Google.Put(account, "declined", "Vendor pitch", day.AddHours(2), TimeSpan.FromHours(1), "vendor@seller.example"));
        declined["attendees"]![0]!["responseStatus"] = "declined";
        Google.Put(account, declined);
        var withDeal = Google.Get(account, Google.Put(account, "globex", "Globex proposal review", day.AddHours(4), TimeSpan.FromHours(1), "dana.buyer@globex.example"));
        withDeal["hangoutLink"] = "https://meet.google.com/abc-defg-hij";
        Google.Put(account, withDeal);
        await ConnectAsync(dm, account);

        var events = await EventsAsync(rep);
        Assert.Equal(["globex", "room"], events.Select(e => e.ExternalId).Order());
        Assert.Equal(1, events.Single(e => e.ExternalId == "room").AttendeesCount);
        var globex = events.Single(e => e.ExternalId == "globex");
        Assert.Equal((deal.Id, "https://meet.google.com/abc-defg-hij"), (globex.DealId, globex.ConferenceUrl));
    }

    [Fact]
    public async Task A_revoked_grant_stops_the_sync_and_tells_the_rep_once()
    {
        var (rep, dm) = await RepAsync("Revoked");
        var account = Google.NewAccount(rep.Email!);
        await ConnectAsync(dm, account);

        Google.RevokeGrant(account);
        fixture.App.Service<GoogleCalendarAuth>().Forget(rep.Id);
        Assert.Equal(CalendarSyncStatus.Revoked, (await SyncAsync(rep)).Status);
        Assert.Equal(CalendarSyncStatus.Revoked, (await SyncAsync(rep)).Status);
        Assert.DoesNotContain(await SyncAt(Now).DueAsync(default), d => d.UserId == rep.Id);
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        Assert.Equal(1, await db.SlackOutbox.CountAsync(m => m.UserId == rep.Id && m.Source == "calendar access revoked"));
        Assert.Single(await db.SecurityAuditLog.AsNoTracking().Where(a => a.EventType == AuditEvents.CalendarAccessRevoked && a.UserId == rep.Id).ToListAsync());
        await dm.MessageAsync("connect it again", "the revoked notice in the DM");
    }

    [Fact]
    public async Task Calendar_status_offers_sync_now_and_disconnect_which_revokes_and_forgets_the_meetings()
    {
        var (rep, dm) = await RepAsync("Status");
        var account = Google.NewAccount(rep.Email!);
        Google.Put(account, "one", "Renewal call", Now.AddDays(1), TimeSpan.FromHours(1), "r@renew.example");
        await ConnectAsync(dm, account);

        await dm.Sandbox.SendAsync(dm.Org, rep, "/sixty calendar", default);
        var status = await dm.MessageAsync("Google Calendar", "the calendar status");
        Assert.Contains("1 meeting with other people", status.Message);
        Google.Put(account, "two", "Security review", Now.AddDays(2), TimeSpan.FromHours(1), "ciso@renew.example");
        Assert.True(await dm.ClickAsync(status, "calendar", "calendar_sync_now"));
        await dm.MessageAsync("Synced just now: 1 new meeting", "the sync-now outcome in place of the status");
        Assert.Equal(2, (await EventsAsync(rep)).Count);

        status = await dm.MessageAsync("Synced just now", "the status after sync");
        Assert.True(await dm.ClickAsync(status, "calendar", "calendar_disconnect"));
        await dm.MessageAsync("Disconnected", "the disconnect outcome");
        Assert.Contains(account.RefreshToken, Google.Revoked);
        Assert.Empty(await EventsAsync(rep));
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        Assert.False(await db.CalendarConnections.AnyAsync(c => c.UserId == rep.Id));
        Assert.Single(await db.SecurityAuditLog.AsNoTracking().Where(a => a.EventType == AuditEvents.CalendarDisconnected && a.UserId == rep.Id).ToListAsync());
    }

    [Fact]
    public async Task The_scheduler_runs_the_sync_every_10_minutes_as_one_clustered_job()
    {
        await using var database = await TestDatabase.CreateAsync();
        var settings = new Dictionary<string, string?>(Google.Settings)
        {
            ["Jobs:Enabled"] = "true", ["Privacy:MasterKey"] = Convert.ToBase64String(Enumerable.Range(3, 32).Select(i => (byte)i).ToArray()),
        };
        await using var app = new Use60App(database, settings, new FakeTimeProvider(Now));
        var org = await TestData.CreateOrgAsync(app.Services, "Scheduled", UserRole.Owner);
        var account = Google.NewAccount(org[0].Email!);
        await ConnectAsync(await SandboxDm.OfAsync(app, org[0]), account);
        Google.Put(account, "later", "Added after connecting", Now.AddDays(3), TimeSpan.FromHours(1), "x@later.example");

        await using var db = app.Service<SystemDb>().Open("test");
        await FakeSlack.WaitUntilAsync(() => db.Database.SqlQuery<string>($"""
            SELECT t.cron_expression AS "Value" FROM qrtz_cron_triggers t WHERE t.trigger_name = 'calendar-sync'
            """).ToList().SingleOrDefault() == "0 0/10 * ? * *", "the calendar-sync trigger in the clustered schedule", seconds: 30);
        await (await app.Service<Quartz.ISchedulerFactory>().GetScheduler()).TriggerJob(new Quartz.JobKey("calendar-sync"));
        await FakeSlack.WaitUntilAsync(() => db.CalendarEvents.AsNoTracking().Any(e => e.UserId == org[0].Id && e.ExternalId == "later"), "the job to sync", seconds: 30);

        // Stopping while a sync runs waits for it, also when the host asks twice (it does): a second request that returned at
        // once let the container dispose the connections the running job still needed, and the job then retried forever.
        account.Hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var requests = account.EventRequests.Count;
        Google.Put(account, "during", "Added while stopping", Now.AddDays(4), TimeSpan.FromHours(1), "x@later.example");
        await (await app.Service<Quartz.ISchedulerFactory>().GetScheduler()).TriggerJob(new Quartz.JobKey("calendar-sync"));
        await FakeSlack.WaitUntilAsync(() => account.EventRequests.Count > requests, "the second sync to reach Google", seconds: 30);
        var jobs = app.Services.GetServices<IHostedService>().Single(s => s.GetType().Name == "JobsHost");
        Task[] stops = [jobs.StopAsync(CancellationToken.None), jobs.StopAsync(CancellationToken.None)];
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        Assert.All(stops, stop => Assert.False(stop.IsCompleted, "a stop returned while a job was still running"));
        account.Hold.SetResult();
        await Task.WhenAll(stops).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(await db.CalendarEvents.AsNoTracking().AnyAsync(e => e.UserId == org[0].Id && e.ExternalId == "during"), "the running sync finished before the stop");
    }

    void Move(FakeGoogle.Account account, string id, DateTimeOffset start)
    {
        var moved = Google.Get(account, id);
        moved["start"]!["dateTime"] = start.ToString("yyyy-MM-dd'T'HH:mm:ssK");
        moved["end"]!["dateTime"] = start.AddMinutes(45).ToString("yyyy-MM-dd'T'HH:mm:ssK");
        Google.Put(account, moved);
    }

    async Task<(AppUser Rep, SandboxDm Dm)> RepAsync(string name)
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, name, UserRole.Owner);
        return (org[0], await SandboxDm.OfAsync(fixture.App, org[0]));
    }

    static async Task<Uri> ConsentAsync(SandboxDm dm)
    {
        await dm.Sandbox.SendAsync(dm.Org, dm.Rep, "/sixty connect calendar", default);
        var message = await dm.MessageAsync(CalendarMessages.ConnectAction, "the connect link");
        var button = JsonNode.Parse(message.Message)!["blocks"]!.AsArray().SelectMany(b => b!["elements"]?.AsArray() ?? [])
            .Single(e => e!["action_id"]?.GetValue<string>() == CalendarMessages.ConnectAction)!;
        return new Uri(button["url"]!.GetValue<string>());
    }

    async Task ConnectAsync(SandboxDm dm, FakeGoogle.Account account)
    {
        var state = QueryHelpers.ParseQuery((await ConsentAsync(dm)).Query)["state"];
        var done = await dm.App.Client().GetAsync($"calendar/google/callback?code={Google.IssueCode(account)}&state={state}");
        Assert.Equal(HttpStatusCode.OK, done.StatusCode);
    }

    CalendarSync SyncAt(DateTimeOffset instant) =>
        ActivatorUtilities.CreateInstance<CalendarSync>(fixture.App.Services, (TimeProvider)new FakeTimeProvider(instant));

    Task<CalendarSyncResult> SyncAsync(AppUser rep, bool force = false) => SyncAt(Now).SyncAsync(rep.OrgId, rep.Id, force, default);

    MeetingBriefs BriefsAt(DateTimeOffset instant) =>
        ActivatorUtilities.CreateInstance<MeetingBriefs>(fixture.App.Services, (TimeProvider)new FakeTimeProvider(instant));

    async Task<List<CalendarEvent>> EventsAsync(AppUser rep)
    {
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        return await db.CalendarEvents.AsNoTracking().Where(e => e.UserId == rep.Id).OrderBy(e => e.StartTime).ToListAsync();
    }

    async Task<string?> SyncTokenAsync(AppUser rep)
    {
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        return await db.Database.SqlQuery<string>($"SELECT sync_token AS \"Value\" FROM calendar_sync_tokens WHERE user_id = {rep.Id}").SingleOrDefaultAsync();
    }
}
