using Microsoft.Playwright;
using Use60.Admin;
using Use60.Orgs;
using Use60.Tests.Infrastructure;

namespace Use60.BrowserTests;

/// <summary>
/// Debian's Chromium driven by Playwright (never a downloaded browser), against the real app on Kestrel at
/// 127.0.0.1 and a test database with one org: an owner and a member.
/// </summary>
public sealed class AdminSiteBrowserFixture : IAsyncLifetime
{
    const string Chromium = "/usr/bin/chromium";

    IPlaywright playwright = null!;
    public IBrowser Browser { get; private set; } = null!;
    public TestDatabase Database { get; private set; } = null!;
    public Use60App App { get; private set; } = null!;
    public TestData.TestOrg Org { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        if (!File.Exists(Chromium))
            throw new InvalidOperationException($"Debian's Chromium is not installed at {Chromium}: run the tests with scripts/test.sh, which installs it.");
        Database = await TestDatabase.CreateAsync();
        App = new Use60App(Database);
        Org = await TestData.CreateOrgAsync(App.Services, "Browserville", UserRole.Owner, UserRole.Member);
        playwright = await Playwright.CreateAsync();
        Browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            // As root in a container, and with no network beyond loopback: no sandbox, no background traffic.
            Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                    "--disable-component-update", "--no-first-run"],
        });
    }

    /// <summary>A fresh browser profile (no cookies) whose relative URLs go to the app.</summary>
    public Task<IBrowserContext> NewContextAsync() =>
        Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = App.BaseAddress.ToString().TrimEnd('/') });

    public async Task<string> LinkAsync(AppUser user) =>
        (await App.Service<AdminLoginLinks>().CreateAsync(user, "cli", CancellationToken.None)).PathAndQuery;

    /// <summary>In a browser profile, opens a sign-in link (a fresh one by default) and presses Continue: the page and where it landed.</summary>
    public async Task<(IPage Page, IResponse Landed)> SignInAsync(IBrowserContext context, AppUser user, string? link = null)
    {
        var page = await context.NewPageAsync();
        await page.GotoAsync(link ?? await LinkAsync(user));
        return (page, await SubmitAsync(page, page.GetByRole(AriaRole.Button, new() { Name = $"Continue as {user.Name}" })));
    }

    /// <summary>Collects the page's console errors and uncaught script errors from now on: a page must have none.</summary>
    public static List<string> ConsoleErrors(IPage page)
    {
        var errors = new List<string>();
        page.Console += (_, message) =>
        {
            if (message.Type == "error") errors.Add(message.Text);
        };
        page.PageError += (_, error) => errors.Add(error);
        return errors;
    }

    /// <summary>Follows a link of the admin navigation, as a person would, and waits for its page and what it loads.</summary>
    public static async Task OpenFromNavigationAsync(IPage page, string link, string path)
    {
        await page.GetByRole(AriaRole.Navigation, new() { Name = "Admin sections" }).GetByRole(AriaRole.Link, new() { Name = link }).ClickAsync();
        await page.WaitForURLAsync("**" + path);
        // The load event, not network idle: a page that polls for progress is never idle, and idle also waits out half a second of quiet
        // that a busy CI machine can stretch past the timeout. Locators wait for what each test then looks at.
        await page.WaitForLoadStateAsync(LoadState.Load);
    }

    /// <summary>
    /// Clicks a submit button and returns the response of the page it lands on, after any redirects, once that page has loaded.
    /// A form may redirect back to the very URL it was posted from, so the old document is marked to tell the new one apart.
    /// </summary>
    public static async Task<IResponse> SubmitAsync(IPage page, ILocator button)
    {
        await page.EvaluateAsync("() => { window.leftBySubmit = true; }");
        var landed = await page.RunAndWaitForResponseAsync(() => button.ClickAsync(),
            response => response.Request.IsNavigationRequest && response.Status is < 300 or >= 400);
        await page.WaitForFunctionAsync("() => window.leftBySubmit === undefined && document.readyState === 'complete'");
        return landed;
    }

    public async Task DisposeAsync()
    {
        await Browser.DisposeAsync();
        playwright.Dispose();
        await App.DisposeAsync();
        await Database.DisposeAsync();
    }
}
