using System.IO.Compression;
using System.Net;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Use60.Calendar;
using Use60.Copilot;
using Use60.Crm;
using Use60.Data;
using Use60.Orgs;
using Use60.Privacy;
using Use60.Privacy.Pages;
using Use60.Security;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>
/// Exports: a person's (an access request), the whole org's, and a user's own conversations; written by the job into the store, downloaded
/// once through a link that expires 24 hours after the export is ready; conversation exports limited to 10 an hour; all audited.
/// </summary>
public sealed class ExportTests(ErasureFixture fixture) : IClassFixture<ErasureFixture>
{
    const string Secret = "SECRET-CONVO-TEXT";
    DateTimeOffset Now => fixture.Clock.GetUtcNow();
    PrivacyExports Exports => fixture.App.Service<PrivacyExports>();

    [Fact]
    public async Task An_access_request_makes_a_person_export_with_json_and_csv_of_their_rows_only_downloaded_once_and_audited()
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Exporting " + Guid.NewGuid().ToString("N")[..6], UserRole.Owner, UserRole.Member);
        var (owner, rep) = (org[0], org[1]);
        var email = $"petra.{Guid.NewGuid():N}@prospect.example";
        var bystander = $"bea.{Guid.NewGuid():N}@prospect.example";
        await SeedAsync(rep, email, bystander);

        var browser = await AdminPages.SignedInAsync(fixture.App, owner);
        var page = await AdminPages.PageAsync(browser, PrivacyModel.PagePath);
        Assert.Equal(HttpStatusCode.Redirect, (await browser.PostAsync(PrivacyModel.PagePath + "?handler=Create",
            AdminPages.Filled(page, "#new-request", ("Email", email), ("Kind", "Access")))).StatusCode);
        var export = await SystemAsync(db => db.PrivacyExports.AsNoTracking().SingleAsync(e => e.OrgId == org.Id));
        Assert.Equal((ExportKind.Person, ExportStatus.Queued, email), (export.Kind, export.Status, export.SubjectEmail));

        await Exports.RunAsync(default);
        export = await SystemAsync(db => db.PrivacyExports.AsNoTracking().SingleAsync(e => e.Id == export.Id));
        Assert.Equal((ExportStatus.Ready, Now + PrivacyExports.LinkLifetime, PrivacyExports.KeyFor(org.Id, export.Id)), (export.Status, export.ExpiresAt, export.ObjectKey));
        Assert.True(export.RowsTotal > 0);
        Assert.Equal(export.RowsTotal, export.RowsDone);
        var request = await SystemAsync(db => db.PrivacyRequests.AsNoTracking().SingleAsync(r => r.OrgId == org.Id));
        Assert.Equal((PrivacyRequestStatus.Completed, (string?)null), (request.Status, request.SubjectEmail));

