using System.Net;
using System.Text.Json;
using AngleSharp.Html.Dom;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Microsoft.SemanticKernel;
using Use60.Copilot;
using Use60.Crm;
using Use60.Data;
using Use60.Orgs;
using Use60.Security;
using Use60.Security.Pages;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>The app on a fixed clock: the security monitor, the dashboard and the audit log run at <see cref="Start"/>.</summary>
public sealed class SecurityFixture : IAsyncLifetime
{
    public static readonly DateTimeOffset Start = new(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);

    public TestDatabase Database { get; private set; } = null!;
    public Use60App App { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Database = await TestDatabase.CreateAsync();
        App = new Use60App(Database, clock: new FakeTimeProvider(Start));
    }

    public async Task DisposeAsync()
    {
        await App.DisposeAsync();
        await Database.DisposeAsync();
    }
}

/// <summary>The security dashboard, the security monitor and the audit log (issue 6).</summary>
public sealed class SecurityTests(SecurityFixture fixture) : IClassFixture<SecurityFixture>
{
    static readonly DateTimeOffset Start = SecurityFixture.Start;
    IServiceProvider Services => fixture.App.Services;

    [Fact]
    public async Task Credential_harvesting_is_one_critical_incident_whatever_reruns_and_replicas_do_and_each_owner_is_told_once()
    {
        var org = await TestData.CreateOrgAsync(Services, "Harvest", UserRole.Owner, UserRole.Owner, UserRole.Admin, UserRole.Member);
        var (owner, coOwner, admin, member) = (org[0], org[1], org[2], org[3]);
        var burst = Start.AddMinutes(-55);
        await AppendAsync(member, AuditEvents.ContactsRead, Times(burst, 51, TimeSpan.FromMinutes(1)));   // 51 within an hour
        await AppendAsync(admin, AuditEvents.ContactsRead, Times(burst, 50, TimeSpan.FromMinutes(1)));    // 50: not more than 50
        // 51 reads 72 seconds apart span exactly an hour: never more than 50 within one.
        await AppendAsync(coOwner, AuditEvents.ContactsRead, Times(burst.AddHours(-1), 51, TimeSpan.FromSeconds(72)));

        // Two replicas at once, then a re-run, then a replica ten minutes later: one incident.
        var (first, second) = (Monitor(Start), Monitor(Start));
        var opened = await Task.WhenAll(first.RunAsync(default), second.RunAsync(default));
        Assert.Equal(1, opened.Sum());
        Assert.Equal(0, await first.RunAsync(default));
        Assert.Equal(0, await Monitor(Start.AddMinutes(10)).RunAsync(default));

        var incident = Assert.Single(await IncidentsAsync(org.Id));
        Assert.Equal((IncidentKind.CredentialHarvesting, AuditSeverity.Critical, IncidentStatus.Open, member.Id),
            (incident.Kind, incident.Severity, incident.Status, incident.SubjectUserId));
        Assert.Equal((burst, burst.AddHours(1)), (incident.WindowStart, incident.WindowEnd));
        Assert.Contains($"{member.Name} read contact data 51 times within an hour", incident.Summary);
        Assert.Equal(51, JsonDocument.Parse(incident.Details).RootElement.GetProperty("events").GetInt32());

        // Each owner is told once, in their DM; the admin and the member are not.
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
        {
            var told = await db.SlackOutbox.Where(m => m.Source == $"security incident {incident.Id}").Select(m => m.UserId).ToListAsync();
            Assert.Equal(new Guid?[] { owner.Id, coOwner.Id }.Order(), told.Order());
        }
        var dm = await SandboxDm.OfAsync(fixture.App, owner);
        var alert = await dm.MessageAsync("Critical security incident", "the owner's alert");
        Assert.Contains(member.Name, alert.Message);
        Assert.Contains(SecurityModel.PagePath, alert.Message);
    }

    [Fact]
    public async Task Harvesting_that_goes_on_past_its_hour_opens_one_more_incident_for_the_next_hour()
    {
        var org = await TestData.CreateOrgAsync(Services, "Persistent", UserRole.Owner, UserRole.Member);
        var member = org[1];
        // 200 reads, one every 30 seconds: 100 minutes of harvesting, a run every 40 minutes.
        await AppendAsync(member, AuditEvents.ContactsRead, Times(Start.AddMinutes(-100), 200, TimeSpan.FromSeconds(30)));

        Assert.Equal(1, await Monitor(Start.AddMinutes(-40)).RunAsync(default));
        Assert.Equal(1, await Monitor(Start).RunAsync(default));
        Assert.Equal(0, await Monitor(Start.AddMinutes(10)).RunAsync(default));

        var windows = (await IncidentsAsync(org.Id)).OrderBy(i => i.WindowStart).Select(i => i.WindowStart).ToList();
        Assert.Equal([Start.AddMinutes(-100), Start.AddMinutes(-40)], windows);
    }

