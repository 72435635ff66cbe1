using System.Net;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Use60.Calendar;
using Use60.Copilot;
using Use60.Crm;
using Use60.Data;
using Use60.Orgs;
using Use60.Orgs.Pages;
using Use60.Privacy;
using Use60.Recordings;
using Use60.Security;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

public sealed class RetentionFixture : IAsyncLifetime
{
    public static readonly DateTimeOffset Now = new(2026, 11, 23, 2, 0, 0, TimeSpan.Zero);
    public FakeTimeProvider Clock { get; } = new(Now);
    public TestDatabase Database { get; private set; } = null!;
    public Use60App App { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Database = await TestDatabase.CreateAsync();
        App = new Use60App(Database, new Dictionary<string, string?>(), clock: Clock);
    }

    public async Task DisposeAsync()
    {
        await App.DisposeAsync();
        await Database.DisposeAsync();
    }
}

/// <summary>Consent and retention: the nightly job deletes contacts past their date (and what hangs off them), and ages conversations out.</summary>
public sealed class RetentionTests(RetentionFixture fixture) : IClassFixture<RetentionFixture>
{
    static readonly DateTimeOffset Now = RetentionFixture.Now;

    [Fact]
    public async Task Contacts_past_their_date_go_with_their_activities_and_emails_and_a_meeting_only_with_them_loses_its_transcript_and_recording()
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Retained " + Guid.NewGuid().ToString("N")[..6], UserRole.Owner, UserRole.Member);
        var rep = org[1];
        await SettingsAsync(org.Id, autoDelete: true);
        var old = await ContactAsync(rep, "Olga", lastActivity: Now.AddDays(-731));
        var european = await ContactAsync(rep, "Elke", lastActivity: Now.AddDays(-366), eu: true);
        var withdrawn = await ContactAsync(rep, "Wanda", lastActivity: Now.AddDays(-1), withdrawnAt: Now.AddDays(-1));
        var recent = await ContactAsync(rep, "Rita", lastActivity: Now.AddDays(-700));
        var recentEuropean = await ContactAsync(rep, "Eva", lastActivity: Now.AddDays(-300), eu: true);

        // What hangs off Olga: an email sent to her, a task and a deal naming her, a meeting with only her, and one with Rita too.
        var (task, deal, alone, together) = await SystemAsync(async db =>
        {
            db.OutboundEmails.Add(new OutboundEmail { OrgId = org.Id, UserId = rep.Id, ContactId = old.Id, ToAddress = old.Email!, Subject = "Hello", Body = "Hi Olga" });
            var task = new CrmTask { OrgId = org.Id, UserId = rep.Id, ContactId = old.Id, Title = "Call Olga back", DueDate = new DateOnly(2024, 11, 1) };
            var deal = new Deal { OrgId = org.Id, UserId = rep.Id, PrimaryContactId = old.Id, Name = "Olga's pilot" };
            db.AddRange(task, deal);
            await db.SaveChangesAsync();
            return (task.Id, deal.Id, await MeetingAsync(db, rep, "Just Olga", old), await MeetingAsync(db, rep, "Olga and Rita", old, recent));
        });

        // An org that did not turn auto-delete on keeps its old contacts.
        var other = await TestData.CreateOrgAsync(fixture.App.Services, "Keeps " + Guid.NewGuid().ToString("N")[..6], UserRole.Owner);
        var untouched = await ContactAsync(other[0], "Otto", lastActivity: Now.AddDays(-2000));

        var run = await RetentionAt(Now).RunAsync(default);
        Assert.True(run.Deleted.Contacts >= 3);

