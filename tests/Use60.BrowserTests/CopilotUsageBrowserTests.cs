using Microsoft.Playwright;
using Use60.Copilot;
using Use60.Tests.Infrastructure;

namespace Use60.BrowserTests;

/// <summary>Copilot usage (/admin/copilot-usage) in a real browser: reached from the navigation, styled, within the CSP.</summary>
public sealed class CopilotUsageBrowserTests(AdminSiteBrowserFixture fixture) : IClassFixture<AdminSiteBrowserFixture>
{
    [Fact]
    public async Task An_owner_opens_copilot_usage_from_the_navigation_and_reads_each_reps_counts()
    {
        var (owner, member) = (fixture.Org[0], fixture.Org[1]);
        var now = DateTimeOffset.UtcNow;
        await TestData.AsAsync(fixture.App.Services, owner, async db =>
        {
            db.CopilotUsage.Add(new CopilotUsage
            {
                OrgId = owner.OrgId, UserId = owner.Id, Month = new DateOnly(now.Year, now.Month, 1), Requests = 5, LlmCalls = 4,
                InputTokens = 12_345, OutputTokens = 678, EstimatedCostUsd = 0.0421m,
            });
            await db.SaveChangesAsync();
        });

        await using var context = await fixture.NewContextAsync();
        var (page, _) = await fixture.SignInAsync(context, owner);
        Assert.EndsWith("/admin", page.Url);
        var consoleErrors = AdminSiteBrowserFixture.ConsoleErrors(page);

        await AdminSiteBrowserFixture.OpenFromNavigationAsync(page, "Copilot usage", "/admin/copilot-usage");

        Assert.Equal("Copilot usage", await page.Locator("main h1").TextContentAsync());
        var mine = page.Locator($"table.usage tbody tr[data-user-id='{owner.Id}']");
        Assert.Equal(owner.Name, await mine.Locator("[data-field=name]").InnerTextAsync());
        Assert.Equal("5", await mine.Locator("[data-field=requests]").InnerTextAsync());
        Assert.Equal("4", await mine.Locator("[data-field=llm-calls]").InnerTextAsync());
        Assert.Equal("12,345", await mine.Locator("[data-field=input-tokens]").InnerTextAsync());
        Assert.Equal("678", await mine.Locator("[data-field=output-tokens]").InnerTextAsync());
        Assert.Equal("$0.0421", await mine.Locator("[data-field=cost]").InnerTextAsync());
        var theirs = page.Locator($"table.usage tbody tr[data-user-id='{member.Id}']");
        Assert.Equal("0", await theirs.Locator("[data-field=input-tokens]").InnerTextAsync());
        Assert.Equal("$0.00", await theirs.Locator("[data-field=cost]").InnerTextAsync());
        var totals = page.Locator("table.usage tfoot tr[data-row=totals]");
        Assert.Equal("12,345", await totals.Locator("[data-field=input-tokens]").InnerTextAsync());
        Assert.Equal("678", await totals.Locator("[data-field=output-tokens]").InnerTextAsync());
        Assert.Equal("$0.0421", await totals.Locator("[data-field=cost]").InnerTextAsync());

        // The stylesheet applies (numbers right-aligned) and the budget bar shows the tokens used of the default budget.
        Assert.Equal("right", await mine.Locator("[data-field=requests]").EvaluateAsync<string>("e => getComputedStyle(e).textAlign"));
        var meter = page.Locator("meter.usage-meter");
        Assert.True(await meter.IsVisibleAsync());
        Assert.Equal("13023", await meter.GetAttributeAsync("value"));
        Assert.Contains("13,023 used", await page.Locator("[data-field=budget]").InnerTextAsync());
        Assert.Contains("counts only", await page.Locator("[data-privacy]").InnerTextAsync());

        var screenshots = Path.Combine(AppContext.BaseDirectory, "screenshots");
        Directory.CreateDirectory(screenshots);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(screenshots, "copilot-usage.png"), FullPage = true });
        Assert.Empty(consoleErrors);
    }
}