    [Fact]
    public async Task The_dashboard_explains_the_score_drops_it_for_an_incident_and_an_admin_resolves_it_audited_while_members_are_refused()
    {
        var org = await TestData.CreateOrgAsync(Services, "Dashboard", UserRole.Owner, UserRole.Member);
        var (owner, member) = (org[0], org[1]);
        var browser = await AdminPages.SignedInAsync(fixture.App, owner);

        var page = await AdminPages.PageAsync(browser, SecurityModel.PagePath);
        Assert.Equal("90", Field(page, "[data-field=score]"));
        Assert.Equal("30 / 30", Field(page, "[data-factor=incidents] [data-field=points]"));
        Assert.Equal("20 / 20", Field(page, "[data-factor=suspicious] [data-field=points]"));
        Assert.Equal("30 / 30", Field(page, "[data-factor=rls] [data-field=points]"));
        Assert.Equal("10 / 20", Field(page, "[data-factor=retention-audit] [data-field=points]"));
        Assert.Contains("Retention policy (0 of 10): Set but not enforced: Prospects' data is kept 730 days", Field(page, "[data-factor=retention-audit] [data-field=explanation]"));
        Assert.Matches(@"^(\d+) of \1 tables holding tenant data", Field(page, "[data-factor=rls] [data-field=explanation]"));
        Assert.Equal(["In place", "Not in place", "In place", "In place"],
            new[] { "retention", "auto-delete", "access-logging", "erasure" }.Select(r => Field(page, $"[data-requirement={r}] [data-field=status]")));

        // Auto-delete on: the retention policy is enforced, worth its 10 points and in place for GDPR.
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
            await db.OrgSettings.Where(s => s.OrgId == org.Id).ExecuteUpdateAsync(s => s.SetProperty(x => x.AutoDelete, true));
        page = await AdminPages.PageAsync(browser, SecurityModel.PagePath);
        Assert.Equal(("100", "20 / 20", "In place"), (Field(page, "[data-field=score]"), Field(page, "[data-factor=retention-audit] [data-field=points]"),
            Field(page, "[data-requirement=auto-delete] [data-field=status]")));
        Assert.Null(page.QuerySelector("[data-field=best-possible]"));
        // The same report as a file to keep: a self-contained HTML document.
        var report = await browser.GetAsync(page.QuerySelector("[data-field=gdpr-download]")!.GetAttribute("href"));
        Assert.Equal(("text/html", "attachment"), (report.Content.Headers.ContentType?.MediaType, report.Content.Headers.ContentDisposition?.DispositionType));
        Assert.StartsWith("gdpr-report-", report.Content.Headers.ContentDisposition!.FileName!.Trim('"'));
        var file = await report.Content.ReadAsStringAsync();
        Assert.Contains("GDPR report: Dashboard", file);
        Assert.Matches("<tr data-requirement=\"auto-delete\"><th>Auto-delete on</th><td class=\"ok\">In place", file);
        Assert.DoesNotContain("<script", file);
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
            await db.OrgSettings.Where(s => s.OrgId == org.Id).ExecuteUpdateAsync(s => s.SetProperty(x => x.AutoDelete, false));
        Assert.Single(page.QuerySelectorAll("h1"));
        Assert.Equal("Security · use60 admin", page.Title);

        await AppendAsync(member, AuditEvents.ContactsRead, Times(Start.AddMinutes(-30), 60, TimeSpan.FromSeconds(20)));
        Assert.Equal(1, await Monitor(Start).RunAsync(default));
        page = await AdminPages.PageAsync(browser, SecurityModel.PagePath);
        Assert.Equal("60", Field(page, "[data-field=score]"));
        Assert.Equal("0 / 30", Field(page, "[data-factor=incidents] [data-field=points]"));
        Assert.StartsWith("1 critical open incident: −30", Field(page, "[data-factor=incidents] [data-field=explanation]"));
        var row = page.QuerySelector("[data-list=open] tr[data-kind=credential_harvesting]")!;
        Assert.Contains(member.Name, row.QuerySelector("[data-field=summary]")!.TextContent);
        Assert.Equal("critical", row.QuerySelector("[data-field=severity]")!.TextContent);
        Assert.All(page.QuerySelectorAll("input:not([type=hidden]), select"),
            control => Assert.NotNull(page.QuerySelector($"label[for='{control.Id}']")));

        // Resolve, with a note: audited, and the score recovers.
        var incident = row.GetAttribute("data-incident")!;
        var form = $"tr[data-incident='{incident}'] form";
        var resolved = await browser.PostAsync(SecurityModel.PagePath + "?handler=Resolve",
            AdminPages.FormOf(page, form, new Dictionary<string, string> { ["note"] = "Laptop wiped, sessions revoked" }));
        Assert.Equal(HttpStatusCode.Redirect, resolved.StatusCode);
        var after = await AdminPages.PageAsync(browser, SecurityModel.PagePath);
        Assert.Equal("The incident is resolved.", Field(after, "[data-field=notice]"));
        Assert.Equal("90", Field(after, "[data-field=score]"));
        Assert.Contains($"by {owner.Name}", Field(after, $"[data-list=resolved] tr[data-incident='{incident}'] [data-field=resolved]"));
        Assert.Equal("Laptop wiped, sessions revoked", Field(after, $"[data-list=resolved] tr[data-incident='{incident}'] [data-field=note]"));
        var audited = Assert.Single(await TestData.AsAsync(Services, owner, db =>
            db.SecurityAuditLog.AsNoTracking().Where(a => a.EventType == AuditEvents.IncidentResolved).ToListAsync()));
        Assert.Equal(owner.Id, audited.UserId);
        Assert.Contains($"\"incident\": {incident}", audited.Details);
        Assert.Contains("credential_harvesting", audited.Details);

        // The same form again: already resolved, nothing audited twice.
        await browser.PostAsync(SecurityModel.PagePath + "?handler=Resolve", AdminPages.FormOf(page, form));
        Assert.Contains("not open any more", Field(await AdminPages.PageAsync(browser, SecurityModel.PagePath), "[data-field=notice]"));
        Assert.Equal(1, await TestData.AsAsync(Services, owner, db => db.SecurityAuditLog.CountAsync(a => a.EventType == AuditEvents.IncidentResolved)));

        // Members see neither page.
        using var asMember = fixture.App.Browser();
        await AdminPages.SignInAsync(asMember, await AdminPages.LinkPathAsync(fixture.App, member));
        foreach (var path in new[] { SecurityModel.PagePath, AuditLogModel.PagePath })
            Assert.Equal("/admin/forbidden", (await asMember.GetAsync(path)).Headers.Location?.AbsolutePath);
    }