        // The link, shown once on the page to the owner; the ZIP holds their rows and none of the bystander's.
        page = await AdminPages.PageAsync(browser, PrivacyModel.PagePath);
        Assert.Equal("Answered with an export of 8 rows", page.QuerySelector($"tr[data-request='{request.Id}'] [data-field=result]")!.TextContent.Trim());
        var link = await LinkFromPageAsync(browser, export.Id);
        var zip = await DownloadAsync(link);
        Assert.Equal(["activities", "calendar_events", "contacts", "deals", "emails", "meetings", "tasks"],
            zip.Keys.Where(k => k.EndsWith(".json")).Select(k => k[..^5]).Order());
        Assert.All(zip.Keys.Where(k => k.EndsWith(".json")), json => Assert.Contains(json[..^5] + ".csv", zip.Keys));
        Assert.Contains(email, zip["contacts.json"]);
        Assert.Contains(email, zip["contacts.csv"]);
        Assert.Contains("Petra", zip["contacts.csv"]);
        Assert.DoesNotContain("email_sealed", zip["contacts.json"]);
        Assert.Contains("We need SSO", zip["meetings.json"]);
        Assert.Contains(email.ToUpperInvariant(), zip["calendar_events.json"]);
        Assert.Contains($"Send Petra the deck", zip["tasks.csv"]);
        Assert.Contains("Petra pilot", zip["deals.json"]);
        Assert.Contains("Next steps", zip["emails.csv"]);
        foreach (var (name, text) in zip)
        {
            Assert.DoesNotContain(bystander, text, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("Bea", text);
            Assert.DoesNotContain(Secret, text);
        }

        // Once: the second use gets a page saying so, the object is gone, and the page says downloaded.
        var again = await fixture.App.Client().GetAsync(link.PathAndQuery);
        Assert.Equal(HttpStatusCode.Gone, again.StatusCode);
        Assert.Contains("already", (await AdminPages.HtmlAsync(again)).QuerySelector("[data-field=reason]")!.TextContent);
        Assert.Null(await fixture.S3.Store.OpenReadAsync(export.ObjectKey!));
        page = await AdminPages.PageAsync(browser, PrivacyModel.PagePath);
        Assert.Equal("downloaded", page.QuerySelector($"tr[data-export='{export.Id}']")!.GetAttribute("data-status"));
        Assert.Null((await SystemAsync(db => db.PrivacyExports.AsNoTracking().SingleAsync(e => e.Id == export.Id))).SubjectEmail);

        var audited = await SystemAsync(db => db.SecurityAuditLog.AsNoTracking().Where(a => a.OrgId == org.Id && a.EventType.StartsWith("privacy.export"))
            .OrderBy(a => a.OccurredAt).ToListAsync());
        Assert.Equal([AuditEvents.ExportCreated, AuditEvents.ExportDownloaded], audited.Select(a => a.EventType));
        Assert.All(audited, a => Assert.Equal(owner.Id, a.UserId));
        Assert.All(audited, a => Assert.Contains(export.Id.ToString(), a.Details));
        Assert.All(audited, a => Assert.DoesNotContain(email, a.Details));
        var report = await AdminPages.PageAsync(browser, Security.Pages.SecurityModel.PagePath);
        Assert.Contains("1 exports made this month, 1 downloaded", report.QuerySelector("[data-requirement=exports] [data-field=explanation]")!.TextContent);
    }

    [Fact]
    public async Task The_org_export_covers_the_crm_tables_and_no_conversation_text_and_its_link_does_not_work_after_24_hours()
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Whole " + Guid.NewGuid().ToString("N")[..6], UserRole.Owner, UserRole.Member);
        await SeedAsync(org[1], $"petra.{Guid.NewGuid():N}@prospect.example", $"bea.{Guid.NewGuid():N}@prospect.example");
        var browser = await AdminPages.SignedInAsync(fixture.App, org[0]);
        var page = await AdminPages.PageAsync(browser, PrivacyModel.PagePath);
        Assert.Equal(HttpStatusCode.Redirect, (await browser.PostAsync(PrivacyModel.PagePath + "?handler=ExportOrg", AdminPages.FormOf(page, "#export-org"))).StatusCode);
        var export = await SystemAsync(db => db.PrivacyExports.AsNoTracking().SingleAsync(e => e.OrgId == org.Id));
        Assert.Equal(ExportKind.Org, export.Kind);
        // A member can neither see nor make one (row-level security: owners and admins).
        Assert.Empty(await TestData.AsAsync(fixture.App.Services, org[1], db => db.PrivacyExports.ToListAsync()));
        await Assert.ThrowsAnyAsync<Exception>(() => TestData.AsAsync(fixture.App.Services, org[1], db => Exports.CreateOrgExportAsync(db, null, default)));

        // While the job writes it, the page shows how far it has got (what the job saves after each page of rows).
        await SystemAsync(db => db.PrivacyExports.Where(e => e.Id == export.Id)
            .ExecuteUpdateAsync(e => e.SetProperty(x => x.Status, ExportStatus.Running).SetProperty(x => x.RowsDone, 3).SetProperty(x => x.RowsTotal, 9)));
        page = await AdminPages.PageAsync(browser, PrivacyModel.PagePath);
        Assert.Equal("Writing: 3 of 9 rows", page.QuerySelector($"tr[data-export='{export.Id}'] [data-field=progress]")!.TextContent.Trim());
        await SystemAsync(db => db.PrivacyExports.Where(e => e.Id == export.Id).ExecuteUpdateAsync(e => e.SetProperty(x => x.Status, ExportStatus.Queued)));

        await Exports.RunAsync(default);
        export = await SystemAsync(db => db.PrivacyExports.AsNoTracking().SingleAsync(e => e.Id == export.Id));
        Assert.Equal(ExportStatus.Ready, export.Status);
        Assert.Equal(9, export.RowsTotal);   // 2 contacts, 3 activities, 1 task, 1 deal, 1 meeting, 1 calendar event (companies: none)
        Assert.Equal(export.RowsTotal, export.RowsDone);

