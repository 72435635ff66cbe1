using Microsoft.EntityFrameworkCore;
using Microsoft.Playwright;
using Use60.Copilot.Pages;
using Use60.Data;
using Use60.Orgs.Pages;
using Use60.Recordings;
using Use60.Recordings.Pages;
using Use60.Security;

namespace Use60.BrowserTests;

/// <summary>The admin pages in a real browser: settings with the live persona preview, the storage chart, and accessibility basics on every page.</summary>
public sealed class AdminPagesBrowserTests(AdminSiteBrowserFixture fixture) : IClassFixture<AdminSiteBrowserFixture>
{
    static string Screenshots
    {
        get
        {
            var folder = Path.Combine(AppContext.BaseDirectory, "screenshots");
            Directory.CreateDirectory(folder);
            return folder;
        }
    }

    [Fact]
    public async Task Changing_the_profile_updates_the_persona_preview_as_typed_and_saving_keeps_it_with_an_audit_entry()
    {
        var owner = fixture.Org[0];
        await using var context = await fixture.NewContextAsync();
        var (page, _) = await fixture.SignInAsync(context, owner);
        var errors = AdminSiteBrowserFixture.ConsoleErrors(page);
        await AdminSiteBrowserFixture.OpenFromNavigationAsync(page, "Settings", SettingsModel.PagePath);

        await page.GetByLabel("Company name").FillAsync("Browserville Logistics");
        var positioning = "we answer within the hour " + Guid.NewGuid().ToString("N")[..6];
        var competitor = "Wayfarer Freight: " + positioning;
        await page.GetByLabel("Competitors and how you win").FillAsync(competitor);
        // The preview follows the typing (the app's own script posts the form to the Preview handler); nothing is saved yet.
        await page.Locator("[data-field=persona]").GetByText(competitor, new() { Exact = false }).WaitForAsync();
        Assert.Equal("unsaved changes", await page.Locator("[data-field=preview-state]").InnerTextAsync());

        await AdminSiteBrowserFixture.SubmitAsync(page, page.GetByRole(AriaRole.Button, new() { Name = "Save profile" }));
        Assert.Contains("Profile saved", await page.Locator("[data-field=notice]").InnerTextAsync());
        await page.ReloadAsync();
        Assert.Equal(competitor, await page.GetByLabel("Competitors and how you win").InputValueAsync());
        Assert.Contains("You are use60, Browserville Logistics's AI sales teammate", await page.Locator("[data-field=persona]").InnerTextAsync());
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Screenshots, "settings.png"), FullPage = true });

        await using var db = fixture.App.Service<SystemDb>().Open("test");
        var entries = await db.SecurityAuditLog.AsNoTracking().Where(a => a.OrgId == owner.OrgId && a.EventType == AuditEvents.SettingsChanged).ToListAsync();
        Assert.Contains(entries, e => e.Details.Contains(positioning));
        Assert.Empty(errors);
    }

    [Fact]
    public async Task The_storage_page_draws_the_daily_chart_and_the_projection_the_unit_computes()
    {
        var owner = fixture.Org[0];
        var today = DateOnly.FromDateTime(DateTime.UtcNow);
        var days = new List<StorageCosts.Day>();
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
        {
            for (var i = 30; i >= 1; i--)
            {
                var day = StorageCosts.ForDay(today.AddDays(-i), 20m + 0.5m * (30 - i));
                days.Add(day);
                await StorageMetrics.UpsertAsync(db, owner.OrgId, day.Date, "storage_gb", day.StorageGb, day.StorageCost, false, DateTimeOffset.UtcNow, default);
                await StorageMetrics.UpsertAsync(db, owner.OrgId, day.Date, "download_gb", day.DownloadGb, day.DownloadCost, true, DateTimeOffset.UtcNow, default);
            }
        }
        await using var context = await fixture.NewContextAsync();
        var (page, _) = await fixture.SignInAsync(context, owner);
        var errors = AdminSiteBrowserFixture.ConsoleErrors(page);
        await AdminSiteBrowserFixture.OpenFromNavigationAsync(page, "Storage costs", StorageModel.PagePath);

        var chart = page.Locator("svg[data-field=chart]");
        Assert.True(await chart.IsVisibleAsync());
        Assert.Equal(30, await chart.Locator("g[data-date]").CountAsync());
        var box = await chart.BoundingBoxAsync();
        Assert.True(box!.Width > 300 && box.Height > 80, $"the chart is drawn at {box.Width}×{box.Height}");
        var expected = StorageCosts.ProjectNextMonth([.. days.Where(d => d.Date >= today.AddDays(-30))], today);
        Assert.Equal(StorageModel.Usd(expected), await page.Locator("[data-field=projection]").InnerTextAsync());
        Assert.Equal(StorageModel.Gb(days[^1].StorageGb), await page.Locator("[data-field=total-gb]").InnerTextAsync());
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Screenshots, "storage.png"), FullPage = true });
        Assert.Empty(errors);
    }

    [Fact]
    public async Task Every_admin_page_has_a_title_one_h1_and_a_label_for_every_form_control()
    {
        await using var context = await fixture.NewContextAsync();
        var (page, _) = await fixture.SignInAsync(context, fixture.Org[0]);
        var errors = AdminSiteBrowserFixture.ConsoleErrors(page);
        var links = await page.GetByRole(AriaRole.Navigation, new() { Name = "Admin sections" }).GetByRole(AriaRole.Link).EvaluateAllAsync<string[]>(
            "links => links.map(a => a.getAttribute('href'))");
        Assert.Contains(SettingsModel.PagePath, links);
        Assert.Contains(SkillsModel.PagePath, links);
        foreach (var path in links.Concat([VersionsModel.PagePath, SkillsModel.EditPath("follow-up-email"),
                     SkillsModel.EditPath("a-new-skill"), SkillsModel.HistoryPath("follow-up-email")]))
        {
            var response = await page.GotoAsync(path);
            Assert.True(response!.Ok, $"{path} answered {response.Status}");
            Assert.False(string.IsNullOrWhiteSpace(await page.TitleAsync()), $"{path} has no title");
            Assert.Equal(1, await page.Locator("h1").CountAsync());
            var unlabelled = await page.EvaluateAsync<string[]>("""
                () => [...document.querySelectorAll('input, select, textarea')]
                  .filter(e => !['hidden', 'submit', 'button'].includes(e.type))
                  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))
                  .map(e => e.outerHTML.slice(0, 120))
                """);
            Assert.True(unlabelled.Length == 0, $"{path}: controls without a label: {string.Join(" | ", unlabelled)}");
        }
        Assert.Empty(errors);
    }
}
