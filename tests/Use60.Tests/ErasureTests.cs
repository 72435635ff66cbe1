using System.Net;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Use60.Calendar;
using Use60.Copilot;
using Use60.Crm;
using Use60.Data;
using Use60.Orgs;
using Use60.Privacy;
using Use60.Privacy.Pages;
using Use60.Recordings;
using Use60.Security;
using Use60.Slack;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

public sealed class ErasureFixture : IAsyncLifetime
{
    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 11, 23, 9, 0, 0, TimeSpan.Zero));
    public TestDatabase Database { get; private set; } = null!;
    public S3Test S3 { get; private set; } = null!;
    public Use60App App { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Database = await TestDatabase.CreateAsync();
        S3 = await S3Test.CreateAsync();
        var s3 = S3Test.Options(S3.Bucket);
        App = new Use60App(Database, new Dictionary<string, string?>
        {
            ["S3:Region"] = s3.Region, ["S3:Bucket"] = s3.Bucket, ["S3:EndpointUrl"] = s3.EndpointUrl, ["S3:AccessKeyId"] = s3.AccessKeyId,
            ["S3:SecretAccessKey"] = s3.SecretAccessKey,
        }, Clock);
    }

    public async Task DisposeAsync()
    {
        await App.DisposeAsync();
        await S3.DisposeAsync();
        await Database.DisposeAsync();
    }
}

/// <summary>Erasure requests: made, approved by someone else, executed after the grace period, and then nothing of the person is left.</summary>
public sealed class ErasureTests(ErasureFixture fixture) : IClassFixture<ErasureFixture>
{
    const string Name = "Olga Erasmus", KeptName = "Karla Keeper";
    DateTimeOffset Now => fixture.Clock.GetUtcNow();

    [Fact]
    public async Task An_executed_erasure_leaves_no_trace_of_the_person_in_any_column_or_in_the_store_and_a_tombstone_of_counts()
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Erasing " + Guid.NewGuid().ToString("N")[..6], UserRole.Owner, UserRole.Admin, UserRole.Member);
        var (owner, admin, rep) = (org[0], org[1], org[2]);
        var email = $"olga.{Guid.NewGuid():N}@prospect.example";
        var bystander = $"ben.{Guid.NewGuid():N}@prospect.example";
        var seeded = await SeedAsync(rep, email, bystander);

        // Made by the owner; the owner cannot approve it; the admin can.
        var browser = await AdminPages.SignedInAsync(fixture.App, owner);
        var page = await AdminPages.PageAsync(browser, PrivacyModel.PagePath);
        var bad = await AdminPages.HtmlAsync(await browser.PostAsync(PrivacyModel.PagePath + "?handler=Create",
            AdminPages.Filled(page, "#new-request", ("Email", "not an address"))));
        Assert.Contains("Enter the person's email address", bad.QuerySelector("#request-problem")!.TextContent);
        Assert.Equal(HttpStatusCode.Redirect, (await browser.PostAsync(PrivacyModel.PagePath + "?handler=Create",
            AdminPages.Filled(page, "#new-request", ("Email", email.ToUpperInvariant()), ("Kind", "RightToBeForgotten")))).StatusCode);
        var request = await SystemAsync(db => db.PrivacyRequests.AsNoTracking().SingleAsync(r => r.OrgId == org.Id));
        Assert.Equal((email, PrivacyRequestStatus.Pending, Now.AddDays(30)), (request.SubjectEmail, request.Status, request.ExecuteAfter));
        page = await AdminPages.PageAsync(browser, PrivacyModel.PagePath);
        Assert.Empty(page.QuerySelectorAll($"tr[data-request='{request.Id}'] button"));
        await Assert.ThrowsAsync<PrivacyRequestException>(() => TestData.AsAsync(fixture.App.Services, owner,
            db => fixture.App.Service<PrivacyRequests>().DecideAsync(db, request.Id, approve: true, null, default)));

        var adminBrowser = await AdminPages.SignedInAsync(fixture.App, admin);
        page = await AdminPages.PageAsync(adminBrowser, PrivacyModel.PagePath);
        await adminBrowser.PostAsync(PrivacyModel.PagePath + "?handler=Decide",
            AdminPages.Filled(page, $"tr[data-request='{request.Id}'] form", ("requestId", request.Id.ToString()), ("approve", "true")));
        Assert.Equal(PrivacyRequestStatus.Approved, (await SystemAsync(db => db.PrivacyRequests.AsNoTracking().SingleAsync(r => r.Id == request.Id))).Status);