        var zip = await ReadObjectAsync(export.ObjectKey!);
        Assert.Equal(["activities", "calendar_events", "companies", "contacts", "deals", "meetings", "tasks"],
            zip.Keys.Where(k => k.EndsWith(".csv")).Select(k => k[..^4]).Order());
        Assert.All(zip.Values, text => Assert.DoesNotContain(Secret, text));
        Assert.DoesNotContain(zip.Keys, k => k.Contains("conversation") || k.Contains("message"));
        Assert.Contains("Bea", zip["contacts.csv"]);

        // 24 hours after it was ready the link no longer works, and the job deletes the file.
        var link = await LinkFromPageAsync(browser, export.Id);
        fixture.Clock.Advance(PrivacyExports.LinkLifetime + TimeSpan.FromMinutes(1));
        var late = await fixture.App.Client().GetAsync(link.PathAndQuery);
        Assert.Equal(HttpStatusCode.Gone, late.StatusCode);
        Assert.Contains("expired", (await AdminPages.HtmlAsync(late)).QuerySelector("[data-field=reason]")!.TextContent);
        await Exports.RunAsync(default);
        Assert.Equal(ExportStatus.Expired, (await SystemAsync(db => db.PrivacyExports.AsNoTracking().SingleAsync(e => e.Id == export.Id))).Status);
        Assert.Null(await fixture.S3.Store.OpenReadAsync(export.ObjectKey!));
        Assert.Equal(HttpStatusCode.Gone, (await fixture.App.Client().GetAsync("/exports/not-a-real-token-at-all-xxxxxxxxxxxx")).StatusCode);
    }

    [Fact]
    public async Task The_11th_conversation_export_in_an_hour_is_refused_with_the_time_in_the_users_zone_and_audited_and_a_ready_one_is_dmed()
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Talkers " + Guid.NewGuid().ToString("N")[..6], UserRole.Owner, UserRole.Member);
        var (owner, rep) = (org[0], org[1]);
        await SeedAsync(rep, $"petra.{Guid.NewGuid():N}@prospect.example", $"bea.{Guid.NewGuid():N}@prospect.example");
        await SeedConversationAsync(owner, "the owner's own question");
        await SystemAsync(db => db.Users.Where(u => u.Id == rep.Id).ExecuteUpdateAsync(u => u.SetProperty(x => x.TimeZone, "Europe/Berlin")));

        var first = Now;
        for (var i = 0; i < PrivacyExports.ConversationExportsPerHour; i++)
        {
            await TestData.AsAsync(fixture.App.Services, rep, db => Exports.CreateConversationExportAsync(db, null, default));
            fixture.Clock.Advance(TimeSpan.FromMinutes(2));
        }
        var refused = await Assert.ThrowsAsync<ExportRefusedException>(() =>
            TestData.AsAsync(fixture.App.Services, rep, db => Exports.CreateConversationExportAsync(db, null, default)));
        Assert.Equal(first.AddHours(1), refused.RetryAt);
        Assert.Contains($"{TimeZoneInfo.ConvertTime(first.AddHours(1), TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin")):HH:mm} (Europe/Berlin)", refused.Message);
        var audit = await SystemAsync(db => db.SecurityAuditLog.AsNoTracking().Where(a => a.OrgId == org.Id && a.UserId == rep.Id).ToListAsync());
        Assert.Equal(10, audit.Count(a => a.EventType == AuditEvents.ConversationExported));
        Assert.Single(audit, a => a.EventType == AuditEvents.ExportRefused);

        // Private to the rep: the owner (an admin of the org) does not see them.
        Assert.Empty(await TestData.AsAsync(fixture.App.Services, owner, db => db.PrivacyExports.ToListAsync()));
        Assert.Equal(10, (await TestData.AsAsync(fixture.App.Services, rep, db => db.PrivacyExports.ToListAsync())).Count);

        // Once the hour since the first is over, one more is accepted.
        fixture.Clock.Advance(first.AddHours(1) - Now + TimeSpan.FromSeconds(1));
        await TestData.AsAsync(fixture.App.Services, rep, db => Exports.CreateConversationExportAsync(db, null, default));

        await Exports.RunAsync(default);
        var dms = await SystemAsync(db => db.SlackOutbox.AsNoTracking().Where(m => m.OrgId == org.Id && m.UserId == rep.Id && m.Source.StartsWith("conversation export"))
            .Select(m => m.Message).ToListAsync());
        Assert.Equal(11, dms.Count);
        var link = new Uri(Regex.Match(dms[0], @"http://[^|>""]+/exports/[A-Za-z0-9_-]+").Value);
        var zip = await DownloadAsync(link);
        Assert.Equal(["conversations.csv", "conversations.json", "messages.csv", "messages.json"], zip.Keys.Order());
        Assert.Contains(Secret, zip["messages.json"]);
        Assert.Contains(Secret, zip["messages.csv"]);
        Assert.DoesNotContain("the owner's own question", zip["messages.json"]);
        Assert.Equal(HttpStatusCode.Gone, (await fixture.App.Client().GetAsync(link.PathAndQuery)).StatusCode);
    }

    [Fact]
    public async Task The_archive_is_written_page_by_page_with_progress_after_each_page_into_the_store()
    {
        var rows = Enumerable.Range(0, 1_200).Select(i => new { id = i, name = i % 7 == 0 ? "=cmd(\"x\"), with comma" : $"row {i}" }).ToList();
        var table = new ExportTable("numbers", (_, skip, take, _) => Task.FromResult<IReadOnlyList<object>>([.. rows.Skip(skip).Take(take)]),
            (_, _) => Task.FromResult(rows.Count));
        var progress = new List<int>();
        var key = $"exports/{Guid.NewGuid():D}/{Guid.NewGuid():D}.zip";
        var bytes = await ExportArchive.UploadAsync(fixture.S3.Store, key, () => fixture.App.Service<SystemDb>().Open("test"), [table],
            done => { progress.Add(done); return Task.CompletedTask; }, default);
        Assert.Equal([500, 1000, 1200], progress);
        var zip = await ReadObjectAsync(key);
        Assert.True(bytes > 0);
        var csv = zip["numbers.csv"].Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(1_201, csv.Length);
        Assert.Equal("id,name", csv[0].TrimEnd('\r'));
        Assert.Equal("0,\"'=cmd(\"\"x\"\"), with comma\"", csv[1].TrimEnd('\r'));   // quoted, and not run as a formula
        Assert.Equal(1_200, System.Text.Json.JsonDocument.Parse(zip["numbers.json"]).RootElement.GetArrayLength());
        await fixture.S3.Store.DeleteAsync(key);
    }

    [Fact]
    public async Task Sixty_export_accepts_and_then_refuses_the_11th_in_an_hour_with_the_time()
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Slashers " + Guid.NewGuid().ToString("N")[..6], UserRole.Owner, UserRole.Member);
        var rep = org[1];
        var handler = fixture.App.Service<Slack.SlackListeners>().FindSubcommand("/sixty", "export")!.Handler;

        async Task<string> SixtyExportAsync()
        {
            await using var scope = fixture.App.Services.CreateAsyncScope();
            scope.ServiceProvider.GetRequiredService<TenantContext>().Enter(rep.OrgId, rep.Id);
            var request = new Slack.SlackRequest(Slack.InboxKind.Command, [], org.Org, rep, scope.ServiceProvider, default);
            await handler(request);
            return Assert.Single(request.Replies).Message.Text;
        }

        Assert.Contains("I'll DM you a download link", await SixtyExportAsync());
        for (var i = 1; i < PrivacyExports.ConversationExportsPerHour; i++) await SixtyExportAsync();
        var refused = await SixtyExportAsync();
        Assert.Contains($"try again at {TimeZoneInfo.ConvertTime(Now.AddHours(1), rep.Zone):HH:mm} ({rep.TimeZone})", refused);
    }

    async Task<Uri> LinkFromPageAsync(HttpClient browser, Guid exportId)
    {
        var page = await AdminPages.PageAsync(browser, PrivacyModel.PagePath);
        var posted = await browser.PostAsync(PrivacyModel.PagePath + "?handler=Link", AdminPages.FormOf(page, $"tr[data-export='{exportId}'] form"));
        Assert.Equal(HttpStatusCode.Redirect, posted.StatusCode);
        page = await AdminPages.PageAsync(browser, PrivacyModel.PagePath);
        var notice = page.QuerySelector("[data-field=notice]")!.TextContent;
        return new Uri(Regex.Match(notice, @"http://\S+/exports/[A-Za-z0-9_-]+").Value);
    }

    /// <summary>Downloads through the link (once) and returns each entry's text.</summary>
    async Task<Dictionary<string, string>> DownloadAsync(Uri link)
    {
        var response = await fixture.App.Client().GetAsync(link.PathAndQuery);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/zip", response.Content.Headers.ContentType!.MediaType);
        return await EntriesAsync(await response.Content.ReadAsStreamAsync());
    }

    async Task<Dictionary<string, string>> ReadObjectAsync(string key)
    {
        await using var stored = (await fixture.S3.Store.OpenReadAsync(key))!;
        return await EntriesAsync(stored);
    }

    static async Task<Dictionary<string, string>> EntriesAsync(Stream zipped)
    {
        var copy = new MemoryStream();
        await zipped.CopyToAsync(copy);
        copy.Position = 0;
        using var zip = new ZipArchive(copy, ZipArchiveMode.Read);
        var entries = new Dictionary<string, string>();
        foreach (var entry in zip.Entries)
        {
            using var reader = new StreamReader(entry.Open());
            entries[entry.FullName] = await reader.ReadToEndAsync();
        }
        return entries;
    }

    /// <summary>The person across the CRM tables, a bystander beside them, and the rep's private conversation.</summary>
    async Task SeedAsync(AppUser rep, string email, string bystander)
    {
        await SystemAsync(async db =>
        {
            var petra = new Contact { OrgId = rep.OrgId, UserId = rep.Id, FirstName = "Petra", LastName = "Person", Email = email, Phone = "+44 20 7946 0001" };
            var bea = new Contact { OrgId = rep.OrgId, UserId = rep.Id, FirstName = "Bea", LastName = "Bystander", Email = bystander };
            db.AddRange(petra, bea);
            db.Activities.Add(new Activity { OrgId = rep.OrgId, UserId = rep.Id, ContactId = petra.Id, Type = ActivityType.Call, Subject = "Call with Petra", OccurredAt = Now.AddDays(-3) });
            db.Activities.Add(new Activity { OrgId = rep.OrgId, UserId = rep.Id, ContactId = petra.Id, Type = ActivityType.Email, Subject = "Pricing", OccurredAt = Now.AddDays(-2) });
            db.Activities.Add(new Activity { OrgId = rep.OrgId, UserId = rep.Id, ContactId = bea.Id, Type = ActivityType.Note, Subject = "Bea's note", OccurredAt = Now.AddDays(-1) });
            db.Tasks.Add(new CrmTask { OrgId = rep.OrgId, UserId = rep.Id, ContactId = petra.Id, Title = "Send Petra the deck", DueDate = new DateOnly(2026, 12, 30) });
            db.Deals.Add(new Deal { OrgId = rep.OrgId, UserId = rep.Id, PrimaryContactId = petra.Id, Name = "Petra pilot" });
            db.OutboundEmails.Add(new OutboundEmail { OrgId = rep.OrgId, UserId = rep.Id, ContactId = petra.Id, ToAddress = email, Subject = "Next steps", Body = "Hi Petra," });
            var demo = new CalendarEvent
            {
                OrgId = rep.OrgId, UserId = rep.Id, ExternalId = "export-" + Guid.NewGuid().ToString("N"), Title = "Demo with Petra", StartTime = Now.AddDays(-5),
                EndTime = Now.AddDays(-5).AddMinutes(30), Attendees = [new() { Email = rep.Email!, Self = true }, new() { Email = email.ToUpperInvariant(), Name = "Petra Person" }],
            };
            db.CalendarEvents.Add(demo);
            db.Meetings.Add(new Meeting
            {
                OrgId = rep.OrgId, OwnerUserId = rep.Id, CalendarEventId = demo.Id, Title = "Demo with Petra", StartTime = demo.StartTime,
                TranscriptText = "Petra: we need SSO.", Transcript = [new TranscriptSegment { Speaker = "Petra Person", Text = "We need SSO." }],
            });
            await db.SaveChangesAsync();
            return 0;
        });
        await SeedConversationAsync(rep, $"what did {Secret} say");
    }

    async Task SeedConversationAsync(AppUser user, string text) => await SystemAsync(async db =>
    {
        var conversation = new Conversation { OrgId = user.OrgId, UserId = user.Id, Channel = "D" + user.SlackUserId, StartedAt = Now, LastMessageAt = Now };
        db.Conversations.Add(conversation);
        db.ConversationMessages.Add(new ConversationMessage { OrgId = user.OrgId, UserId = user.Id, ConversationId = conversation.Id, Role = MessageRole.User, Text = text });
        await db.SaveChangesAsync();
        return 0;
    });

    async Task<T> SystemAsync<T>(Func<Use60Db, Task<T>> work)
    {
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        return await work(db);
    }
}