        var left = await SystemAsync(db => db.Contacts.AsNoTracking().Where(c => c.OrgId == org.Id).Select(c => c.Id).ToListAsync());
        Assert.Equal(new[] { recent.Id, recentEuropean.Id }.Order(), left.Order());
        Assert.True(await SystemAsync(db => db.Contacts.AnyAsync(c => c.Id == untouched.Id)));
        var deletedIds = new[] { old.Id, european.Id, withdrawn.Id };
        Assert.False(await SystemAsync(db => db.Activities.AnyAsync(a => a.ContactId != null && deletedIds.Contains(a.ContactId.Value))));
        Assert.Equal(2, await SystemAsync(db => db.Activities.CountAsync(a => a.OrgId == org.Id)));   // Rita's and Eva's
        Assert.False(await SystemAsync(db => db.OutboundEmails.AnyAsync(e => e.OrgId == org.Id)));
        Assert.Null((await SystemAsync(db => db.Tasks.AsNoTracking().SingleAsync(t => t.Id == task))).ContactId);
        Assert.Null((await SystemAsync(db => db.Deals.AsNoTracking().SingleAsync(d => d.Id == deal))).PrimaryContactId);

        var store = fixture.App.Service<IRecordingStore>();
        Assert.False(await SystemAsync(db => db.Recordings.AnyAsync(r => r.Id == alone.Recording)));   // with its stored video
        Assert.Null(await store.OpenReadAsync(alone.VideoKey));
        Assert.True(await SystemAsync(db => db.Recordings.AnyAsync(r => r.Id == together.Recording)));
        await using (var kept = await store.OpenReadAsync(together.VideoKey)) Assert.NotNull(kept);
        var soloMeeting = await SystemAsync(db => db.Meetings.AsNoTracking().SingleAsync(m => m.Id == alone.Meeting));
        Assert.Equal((null, null, null, Now), (soloMeeting.TranscriptText, soloMeeting.Transcript, soloMeeting.Summary, soloMeeting.TranscriptRemovedAt));
        Assert.Equal("Just Olga", soloMeeting.Title);
        var shared = await SystemAsync(db => db.Meetings.AsNoTracking().SingleAsync(m => m.Id == together.Meeting));
        Assert.NotNull(shared.TranscriptText);
        Assert.Null(shared.TranscriptRemovedAt);

        // The audit log counts what went and names nobody.
        var audit = await SystemAsync(db => db.SecurityAuditLog.AsNoTracking()
            .Where(a => a.OrgId == org.Id && a.EventType == AuditEvents.RetentionDeleted).ToListAsync());
        var details = JsonNode.Parse(Assert.Single(audit).Details)!;
        Assert.Equal((3, 3, 1, 1, 1, 1), ((int)details["contacts"]!, (int)details["activities"]!, (int)details["emails"]!, (int)details["transcripts_removed"]!,
            (int)details["recordings"]!, (int)details["stored_objects"]!));
        Assert.DoesNotContain("Olga", audit[0].Details);

