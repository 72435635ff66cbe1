using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Use60.Security;
using Use60.Tests.Infrastructure;

namespace Use60.BrowserTests;

/// <summary>The security dashboard in a real browser: credential harvesting found by the monitor lowers the score, and an owner resolves it.</summary>
public sealed class SecurityBrowserTests(AdminSiteBrowserFixture fixture) : IClassFixture<AdminSiteBrowserFixture>
{
    [Fact]
    public async Task Harvesting_found_by_the_monitor_shows_as_an_incident_and_a_lower_score_until_the_owner_resolves_it()
    {
        var (owner, member) = (fixture.Org[0], fixture.Org[1]);
        await using var context = await fixture.NewContextAsync();
        var (page, _) = await fixture.SignInAsync(context, owner);
        var consoleErrors = AdminSiteBrowserFixture.ConsoleErrors(page);
        await AdminSiteBrowserFixture.OpenFromNavigationAsync(page, "Security", "/admin/security");
        Assert.Equal("90", await page.Locator("[data-field=score]").InnerTextAsync());

        // 60 contact lookups by the member in the last half hour, then a run of the monitor.
        var now = DateTimeOffset.UtcNow;
        await TestData.AsAsync(fixture.App.Services, member, async db =>
        {
            db.SecurityAuditLog.AddRange(Enumerable.Range(0, 60).Select(i => new SecurityAuditEvent
            {
                OccurredAt = now.AddMinutes(-30).AddSeconds(20 * i), OrgId = member.OrgId, UserId = member.Id, EventType = AuditEvents.ContactsRead,
                Severity = AuditSeverity.Info,
            }));
            await db.SaveChangesAsync();
        });
        await using (var scope = fixture.App.Services.CreateAsyncScope())
            Assert.Equal(1, await scope.ServiceProvider.GetRequiredService<SecurityMonitor>().RunAsync(CancellationToken.None));

        await page.ReloadAsync();
        Assert.Equal("60", await page.Locator("[data-field=score]").InnerTextAsync());
        Assert.Equal("0 / 30", await page.Locator("[data-factor=incidents] [data-field=points]").InnerTextAsync());
        var incident = page.Locator("[data-list=open] tr[data-kind=credential_harvesting]");
        Assert.Contains(member.Name, await incident.Locator("[data-field=summary]").InnerTextAsync());
        Assert.Equal(1, await page.Locator("main h1").CountAsync());
        foreach (var control in await page.Locator("main input:not([type=hidden]), main select").AllAsync())
            Assert.Equal(1, await page.Locator($"label[for='{await control.GetAttributeAsync("id")}']").CountAsync());

        var screenshots = Path.Combine(AppContext.BaseDirectory, "screenshots");
        Directory.CreateDirectory(screenshots);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(screenshots, "security-incident.png"), FullPage = true });

        await incident.GetByLabel("Note (optional)").FillAsync("Talked to them: an export script, now stopped");
        await AdminSiteBrowserFixture.SubmitAsync(page, incident.GetByRole(AriaRole.Button, new() { Name = "Resolve" }));
        Assert.Equal("The incident is resolved.", await page.Locator("[data-field=notice]").InnerTextAsync());
        Assert.Equal("90", await page.Locator("[data-field=score]").InnerTextAsync());
        Assert.Contains("an export script", await page.Locator("[data-list=resolved] [data-field=note]").InnerTextAsync());

        await AdminSiteBrowserFixture.OpenFromNavigationAsync(page, "Audit log", "/admin/security/audit");
        await page.GetByLabel("Event").SelectOptionAsync(AuditEvents.IncidentResolved);
        await AdminSiteBrowserFixture.SubmitAsync(page, page.GetByRole(AriaRole.Button, new() { Name = "Filter" }));
        Assert.Equal(1, await page.Locator("table.audit-log tbody tr").CountAsync());
        Assert.Equal(owner.Name, await page.Locator("table.audit-log [data-field=user]").InnerTextAsync());
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(screenshots, "security-audit-log.png"), FullPage = true });
        Assert.Empty(consoleErrors);
    }
}