    [Fact]
    public async Task The_audit_log_filters_by_user_event_and_dates_and_pages_both_ways_without_showing_another_org()
    {
        var org = await TestData.CreateOrgAsync(Services, "Auditors", UserRole.Owner, UserRole.Member, UserRole.Member);
        var other = await TestData.CreateOrgAsync(Services, "Elsewhere", UserRole.Owner);
        var (owner, alice, bob) = (org[0], org[1], org[2]);
        // 35 entries for Alice over three days (the last five share one instant: the id orders them), 25 for Bob.
        var aliceTimes = Times(Start.AddDays(-3), 30, TimeSpan.FromHours(2)).Concat(Enumerable.Repeat(Start.AddMinutes(-5), 5)).ToList();
        await AppendAsync(alice, "test.alpha", aliceTimes);
        await AppendAsync(bob, "test.beta", Times(Start.AddDays(-2), 25, TimeSpan.FromHours(1)));
        await AppendAsync(other[0], "test.alpha", Times(Start.AddDays(-1), 5, TimeSpan.FromHours(1)));
        var browser = await AdminPages.SignedInAsync(fixture.App, owner);

        var first = await AdminPages.PageAsync(browser, $"{AuditLogModel.PagePath}?user={alice.Id}&size=25");
        var firstIds = Entries(first);
        Assert.Equal(25, firstIds.Count);
        Assert.All(first.QuerySelectorAll("[data-field=user]"), cell => Assert.Equal(alice.Name, cell.TextContent));
        Assert.Null(first.QuerySelector("[data-page=newer]"));
        var second = await AdminPages.PageAsync(browser, Href(first, "older"));
        var secondIds = Entries(second);
        Assert.Equal(10, secondIds.Count);
        Assert.Null(second.QuerySelector("[data-page=older]"));
        Assert.Empty(firstIds.Intersect(secondIds));
        var times = first.QuerySelectorAll("[data-field=when]").Concat(second.QuerySelectorAll("[data-field=when]"))
            .Select(c => DateTimeOffset.ParseExact(c.TextContent.Replace(" UTC", ""), "d MMM yyyy HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture,
                System.Globalization.DateTimeStyles.AssumeUniversal)).ToList();
        Assert.Equal(times.OrderByDescending(t => t), times);
        Assert.Equal(firstIds, Entries(await AdminPages.PageAsync(browser, Href(second, "newer"))));

        // By event: Bob's 25 fill one page exactly; another org's entries never show.
        var beta = await AdminPages.PageAsync(browser, $"{AuditLogModel.PagePath}?type=test.beta&size=25");
        Assert.Equal(25, Entries(beta).Count);
        Assert.Null(beta.QuerySelector("[data-page=older]"));
        var alpha = await AdminPages.PageAsync(browser, $"{AuditLogModel.PagePath}?type=test.alpha&size=100");
        Assert.Equal(35, Entries(alpha).Count);
        Assert.Contains(first.QuerySelectorAll("#audit-type option"), o => o.GetAttribute("value") == "test.beta");

        // By dates (UTC, both ends inclusive, the wrong way round is swapped): Alice's entries of 21 and 22 November.
        var dated = await AdminPages.PageAsync(browser, $"{AuditLogModel.PagePath}?user={alice.Id}&from=2026-11-22&to=2026-11-21");
        var expected = aliceTimes.Count(t => t >= new DateTimeOffset(2026, 11, 21, 0, 0, 0, TimeSpan.Zero) && t < new DateTimeOffset(2026, 11, 23, 0, 0, 0, TimeSpan.Zero));
        Assert.Equal(expected, Entries(dated).Count);
        Assert.Equal("2026-11-21", ((IHtmlInputElement)dated.QuerySelector("#audit-from")!).Value);
        Assert.Single(dated.QuerySelectorAll("h1"));
        Assert.All(dated.QuerySelectorAll("input:not([type=hidden]), select"), control => Assert.NotNull(dated.QuerySelector($"label[for='{control.Id}']")));
    }