        // The next night: nothing more is due here, nothing is written.
        await RetentionAt(Now.AddDays(1)).RunAsync(default);
        Assert.Equal(2, await SystemAsync(db => db.Contacts.CountAsync(c => c.OrgId == org.Id)));
        Assert.Single(await SystemAsync(db => db.SecurityAuditLog.Where(a => a.OrgId == org.Id && a.EventType == AuditEvents.RetentionDeleted).ToListAsync()));
    }

    [Fact]
    public async Task Conversations_are_archived_after_a_year_without_messages_and_deleted_after_the_orgs_retention_period()
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Chatty " + Guid.NewGuid().ToString("N")[..6], UserRole.Member);
        await SettingsAsync(org.Id, autoDelete: false, days: 500);   // conversations age out whether or not contacts are auto-deleted
        var rep = org[0];
        var (fresh, idle, expired) = await SystemAsync(async db =>
        {
            Conversation Add(int daysAgo)
            {
                var at = Now.AddDays(-daysAgo);
                var conversation = new Conversation { OrgId = org.Id, UserId = rep.Id, Channel = "D0TEST", StartedAt = at, LastMessageAt = at };
                db.Conversations.Add(conversation);
                db.ConversationMessages.Add(new ConversationMessage { OrgId = org.Id, UserId = rep.Id, ConversationId = conversation.Id, Text = "pipeline?" });
                return conversation;
            }
            var conversations = (Add(100), Add(400), Add(501));
            await db.SaveChangesAsync();
            return (conversations.Item1.Id, conversations.Item2.Id, conversations.Item3.Id);
        });

        await RetentionAt(Now).RunAsync(default);

        var left = await SystemAsync(db => db.Conversations.AsNoTracking().Where(c => c.OrgId == org.Id).ToDictionaryAsync(c => c.Id, c => c.ArchivedAt));
        Assert.Equal(new[] { fresh, idle }.Order(), left.Keys.Order());
        Assert.Equal(((DateTimeOffset?)null, (DateTimeOffset?)Now), (left[fresh], left[idle]));
        Assert.False(await SystemAsync(db => db.ConversationMessages.AnyAsync(m => m.ConversationId == expired)));
    }

    [Fact]
    public async Task The_retention_policy_is_validated_saved_and_audited_on_the_settings_page_with_what_is_due()
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Policy " + Guid.NewGuid().ToString("N")[..6], UserRole.Admin);
        await ContactAsync(org[0], "Dora", lastActivity: Now.AddDays(-800));
        await ContactAsync(org[0], "Sam", lastActivity: Now.AddDays(-720));
        await ContactAsync(org[0], "Nina", lastActivity: Now.AddDays(-10));
        var browser = await AdminPages.SignedInAsync(fixture.App, org[0]);
        var page = await AdminPages.HtmlAsync(await browser.GetAsync(SettingsModel.PagePath));
        Assert.Contains("1 contacts are past their date now; 1 more", page.QuerySelector("[data-field=retention-due]")!.TextContent);

        var refused = await AdminPages.HtmlAsync(await browser.PostAsync(SettingsModel.PagePath + "?handler=Retention",
            AdminPages.Filled(page, "form[action*=Retention]", ("retentionDays", "300"), ("euRetentionDays", "400"))));
        Assert.Contains("may not be kept longer", refused.QuerySelector("#eu-retention-problem")!.TextContent);
        refused = await AdminPages.HtmlAsync(await browser.PostAsync(SettingsModel.PagePath + "?handler=Retention",
            AdminPages.Filled(page, "form[action*=Retention]", ("retentionDays", "10"), ("euRetentionDays", "x"))));
        Assert.Contains("from 30 to 3650", refused.QuerySelector("#retention-problem")!.TextContent);
        Assert.Contains("from 30 to 3650", refused.QuerySelector("#eu-retention-problem")!.TextContent);

        var saved = await browser.PostAsync(SettingsModel.PagePath + "?handler=Retention",
            AdminPages.Filled(page, "form[action*=Retention]", ("retentionDays", "365"), ("euRetentionDays", "180"), ("autoDelete", "true")));
        Assert.Equal(HttpStatusCode.Redirect, saved.StatusCode);
        var settings = await SystemAsync(db => db.OrgSettings.AsNoTracking().SingleAsync(s => s.OrgId == org.Id));
        Assert.Equal((365, 180, true), (settings.RetentionDays, settings.EuRetentionDays, settings.AutoDelete));
        var entry = await SystemAsync(db => db.SecurityAuditLog.AsNoTracking().Where(a => a.OrgId == org.Id && a.EventType == AuditEvents.SettingsChanged)
            .OrderByDescending(a => a.Id).FirstAsync());
        var details = JsonNode.Parse(entry.Details)!;
        Assert.Equal(("retention", 730, 365, false, true), ((string)details["section"]!, (int)details["before"]!["retention_days"]!,
            (int)details["after"]!["retention_days"]!, (bool)details["before"]!["auto_delete"]!, (bool)details["after"]!["auto_delete"]!));
        page = await AdminPages.HtmlAsync(await browser.GetAsync(SettingsModel.PagePath));
        Assert.Contains("2 contacts are past their date now", page.QuerySelector("[data-field=retention-due]")!.TextContent);
    }

    PrivacyRetention RetentionAt(DateTimeOffset instant) =>
        ActivatorUtilities.CreateInstance<PrivacyRetention>(fixture.App.Services, (TimeProvider)new FakeTimeProvider(instant),
            new ContactDeletion(fixture.App.Service<OrgKeyring>(), fixture.App.Service<IRecordingStore>(), new FakeTimeProvider(instant)));

    Task SettingsAsync(Guid orgId, bool autoDelete, int days = 730, int euDays = 365) => SystemAsync(db => db.OrgSettings.Where(s => s.OrgId == orgId)
        .ExecuteUpdateAsync(s => s.SetProperty(x => x.AutoDelete, autoDelete).SetProperty(x => x.RetentionDays, days).SetProperty(x => x.EuRetentionDays, euDays)));

    /// <summary>A contact of <paramref name="rep"/> whose last activity was at <paramref name="lastActivity"/>.</summary>
    Task<Contact> ContactAsync(AppUser rep, string name, DateTimeOffset lastActivity, bool eu = false, DateTimeOffset? withdrawnAt = null) => SystemAsync(async db =>
    {
        var contact = new Contact
        {
            OrgId = rep.OrgId, UserId = rep.Id, FirstName = name, LastName = "Prospect", Email = $"{name.ToLowerInvariant()}.{Guid.NewGuid():N}@prospect.example",
            EuResident = eu, ConsentObtained = true, ConsentAt = lastActivity.AddDays(-30), ConsentSource = ConsentSource.Manual, ConsentWithdrawnAt = withdrawnAt,
        };
        db.Contacts.Add(contact);
        db.Activities.Add(new Activity { OrgId = rep.OrgId, UserId = rep.Id, ContactId = contact.Id, Type = ActivityType.Call, Subject = $"Call with {name}", OccurredAt = lastActivity });
        await db.SaveChangesAsync();
        return contact;
    });

    /// <summary>A transcribed meeting on a calendar event whose outside attendees are <paramref name="people"/>.</summary>
    /// <summary>A meeting with <paramref name="people"/>, its calendar event, and its notetaker recording (a video in the store).</summary>
    async Task<(Guid Meeting, Guid Recording, string VideoKey)> MeetingAsync(Use60Db db, AppUser rep, string title, params Contact[] people)
    {
        var calendarEvent = new CalendarEvent
        {
            OrgId = rep.OrgId, UserId = rep.Id, ExternalId = "retention-" + Guid.NewGuid().ToString("N"), Title = title, StartTime = Now.AddDays(-800),
            EndTime = Now.AddDays(-800).AddMinutes(30),
            Attendees = [new() { Email = rep.Email!, Self = true }, .. people.Select(p => new Attendee { Email = p.Email!.ToUpperInvariant(), Name = p.FullName })],
        };
        var meeting = new Meeting
        {
            OrgId = rep.OrgId, OwnerUserId = rep.Id, CalendarEventId = calendarEvent.Id, Title = title, StartTime = calendarEvent.StartTime,
            Summary = "They liked the pilot.", TranscriptText = string.Join('\n', people.Select(p => $"{p.FirstName}: we liked the pilot.")),
            Transcript = [.. people.Select(p => new TranscriptSegment { Speaker = p.FirstName, Text = "We liked the pilot." })],
        };
        var recording = TestData.CompletedRecording(rep, calendarEvent, title);
        recording.AudioKey = null;   // the video alone was kept
        meeting.RecordingId = recording.Id;
        db.AddRange(calendarEvent, recording, meeting);
        await db.SaveChangesAsync();
        await fixture.App.Service<IRecordingStore>().UploadAsync(recording.VideoKey!, new MemoryStream(new byte[1024]), "video/mp4", default);
        return (meeting.Id, recording.Id, recording.VideoKey!);
    }

    async Task<T> SystemAsync<T>(Func<Use60Db, Task<T>> work)
    {
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        return await work(db);
    }
}
