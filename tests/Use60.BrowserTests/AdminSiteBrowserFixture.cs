using Microsoft.Playwright;
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

    public async Task DisposeAsync()
    {
        await Browser.DisposeAsync();
        playwright.Dispose();
        await App.DisposeAsync();
        await Database.DisposeAsync();
    }
}