    [Fact]
    public async Task The_copilots_contact_lookups_are_audited_as_sensitive_reads()
    {
        var org = await TestData.CreateOrgAsync(Services, "Lookups", UserRole.Owner);
        var rep = org[0];
        await TestData.AsAsync(Services, rep, async db =>
        {
            db.Contacts.Add(new Contact { OrgId = rep.OrgId, UserId = rep.Id, FirstName = "Sarah", LastName = "Lookup", Email = "sarah@lookup.example" });
            await db.SaveChangesAsync();
        });

        await using (var scope = Services.CreateAsyncScope())
        {
            scope.ServiceProvider.GetRequiredService<TenantContext>().Enter(rep.OrgId, rep.Id);
            scope.ServiceProvider.GetRequiredService<CopilotSession>().Start(rep);
            var tools = scope.ServiceProvider.GetRequiredService<CopilotTools>();
            await tools.CallAsync(CopilotTools.ResolveEntity, new KernelArguments { ["name"] = "Sarah", ["entity_type"] = "contact" }, default);
            await tools.CallAsync(CopilotTools.ResolveEntity, new KernelArguments { ["name"] = "Nobody", ["entity_type"] = "contact" }, default);
        }

        var reads = await TestData.AsAsync(Services, rep, db => db.SecurityAuditLog.AsNoTracking().Where(a => a.EventType == AuditEvents.ContactsRead).ToListAsync());
        var read = Assert.Single(reads);
        Assert.Equal((rep.OrgId, rep.Id, AuditSeverity.Info), (read.OrgId!.Value, read.UserId!.Value, read.Severity));
        Assert.Contains("\"contacts\": 1", read.Details);
        Assert.DoesNotContain("Sarah", read.Details);
    }