        // Nothing happens during the grace period; then it is carried out once (the tests share a database: other orgs' requests may run too).
        await RequestsAt(Now.AddDays(29)).ExecuteDueAsync(default);
        Assert.Equal((1, PrivacyRequestStatus.Approved), (await ContactsAsync(org.Id, email), await StatusAsync(request.Id)));
        await RequestsAt(Now.AddDays(30)).ExecuteDueAsync(default);
        Assert.Equal(PrivacyRequestStatus.Completed, await StatusAsync(request.Id));
        await RequestsAt(Now.AddDays(31)).ExecuteDueAsync(default);

        // Nowhere: every text and JSON column of every table, in any case.
        var hits = await EverywhereAsync(email, Name, "Erasmus");
        Assert.True(hits.Count == 0, "still found in: " + string.Join(", ", hits));
        foreach (var key in seeded.Keys) Assert.Null(await fixture.S3.Store.OpenReadAsync(key));

        // What is not theirs stays: the bystander, the rep's task and deal (without the reference), and the shared meeting's other attendee.
        Assert.Equal(1, await ContactsAsync(org.Id, bystander));
        Assert.True(await SystemAsync(db => db.Tasks.AnyAsync(t => t.Id == seeded.Task && t.ContactId == null)));
        Assert.True(await SystemAsync(db => db.Deals.AnyAsync(d => d.Id == seeded.Deal && d.PrimaryContactId == null)));
        var shared = await SystemAsync(db => db.CalendarEvents.AsNoTracking().SingleAsync(e => e.Id == seeded.SharedEvent));
        Assert.Equal([rep.Email!, bystander], shared.Attendees.Select(a => a.Email));
        var keys = await fixture.App.Service<OrgKeyring>().GetAsync(org.Id, create: false, default);
        Assert.DoesNotContain(keys!.BlindIndex(email), shared.AttendeeEmailHashes!);   // its blind index went with the address
        Assert.Contains(keys.BlindIndex(bystander), shared.AttendeeEmailHashes!);
        Assert.NotNull(await fixture.S3.Store.OpenReadAsync(seeded.SharedRecordingKey));

