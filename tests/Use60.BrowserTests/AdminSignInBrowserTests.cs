using Microsoft.Playwright;
using Use60.Admin;
using Use60.Orgs;

namespace Use60.BrowserTests;

public sealed class AdminSignInBrowserTests(AdminSiteBrowserFixture fixture) : IClassFixture<AdminSiteBrowserFixture>
{
    /// <summary>The path of a fresh sign-in link (links name PUBLIC_URL; the test app listens elsewhere on 127.0.0.1).</summary>
    Task<(IPage Page, IResponse Landed)> SignInAsync(IBrowserContext context, AppUser user, string? link = null) =>
        fixture.SignInAsync(context, user, link);

    static Task<IResponse> ClickAsync(IPage page, string button) =>
        AdminSiteBrowserFixture.SubmitAsync(page, page.GetByRole(AriaRole.Button, new() { Name = button }));

    [Fact]
    public async Task An_owner_signs_in_sees_the_overview_and_signs_out()
    {
        await using var context = await fixture.NewContextAsync();
        var owner = fixture.Org[0];
        var (page, _) = await SignInAsync(context, owner);
        Assert.EndsWith("/admin", page.Url);
        Assert.Equal("Browserville", await page.Locator("main h1").TextContentAsync());
        var rows = await page.Locator("table.grid tbody tr").AllInnerTextsAsync();
        Assert.Equal(fixture.Org.Users.Count, rows.Count);
        foreach (var user in fixture.Org.Users)
            Assert.Contains(rows, r => r.Contains(user.Name) && r.Contains(user.Role.ToString().ToLowerInvariant()) && r.Contains(user.TimeZone));
        var cookie = Assert.Single(await context.CookiesAsync(), c => c.Name == "use60_admin");
        Assert.True(cookie.HttpOnly);
        Assert.Equal(SameSiteAttribute.Lax, cookie.SameSite);

        await ClickAsync(page, "Sign out");
        Assert.Equal("You are signed out", await page.Locator("main h1").TextContentAsync());
        await page.GotoAsync("/admin");
        Assert.EndsWith("/admin/signin?ReturnUrl=%2Fadmin", page.Url);
    }

    [Fact]
    public async Task A_used_link_opened_again_shows_a_friendly_page()
    {
        var owner = fixture.Org[0];
        var link = await fixture.LinkAsync(owner);
        await using (var first = await fixture.NewContextAsync()) await SignInAsync(first, owner, link);
        await using var second = await fixture.NewContextAsync();
        var again = await second.NewPageAsync();
        var response = await again.GotoAsync(link);
        Assert.Equal(410, response!.Status);
        Assert.Equal("This sign-in link has already been used", await again.Locator("main h1").TextContentAsync());
        var text = await again.Locator("body").InnerTextAsync();
        Assert.DoesNotContain("Exception", text);
        Assert.Equal(0, await again.GetByRole(AriaRole.Button, new() { Name = $"Continue as {owner.Name}" }).CountAsync());
    }

    [Fact]
    public async Task A_member_sees_the_403_page_and_can_still_sign_out()
    {
        await using var context = await fixture.NewContextAsync();
        var member = fixture.Org[1];
        var (page, landed) = await SignInAsync(context, member);

        Assert.Equal(403, landed.Status);
        Assert.Contains("/admin/forbidden", page.Url);
        Assert.Equal("The admin site is for owners and admins", await page.Locator("main h1").TextContentAsync());
        Assert.Contains(member.Name, await page.Locator("main").InnerTextAsync());
        Assert.Equal(0, await page.Locator("header nav").CountAsync());
        await ClickAsync(page, "Sign out");
        Assert.Equal("You are signed out", await page.Locator("main h1").TextContentAsync());
    }

    [Fact]
    public async Task The_pages_load_nothing_from_any_other_origin_and_render_styled()
    {
        await using var context = await fixture.NewContextAsync();
        var requested = new List<string>();
        context.Request += (_, request) => requested.Add(request.Url);
        var (page, _) = await SignInAsync(context, fixture.Org[0]);
        await page.WaitForLoadStateAsync(LoadState.NetworkIdle);

        var origin = fixture.App.BaseAddress.GetLeftPart(UriPartial.Authority);
        Assert.Contains(requested, url => url.Contains("/admin/admin.css"));
        Assert.All(requested, url => Assert.StartsWith(origin, url));
        // The stylesheet applied (served by the app itself): the cards are laid out as a grid.
        Assert.Equal("grid", await page.Locator("section.cards").EvaluateAsync<string>("e => getComputedStyle(e).display"));

        var screenshots = Path.Combine(AppContext.BaseDirectory, "screenshots");
        Directory.CreateDirectory(screenshots);
        var file = Path.Combine(screenshots, "overview.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = file, FullPage = true });
        Assert.True(new FileInfo(file).Length > 10_000, "the screenshot of the overview is suspiciously small");
    }
}