    [Fact]
    public async Task Repeated_bad_slack_signatures_are_one_system_wide_incident_every_orgs_admins_see_that_resolves_itself_once_they_stop()
    {
        // A database of its own: a system-wide incident shows on every org's dashboard.
        await using var database = await TestDatabase.CreateAsync();
        await using var app = new Use60App(database, clock: new FakeTimeProvider(Start));
        var (north, south) = (await TestData.CreateOrgAsync(app.Services, "North", UserRole.Owner, UserRole.Member),
            await TestData.CreateOrgAsync(app.Services, "South", UserRole.Owner));
        var client = app.Client();
        for (var i = 0; i < 11; i++)
            Assert.Equal(HttpStatusCode.Unauthorized, (await client.PostAsync("slack/commands", new FormUrlEncodedContent(new Dictionary<string, string> { ["text"] = "help" }))).StatusCode);

        Assert.Equal(1, await Monitor(app.Services, Start).RunAsync(default));
        Assert.Equal(0, await Monitor(app.Services, Start.AddMinutes(10)).RunAsync(default));
        await using (var db = app.Service<SystemDb>().Open("test"))
        {
            var incident = Assert.Single(await db.SecurityIncidents.AsNoTracking().ToListAsync());
            Assert.Equal((null, IncidentKind.SlackSignatureFailures, AuditSeverity.High), (incident.OrgId, incident.Kind, incident.Severity));
            Assert.StartsWith("11 requests to the Slack endpoints had a bad or missing signature", incident.Summary);
            Assert.Equal(0, await db.SlackOutbox.CountAsync(m => m.Source.StartsWith("security incident")));
        }
        foreach (var owner in new[] { north[0], south[0] })
        {
            var page = await AdminPages.PageAsync(await AdminPages.SignedInAsync(app, owner), SecurityModel.PagePath);
            var row = page.QuerySelector("[data-list=open] tr[data-kind=slack_signature_failures]")!;
            Assert.NotNull(row.QuerySelector("[data-field=system-wide]"));
            Assert.Null(row.QuerySelector("form"));
            Assert.Equal("15 / 30", Field(page, "[data-factor=incidents] [data-field=points]"));
        }
        Assert.Empty(await TestData.AsAsync(app.Services, north[1], db => db.SecurityIncidents.ToListAsync()));

        // An hour without bad signatures: the monitor resolves it.
        await Monitor(app.Services, Start.AddMinutes(61)).RunAsync(default);
        await using (var db = app.Service<SystemDb>().Open("test"))
        {
            var incident = Assert.Single(await db.SecurityIncidents.AsNoTracking().ToListAsync());
            Assert.Equal((IncidentStatus.Resolved, null), (incident.Status, incident.ResolvedBy));
            Assert.StartsWith("Resolved by use60", incident.ResolutionNote);
        }
    }

    SecurityMonitor Monitor(DateTimeOffset at) => Monitor(Services, at);

    static SecurityMonitor Monitor(IServiceProvider services, DateTimeOffset at) =>
        ActivatorUtilities.CreateInstance<SecurityMonitor>(services, (TimeProvider)new FakeTimeProvider(at));

    static IEnumerable<DateTimeOffset> Times(DateTimeOffset first, int count, TimeSpan apart) =>
        Enumerable.Range(0, count).Select(i => first + apart * i);

    /// <summary>Audit entries as the app writes them: in the user's own scope, which may append to their org's log.</summary>
    Task AppendAsync(AppUser user, string eventType, IEnumerable<DateTimeOffset> times) => TestData.AsAsync(Services, user, async db =>
    {
        db.SecurityAuditLog.AddRange(times.Select(at => new SecurityAuditEvent
        {
            OccurredAt = at, OrgId = user.OrgId, UserId = user.Id, EventType = eventType, Severity = AuditSeverity.Info,
        }));
        await db.SaveChangesAsync();
    });

    async Task<List<SecurityIncident>> IncidentsAsync(Guid orgId)
    {
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        return await db.SecurityIncidents.AsNoTracking().Where(i => i.OrgId == orgId).ToListAsync();
    }

    static string Field(IHtmlDocument page, string selector) =>
        (page.QuerySelector(selector) ?? throw new Xunit.Sdk.XunitException($"nothing matches {selector}")).TextContent.Trim();

    static List<string> Entries(IHtmlDocument page) => [.. page.QuerySelectorAll("table.audit-log tbody tr").Select(r => r.GetAttribute("data-entry")!)];

    static string Href(IHtmlDocument page, string which) => page.QuerySelector($"[data-page={which}]")!.GetAttribute("href")!;
}