        // The tombstone: who asked and approved, counts; the request keeps no address.
        var done = await SystemAsync(db => db.PrivacyRequests.AsNoTracking().SingleAsync(r => r.Id == request.Id));
        Assert.Equal((PrivacyRequestStatus.Completed, (string?)null), (done.Status, done.SubjectEmail));
        var tombstone = await SystemAsync(db => db.SecurityAuditLog.AsNoTracking().SingleAsync(a => a.OrgId == org.Id && a.EventType == AuditEvents.ErasureExecuted));
        var details = JsonNode.Parse(tombstone.Details)!;
        Assert.Equal((owner.Id, admin.Id), ((Guid)details["requested_by"]!, (Guid)details["approved_by"]!));
        var deleted = details["deleted"]!;
        Assert.Equal((1, 2, 1, 1, 2, 1, 2), ((int)deleted["contacts"]!, (int)deleted["activities"]!, (int)deleted["emails"]!, (int)deleted["transcripts_removed"]!,
            (int)deleted["calendar_events"]!, (int)deleted["recordings"]!, (int)deleted["stored_objects"]!));
        Assert.True((int)deleted["mentions"]! >= 5);
        page = await AdminPages.PageAsync(browser, PrivacyModel.PagePath);
        Assert.Contains("1 contacts, 2 activities", page.QuerySelector($"tr[data-request='{request.Id}'] [data-field=result]")!.TextContent);
    }

    [Fact]
    public async Task A_rejected_request_erases_nothing_and_forgets_the_address_and_an_approved_one_not_done_in_30_days_is_overdue()
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Rejecting " + Guid.NewGuid().ToString("N")[..6], UserRole.Owner, UserRole.Admin);
        var email = $"keep.{Guid.NewGuid():N}@prospect.example";
        await SeedAsync(org[1], email, $"other.{Guid.NewGuid():N}@prospect.example", KeptName);
        var requests = fixture.App.Service<PrivacyRequests>();
        var rejected = await TestData.AsAsync(fixture.App.Services, org[0], db => requests.CreateAsync(db, PrivacyRequestKind.Erasure, email, null, default));
        await Assert.ThrowsAsync<PrivacyRequestException>(() => TestData.AsAsync(fixture.App.Services, org[0],
            db => requests.CreateAsync(db, PrivacyRequestKind.Erasure, email, null, default)));   // one open request per address
        await TestData.AsAsync(fixture.App.Services, org[1], db => requests.DecideAsync(db, rejected.Id, approve: false, null, default));
        Assert.Null((await SystemAsync(db => db.PrivacyRequests.AsNoTracking().SingleAsync(r => r.Id == rejected.Id))).SubjectEmail);
        await RequestsAt(Now.AddDays(60)).ExecuteDueAsync(default);
        Assert.Equal(1, await ContactsAsync(org.Id, email));

        // Approved, but the job has not run it by 30 days after the approval (it failed, say): the page says it is overdue.
        var approved = await TestData.AsAsync(fixture.App.Services, org[0], db => requests.CreateAsync(db, PrivacyRequestKind.Erasure, email, null, default));
        await TestData.AsAsync(fixture.App.Services, org[1], db => requests.DecideAsync(db, approved.Id, approve: true, null, default));
        await SystemAsync(db => db.PrivacyRequests.Where(r => r.Id == approved.Id).ExecuteUpdateAsync(r => r.SetProperty(x => x.DecidedAt, Now.AddDays(-31))));
        var browser = await AdminPages.SignedInAsync(fixture.App, org[0]);
        var page = await AdminPages.PageAsync(browser, PrivacyModel.PagePath);
        Assert.Contains("Overdue", page.QuerySelector($"tr[data-request='{approved.Id}'] [data-field=overdue]")!.TextContent);
        var report = await AdminPages.PageAsync(browser, Security.Pages.SecurityModel.PagePath);
        Assert.Equal("Not in place", report.QuerySelector("[data-requirement=erasure] [data-field=status]")!.TextContent.Trim());
        Assert.Contains("1 approved more than 30 days ago", report.QuerySelector("[data-requirement=erasure]")!.TextContent);
    }

    [Fact]
    public async Task A_members_erasure_deletes_their_own_rows_anonymises_them_and_keeps_the_companys_records_they_own()
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Leaving " + Guid.NewGuid().ToString("N")[..6], UserRole.Owner, UserRole.Admin, UserRole.Member);
        var (owner, admin, leaver) = (org[0], org[1], org[2]);
        var name = "Lena Leaver" + Guid.NewGuid().ToString("N")[..4];
        await SystemAsync(db => db.Users.Where(u => u.Id == leaver.Id).ExecuteUpdateAsync(u => u.SetProperty(x => x.Name, name)));
        var deal = await SystemAsync(async db =>
        {
            var conversation = new Conversation { OrgId = org.Id, UserId = leaver.Id, Channel = "D0LEAVE", StartedAt = Now, LastMessageAt = Now };
            db.Conversations.Add(conversation);
            db.ConversationMessages.Add(new ConversationMessage { OrgId = org.Id, UserId = leaver.Id, ConversationId = conversation.Id, Text = "my private question" });
            db.UserPreferences.Add(new UserPreferences { OrgId = org.Id, UserId = leaver.Id });
            db.CalendarEvents.Add(new CalendarEvent { OrgId = org.Id, UserId = leaver.Id, ExternalId = "leave-" + Guid.NewGuid().ToString("N"), Title = "Dentist",
                StartTime = Now, EndTime = Now.AddHours(1), Attendees = [new() { Email = leaver.Email!, Self = true }] });
            var deal = new Deal { OrgId = org.Id, UserId = leaver.Id, Name = "Renewal", NextStep = $"{name} to send the quote" };
            db.Deals.Add(deal);
            await db.SaveChangesAsync();
            return deal.Id;
        });
        var requests = fixture.App.Service<PrivacyRequests>();
        await Assert.ThrowsAsync<PrivacyRequestException>(() => TestData.AsAsync(fixture.App.Services, admin,
            db => requests.CreateAsync(db, PrivacyRequestKind.Erasure, null, null, default, owner.Id)));   // owners first step down
        var request = await TestData.AsAsync(fixture.App.Services, owner, db => requests.CreateAsync(db, PrivacyRequestKind.Erasure, null, null, default, leaver.Id));
        await TestData.AsAsync(fixture.App.Services, admin, db => requests.DecideAsync(db, request.Id, approve: true, null, default));
        await RequestsAt(Now.AddDays(30)).ExecuteDueAsync(default);

        Assert.Equal(PrivacyRequestStatus.Completed, await StatusAsync(request.Id));
        var user = await SystemAsync(db => db.Users.AsNoTracking().SingleAsync(u => u.Id == leaver.Id));
        Assert.Equal((PrivacyRequests.ErasedMember, (string?)null, (string?)null), (user.Name, user.Email, user.SlackUserId));
        Assert.False(await SystemAsync(db => db.Conversations.AnyAsync(c => c.UserId == leaver.Id)));
        Assert.False(await SystemAsync(db => db.ConversationMessages.AnyAsync(m => m.UserId == leaver.Id)));
        Assert.False(await SystemAsync(db => db.UserPreferences.AnyAsync(p => p.UserId == leaver.Id)));
        Assert.False(await SystemAsync(db => db.CalendarEvents.AnyAsync(e => e.UserId == leaver.Id)));
        var kept = await SystemAsync(db => db.Deals.AsNoTracking().SingleAsync(d => d.Id == deal));
        Assert.Equal((leaver.Id, $"{PrivacyRequests.Erased} to send the quote"), (kept.UserId, kept.NextStep));
        var hits = await EverywhereAsync(name, leaver.Email!, leaver.SlackUserId!);
        Assert.True(hits.Count == 0, "still found in: " + string.Join(", ", hits));
        var tombstone = JsonNode.Parse((await SystemAsync(db => db.SecurityAuditLog.AsNoTracking()
            .SingleAsync(a => a.OrgId == org.Id && a.EventType == AuditEvents.ErasureExecuted))).Details)!;
        Assert.True((int)tombstone["deleted"]!["personal_rows"]! >= 3);   // a conversation (its messages go with it), preferences, a calendar event
    }

    [Fact]
    public async Task An_attendee_with_no_contact_row_loses_the_meetings_only_with_them_and_their_mentions_in_their_org_and_no_other_orgs_rows_change()
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Attendee " + Guid.NewGuid().ToString("N")[..6], UserRole.Owner, UserRole.Admin, UserRole.Member);
        var other = await TestData.CreateOrgAsync(fixture.App.Services, "Elsewhere " + Guid.NewGuid().ToString("N")[..6], UserRole.Owner);
        var rep = org[2];
        const string guest = "Greta Gastmann";
        var email = $"greta.{Guid.NewGuid():N}@visitor.example";
        var (meetingId, recordingId, keys) = await SystemAsync(async db =>
        {
            // Only in a calendar: no contact row. The meeting is tied to the calendar event only through its recording.
            var onlyHer = new CalendarEvent
            {
                OrgId = rep.OrgId, UserId = rep.Id, ExternalId = "guest-" + Guid.NewGuid().ToString("N"), Title = "Intro", StartTime = Now.AddDays(-3),
                EndTime = Now.AddDays(-3).AddMinutes(30), Attendees = [new() { Email = rep.Email!, Self = true }, new() { Email = email, Name = guest }],
            };
            db.CalendarEvents.Add(onlyHer);
            var recording = TestData.CompletedRecording(rep, onlyHer, "Intro");
            db.Recordings.Add(recording);
            var meeting = new Meeting
            {
                OrgId = rep.OrgId, OwnerUserId = rep.Id, RecordingId = recording.Id, Title = "Intro", StartTime = onlyHer.StartTime, Summary = "Wants a pilot.",
                TranscriptText = "Greta: we want a pilot.", Transcript = [new TranscriptSegment { Speaker = "Greta", Text = "We want a pilot." }],
            };
            db.Meetings.Add(meeting);
            // JSON whose structure must survive: the address as a key, the name inside a string beside a number.
            var conversation = new Conversation { OrgId = rep.OrgId, UserId = rep.Id, Channel = "D0GUEST", StartedAt = Now, LastMessageAt = Now };
            db.Conversations.Add(conversation);
            db.ConversationMessages.Add(new ConversationMessage
            {
                OrgId = rep.OrgId, UserId = rep.Id, ConversationId = conversation.Id, Text = "who was that?",
                Structured = new JsonObject { [email] = new JsonObject { ["said"] = $"{guest} said \"yes\"", ["n"] = 3 } }.ToJsonString(),
            });
            await db.SaveChangesAsync();
            // A list column (text[]) of the org's, and deliveries of this org, of another org, and of no org, all naming her.
            await db.Database.ExecuteSqlAsync($"""
                INSERT INTO org_profile (org_id, pain_points) VALUES ({rep.OrgId}, ARRAY['Slow onboarding', {guest + " wants SSO"}])
                ON CONFLICT (org_id) DO UPDATE SET pain_points = excluded.pain_points
                """);
            foreach (var owner in new Guid?[] { rep.OrgId, other.Id, null })
                await db.Database.ExecuteSqlAsync($"""
                    INSERT INTO webhook_inbox (provider, delivery_id, event, payload, received_at, org_id)
                    VALUES ('meetingbaas', {"guest-" + Guid.NewGuid()}, 'bot.completed', {$$"""{"participants": [{"email": "{{email}}"}]}"""}::jsonb, {Now}, {owner})
                    """);
            foreach (var team in new[] { org.Org.SlackTeamId, other.Org.SlackTeamId })
                await db.Database.ExecuteSqlAsync($"""
                    INSERT INTO slack_inbox (dedupe_key, kind, team_id, payload, received_at)
                    VALUES ({"guest-" + Guid.NewGuid()}, 'event', {team}, {new JsonObject { ["event"] = new JsonObject { ["text"] = $"met {guest} today" } }.ToJsonString()}::jsonb, {Now})
                    """);
            return (meeting.Id, recording.Id, new[] { recording.VideoKey!, recording.AudioKey! });
        });
        foreach (var key in keys) await fixture.S3.Store.UploadAsync(key, new MemoryStream(new byte[1024]), "application/octet-stream", default);
        var requests = fixture.App.Service<PrivacyRequests>();
        var request = await TestData.AsAsync(fixture.App.Services, org[0], db => requests.CreateAsync(db, PrivacyRequestKind.Erasure, email, null, default));
        await TestData.AsAsync(fixture.App.Services, org[1], db => requests.DecideAsync(db, request.Id, approve: true, null, default));
        await RequestsAt(Now.AddDays(30)).ExecuteDueAsync(default);
        Assert.Equal(PrivacyRequestStatus.Completed, await StatusAsync(request.Id));

        var meeting = await SystemAsync(db => db.Meetings.AsNoTracking().SingleAsync(m => m.Id == meetingId));
        Assert.Equal(((string?)null, (string?)null, true), (meeting.TranscriptText, meeting.Summary, meeting.TranscriptRemovedAt is not null));
        Assert.False(await SystemAsync(db => db.Recordings.AnyAsync(r => r.Id == recordingId)));
        foreach (var key in keys) Assert.Null(await fixture.S3.Store.OpenReadAsync(key));

        // Her org's rows name her no more, and their JSON and lists keep their shape.
        var structured = JsonNode.Parse(await SystemAsync(db => db.ConversationMessages.Where(m => m.OrgId == org.Id).Select(m => m.Structured!).SingleAsync()))!;
        var said = Assert.Single(structured.AsObject());
        Assert.Equal((PrivacyRequests.Erased, $"{PrivacyRequests.Erased} said \"yes\"", 3), (said.Key, (string)said.Value!["said"]!, (int)said.Value["n"]!));
        Assert.Equal(["Slow onboarding", $"{PrivacyRequests.Erased} wants SSO"], await SystemAsync(db => db.Database.SqlQuery<string>($"""
            SELECT unnest(pain_points) AS "Value" FROM org_profile WHERE org_id = {org.Id}
            """).ToListAsync()));

        // Other orgs' deliveries, and those that named no org, are theirs: untouched.
        Assert.Equal((0, 1, 1), await SystemAsync(async db => (
            await db.Database.SqlQuery<int>($"SELECT count(*)::int AS \"Value\" FROM webhook_inbox WHERE org_id = {org.Id} AND payload::text ILIKE {"%" + email + "%"}").SingleAsync(),
            await db.Database.SqlQuery<int>($"SELECT count(*)::int AS \"Value\" FROM webhook_inbox WHERE org_id = {other.Id} AND payload::text ILIKE {"%" + email + "%"}").SingleAsync(),
            await db.Database.SqlQuery<int>($"SELECT count(*)::int AS \"Value\" FROM webhook_inbox WHERE org_id IS NULL AND payload::text ILIKE {"%" + email + "%"}").SingleAsync())));
        Assert.Equal((0, 1), await SystemAsync(async db => (
            await db.Database.SqlQuery<int>($"SELECT count(*)::int AS \"Value\" FROM slack_inbox WHERE team_id = {org.Org.SlackTeamId} AND payload::text ILIKE {"%" + guest + "%"}").SingleAsync(),
            await db.Database.SqlQuery<int>($"SELECT count(*)::int AS \"Value\" FROM slack_inbox WHERE team_id = {other.Org.SlackTeamId} AND payload::text ILIKE {"%" + guest + "%"}").SingleAsync())));
        var tombstone = JsonNode.Parse((await SystemAsync(db => db.SecurityAuditLog.AsNoTracking()
            .SingleAsync(a => a.OrgId == org.Id && a.EventType == AuditEvents.ErasureExecuted))).Details)!["deleted"]!;
        Assert.Equal((0, 1, 1, 2), ((int)tombstone["contacts"]!, (int)tombstone["transcripts_removed"]!, (int)tombstone["recordings"]!, (int)tombstone["stored_objects"]!));
    }

    [Fact]
    public async Task An_erasure_that_keeps_failing_stops_after_five_tries_alerts_the_admins_and_runs_again_when_one_retries_it()
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Failing " + Guid.NewGuid().ToString("N")[..6], UserRole.Owner, UserRole.Admin);
        var email = $"stuck.{Guid.NewGuid():N}@prospect.example";
        await SeedAsync(org[1], email, $"fine.{Guid.NewGuid():N}@prospect.example", "Stella Stuck");
        var requests = fixture.App.Service<PrivacyRequests>();
        var request = await TestData.AsAsync(fixture.App.Services, org[0], db => requests.CreateAsync(db, PrivacyRequestKind.Erasure, email, null, default));
        await TestData.AsAsync(fixture.App.Services, org[1], db => requests.DecideAsync(db, request.Id, approve: true, null, default));

        // The database refuses to delete this org's contacts (as a lock timeout or a broken constraint would, every time).
        var trigger = "refuse_" + org.Id.ToString("N")[..12];
        await TestDatabase.ExecuteAsync(fixture.Database.SuperuserConnectionString, $"""
            CREATE FUNCTION {trigger}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'contacts are locked for maintenance'; END $$;
            CREATE TRIGGER {trigger} BEFORE DELETE ON contacts FOR EACH ROW WHEN (OLD.org_id = '{org.Id}') EXECUTE FUNCTION {trigger}();
            """);
        try
        {
            for (var hour = 0; hour < PrivacyRequests.MaxAttempts + 2; hour++)
                await RequestsAt(Now.AddDays(30).AddHours(hour)).ExecuteDueAsync(default);
        }
        finally
        {
            await TestDatabase.ExecuteAsync(fixture.Database.SuperuserConnectionString, $"DROP TRIGGER {trigger} ON contacts; DROP FUNCTION {trigger}();");
        }
        var stuck = await SystemAsync(db => db.PrivacyRequests.AsNoTracking().SingleAsync(r => r.Id == request.Id));
        Assert.Equal((PrivacyRequestStatus.Approved, PrivacyRequests.MaxAttempts, true), (stuck.Status, stuck.Attempts, stuck.GaveUp));
        Assert.Contains("contacts are locked for maintenance", stuck.Error);
        var alert = await SystemAsync(db => db.SecurityAuditLog.AsNoTracking().SingleAsync(a => a.OrgId == org.Id && a.EventType == AuditEvents.ErasureFailed));
        Assert.Equal(AuditSeverity.High, alert.Severity);
        Assert.DoesNotContain(email, alert.Details);
        Assert.Equal(1, await ContactsAsync(org.Id, email));

        // The page says so and offers Retry to the admins; a retry runs it at the next run.
        var browser = await AdminPages.SignedInAsync(fixture.App, org[0]);
        var page = await AdminPages.PageAsync(browser, PrivacyModel.PagePath);
        Assert.Contains("Stopped after 5 failed tries", page.QuerySelector($"tr[data-request='{request.Id}'] [data-field=gave-up]")!.TextContent);
        Assert.Equal(HttpStatusCode.Redirect, (await browser.PostAsync(PrivacyModel.PagePath + "?handler=Retry",
            AdminPages.Filled(page, $"tr[data-request='{request.Id}'] form[action*=Retry]", ("requestId", request.Id.ToString())))).StatusCode);
        Assert.Equal(0, (await SystemAsync(db => db.PrivacyRequests.AsNoTracking().SingleAsync(r => r.Id == request.Id))).Attempts);
        Assert.True(await SystemAsync(db => db.SecurityAuditLog.AnyAsync(a => a.OrgId == org.Id && a.EventType == AuditEvents.ErasureRetried && a.UserId == org[0].Id)));
        await RequestsAt(Now.AddDays(31)).ExecuteDueAsync(default);
        Assert.Equal((PrivacyRequestStatus.Completed, 0), (await StatusAsync(request.Id), await ContactsAsync(org.Id, email)));
    }

    sealed record Seeded(Guid Task, Guid Deal, Guid SharedEvent, IReadOnlyList<string> Keys, string SharedRecordingKey);

    /// <summary>The person, across every table that can hold them, next to a bystander who must stay.</summary>
    async Task<Seeded> SeedAsync(AppUser rep, string email, string bystander, string Name = Name)
    {
        var (first, last) = (Name.Split(' ')[0], Name.Split(' ')[1]);
        var keys = new List<string>();
        string sharedKey = "";
        var (task, deal, sharedEvent) = await SystemAsync(async db =>
        {
            var olga = new Contact { OrgId = rep.OrgId, UserId = rep.Id, FirstName = first, LastName = last, Email = email, Title = "COO", ConsentObtained = true, ConsentAt = Now, ConsentSource = ConsentSource.Meeting };
            var ben = new Contact { OrgId = rep.OrgId, UserId = rep.Id, FirstName = "Ben", LastName = "Bystander", Email = bystander };
            db.AddRange(olga, ben);
            db.Activities.Add(new Activity { OrgId = rep.OrgId, UserId = rep.Id, ContactId = olga.Id, Type = ActivityType.Call, Subject = $"Call with {Name}", Details = $"Reached her at {email}", OccurredAt = Now.AddDays(-3) });
            db.Activities.Add(new Activity { OrgId = rep.OrgId, UserId = rep.Id, ContactId = olga.Id, Type = ActivityType.Email, Subject = "Pricing", OccurredAt = Now.AddDays(-2) });
            db.Activities.Add(new Activity { OrgId = rep.OrgId, UserId = rep.Id, ContactId = ben.Id, Type = ActivityType.Note, Subject = $"Ben says {Name} decides", OccurredAt = Now.AddDays(-1) });
            var task = new CrmTask { OrgId = rep.OrgId, UserId = rep.Id, ContactId = olga.Id, Title = $"Send {Name} the deck", Notes = $"to {email}", DueDate = new DateOnly(2026, 11, 30) };
            var deal = new Deal { OrgId = rep.OrgId, UserId = rep.Id, PrimaryContactId = olga.Id, Name = "Prospect pilot", NextStep = $"{Name} to sign" };
            db.AddRange(task, deal);
            db.OutboundEmails.Add(new OutboundEmail { OrgId = rep.OrgId, UserId = rep.Id, ContactId = olga.Id, ToAddress = email, ToName = Name, Subject = "Next steps", Body = $"Hi {Name}," });
            var conversation = new Conversation { OrgId = rep.OrgId, UserId = rep.Id, Channel = "D0ERASE", StartedAt = Now, LastMessageAt = Now };
            db.Conversations.Add(conversation);
            db.ConversationMessages.Add(new ConversationMessage { OrgId = rep.OrgId, UserId = rep.Id, ConversationId = conversation.Id, Text = $"email {email} about the pilot", Structured = $$"""{"to": "{{email.ToUpperInvariant()}}", "name": "{{Name}}"}""" });
            db.SlackOutbox.Add(new OutboxMessage { OrgId = rep.OrgId, UserId = rep.Id, Kind = OutboxKind.Post, Channel = "D0ERASE", Message = $$"""{"text": "Meeting with {{Name}} at 10"}""", Source = "test" });

            // Fresh attendee objects per event: EF keeps each owned JSON entity with one owner.
            List<Attendee> Attendees() => [new() { Email = rep.Email!, Self = true }, new() { Email = email.ToUpperInvariant(), Name = Name }];
            var alone = new CalendarEvent { OrgId = rep.OrgId, UserId = rep.Id, ExternalId = "erase-" + Guid.NewGuid().ToString("N"), Title = $"Demo with {Name}", StartTime = Now.AddDays(-5), EndTime = Now.AddDays(-5).AddMinutes(30), Attendees = Attendees() };
            var shared = new CalendarEvent { OrgId = rep.OrgId, UserId = rep.Id, ExternalId = "erase-" + Guid.NewGuid().ToString("N"), Title = "Steering group", StartTime = Now.AddDays(-4), EndTime = Now.AddDays(-4).AddMinutes(30), Attendees = [.. Attendees(), new() { Email = bystander, Name = "Ben Bystander" }] };
            db.CalendarEvents.AddRange(alone, shared);
            db.Meetings.Add(new Meeting
            {
                OrgId = rep.OrgId, OwnerUserId = rep.Id, CalendarEventId = alone.Id, Title = $"Demo with {Name}", StartTime = alone.StartTime, Notes = $"{Name} wants SSO",
                Summary = "SSO first.", TranscriptText = $"{Name}: we need SSO.", Transcript = [new TranscriptSegment { Speaker = Name, Text = "We need SSO." }],
            });
            db.Meetings.Add(new Meeting
            {
                OrgId = rep.OrgId, OwnerUserId = rep.Id, CalendarEventId = shared.Id, Title = "Steering group", StartTime = shared.StartTime,
                TranscriptText = $"{Name}: budget is fine.\nBen Bystander: agreed.",
                Transcript = [new TranscriptSegment { Speaker = Name, Text = "Budget is fine." }, new TranscriptSegment { Speaker = "Ben Bystander", Text = "Agreed." }],
            });
            foreach (var (calendarEvent, title) in new[] { (alone, $"Demo with {Name}"), (shared, "Steering group") })
            {
                var recording = TestData.CompletedRecording(rep, calendarEvent, title);
                db.Recordings.Add(recording);
                if (calendarEvent == alone) keys.AddRange([recording.VideoKey!, recording.AudioKey!]);
                else sharedKey = recording.VideoKey!;
            }
            await db.SaveChangesAsync();
            await db.Database.ExecuteSqlAsync($"""
                INSERT INTO webhook_inbox (provider, delivery_id, event, payload, received_at, org_id)
                VALUES ('meetingbaas', {"erase-" + Guid.NewGuid()}, 'bot.completed', {$$"""{"participants": [{"name": "{{Name}}", "email": "{{email}}"}]}"""}::jsonb, {Now},
                        {rep.OrgId})
                """);
            return (task.Id, deal.Id, shared.Id);
        });
        var keyed = await SystemAsync(db => db.Recordings.AsNoTracking().Where(r => r.OrgId == rep.OrgId).ToListAsync());
        foreach (var recording in keyed)
            foreach (var key in new[] { recording.VideoKey, recording.AudioKey }.OfType<string>())
                await fixture.S3.Store.UploadAsync(key, new MemoryStream(new byte[2048]), "application/octet-stream", default);
        return new Seeded(task, deal, sharedEvent, keys, sharedKey);
    }

    PrivacyRequests RequestsAt(DateTimeOffset instant) =>
        ActivatorUtilities.CreateInstance<PrivacyRequests>(fixture.App.Services, (TimeProvider)new FakeTimeProvider(instant),
            new ContactDeletion(fixture.App.Service<OrgKeyring>(), fixture.App.Service<IRecordingStore>(), new FakeTimeProvider(instant)));

    Task<PrivacyRequestStatus> StatusAsync(Guid id) => SystemAsync(db => db.PrivacyRequests.Where(r => r.Id == id).Select(r => r.Status).SingleAsync());

    /// <summary>The org's contacts whose email is <paramref name="email"/> (found by its blind index: emails are sealed at rest).</summary>
    async Task<int> ContactsAsync(Guid orgId, string email)
    {
        var hash = (await fixture.App.Service<OrgKeyring>().GetAsync(orgId, create: false, default))?.BlindIndex(email);
        return await SystemAsync(db => db.Contacts.CountAsync(c => c.OrgId == orgId && c.EmailHash == hash));
    }

    /// <summary>Every table.column (text, varchar, json, jsonb, text[]) of the whole database that holds any of <paramref name="needles"/>, in any case.</summary>
    async Task<List<string>> EverywhereAsync(params string[] needles)
    {
        await using var connection = new NpgsqlConnection(fixture.Database.SuperuserConnectionString);
        await connection.OpenAsync();
        var columns = new List<(string Table, string Column)>();
        await using (var list = new NpgsqlCommand("""
            SELECT c.table_name, c.column_name FROM information_schema.columns c
            JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
            WHERE c.table_schema = 'public' AND (c.data_type IN ('text', 'character varying', 'json', 'jsonb') OR c.udt_name = '_text')
            """, connection))
        await using (var reader = await list.ExecuteReaderAsync())
            while (await reader.ReadAsync()) columns.Add((reader.GetString(0), reader.GetString(1)));
        var found = new List<string>();
        foreach (var (table, column) in columns)
        foreach (var needle in needles)
        {
            await using var count = new NpgsqlCommand($"SELECT count(*) FROM \"{table}\" WHERE \"{column}\"::text ILIKE @needle", connection);
            count.Parameters.AddWithValue("needle", "%" + needle + "%");
            if ((long)(await count.ExecuteScalarAsync())! > 0) found.Add($"{table}.{column} ({needle})");
        }
        Assert.True(columns.Count > 50, $"expected the database's text columns, found {columns.Count}");
        return found;
    }

    async Task<T> SystemAsync<T>(Func<Use60Db, Task<T>> work)
    {
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        return await work(db);
    }
}
