using System.Net;
using AngleSharp.Dom;
using AngleSharp.Html.Dom;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Use60.Admin;
using Use60.Data;
using Use60.Orgs;
using Use60.Security;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

public sealed class AdminSiteFixture : IAsyncLifetime
{
    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 11, 23, 14, 0, 0, TimeSpan.Zero));
    public TestDatabase Database { get; private set; } = null!;
    public Use60App App { get; private set; } = null!;

    /// <summary>Owner, admin, member, viewer.</summary>
    public TestData.TestOrg Org { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Database = await TestDatabase.CreateAsync();
        App = new Use60App(Database, clock: Clock);
        Org = await TestData.CreateOrgAsync(App.Services, "Zenith", UserRole.Owner, UserRole.Admin, UserRole.Member, UserRole.Viewer);
        await TestData.CreateOrgAsync(App.Services, "Other", UserRole.Owner, UserRole.Member);
    }

    public async Task DisposeAsync()
    {
        await App.DisposeAsync();
        await Database.DisposeAsync();
    }
}

public sealed class AdminSiteTests(AdminSiteFixture fixture) : IClassFixture<AdminSiteFixture>
{
    async Task<string> LinkPathAsync(AppUser user)
    {
        var url = await fixture.App.Service<AdminLoginLinks>().CreateAsync(user, "cli", CancellationToken.None);
        Assert.Equal("http://127.0.0.1:5175/admin/login", url.GetLeftPart(UriPartial.Path));
        return url.PathAndQuery;
    }

    static Task<IHtmlDocument> HtmlAsync(HttpResponseMessage response) => AdminPages.HtmlAsync(response);

    static FormUrlEncodedContent FormOf(IHtmlDocument page, string form) => AdminPages.FormOf(page, form);

    static Task<HttpResponseMessage> SignInAsync(HttpClient browser, string linkPath) => AdminPages.SignInAsync(browser, linkPath);

    [Fact]
    public async Task An_owner_signs_in_with_a_link_and_sees_the_org_overview()
    {
        using var browser = fixture.App.Browser();
        var owner = fixture.Org[0];
        var link = await LinkPathAsync(owner);

        var confirm = await HtmlAsync(await browser.GetAsync(link));
        Assert.Equal($"Continue as {owner.Name}", confirm.QuerySelector("main form button")!.TextContent.Trim());
        Assert.NotNull(confirm.QuerySelector("main form input[name=__RequestVerificationToken]"));

        var signInsBefore = await SignInsAsync(owner);
        var signedIn = await SignInAsync(browser, link);
        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
        Assert.Equal("/admin", signedIn.Headers.Location!.OriginalString);
        var cookie = signedIn.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("use60_admin="));
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=lax", cookie, StringComparison.OrdinalIgnoreCase);

        var overview = await browser.GetAsync("/admin");
        Assert.Equal(HttpStatusCode.OK, overview.StatusCode);
        Assert.Equal("DENY", overview.Headers.GetValues("X-Frame-Options").Single());
        Assert.Contains("frame-ancestors 'none'", overview.Headers.GetValues("Content-Security-Policy").Single());
        var html = await HtmlAsync(overview);
        Assert.Equal("Zenith", html.QuerySelector("main h1")!.TextContent);
        var rows = html.QuerySelectorAll("table.grid tbody tr").Select(r => r.QuerySelectorAll("td").Select(td => td.TextContent.Trim()).ToArray()).ToList();
        Assert.Equal(fixture.Org.Users.Select(u => u.Name).Order(), rows.Select(r => r[0]).Order());
        var londonNow = TimeZoneInfo.ConvertTime(fixture.Clock.GetUtcNow(), TimeZoneInfo.FindSystemTimeZoneById("Europe/London"));
        Assert.Contains(rows, r => r[0] == owner.Name && r[2] == "owner" && r[3] == "Europe/London" && r[4] == londonNow.ToString("ddd HH:mm"));
        // Only this org's people: the other org in the database never shows.
        Assert.DoesNotContain(rows, r => r[0].StartsWith("Other"));
        Assert.NotNull(html.QuerySelector("[data-count=open-deals]"));

        var signIns = await SignInsAsync(owner);
        Assert.Equal(signInsBefore.Count + 1, signIns.Count);
        var signIn = signIns[^1];
        Assert.Equal(fixture.Clock.GetUtcNow(), signIn.OccurredAt);
        Assert.Contains("\"via\": \"cli\"", signIn.Details);
        Assert.Equal(IPAddress.Loopback, signIn.IpAddress);
    }

    Task<List<SecurityAuditEvent>> SignInsAsync(AppUser user) => TestData.AsAsync(fixture.App.Services, fixture.Org[0], db =>
        db.SecurityAuditLog.Where(e => e.UserId == user.Id && e.EventType == AuditEvents.AdminSignIn).OrderBy(e => e.Id).ToListAsync());

    [Fact]
    public async Task Admin_pages_need_a_session_and_an_owner_or_admin()
    {
        using var anonymous = fixture.App.Client();
        var redirect = await anonymous.GetAsync("/admin");
        Assert.Equal(HttpStatusCode.Redirect, redirect.StatusCode);
        Assert.StartsWith("http://127.0.0.1:", redirect.Headers.Location!.GetLeftPart(UriPartial.Authority));
        Assert.Equal("/admin/signin", redirect.Headers.Location!.AbsolutePath);

        using (var admin = fixture.App.Browser())
        {
            await SignInAsync(admin, await LinkPathAsync(fixture.Org[1]));
            Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/admin")).StatusCode);
        }

        // A member is refused everything; a viewer every page but the few open to them (TeamPageTests).
        foreach (var (user, path) in new[] { (fixture.Org[2], "/admin"), (fixture.Org[3], "/admin/settings") })
        {
            using var member = fixture.App.Browser();
            await SignInAsync(member, await LinkPathAsync(user));
            var denied = await member.GetAsync(path);
            Assert.Equal(HttpStatusCode.Redirect, denied.StatusCode);
            var page = await member.GetAsync(denied.Headers.Location);
            Assert.Equal(HttpStatusCode.Forbidden, page.StatusCode);
            var text = (await HtmlAsync(page)).QuerySelector("main")!.TextContent;
            Assert.Contains("The admin site is for owners and admins", text);
            Assert.Contains(user.Name, text);
        }
        var refusals = await TestData.AsAsync(fixture.App.Services, fixture.Org[0], db =>
            db.SecurityAuditLog.CountAsync(e => e.EventType == AuditEvents.AdminAccessDenied && e.UserId == fixture.Org[2].Id));
        Assert.True(refusals >= 1);
    }

    [Fact]
    public async Task A_used_link_shows_a_friendly_page_and_signs_nobody_in()
    {
        using var first = fixture.App.Browser();
        var link = await LinkPathAsync(fixture.Org[0]);
        await SignInAsync(first, link);

        using var second = fixture.App.Browser();
        var again = await second.GetAsync(link);
        Assert.Equal(HttpStatusCode.Gone, again.StatusCode);
        var text = (await HtmlAsync(again)).QuerySelector("main")!.TextContent;
        Assert.Contains("This sign-in link has already been used", text);
        Assert.Contains("/sixty login", text);
        Assert.DoesNotContain("Exception", await again.Content.ReadAsStringAsync());
        Assert.Null((await HtmlAsync(again)).QuerySelector("main form"));
    }

    [Fact]
    public async Task Racing_clicks_on_one_link_open_exactly_one_session()
    {
        var link = await LinkPathAsync(fixture.Org[1]);
        var browsers = Enumerable.Range(0, 6).Select(_ => fixture.App.Browser()).ToList();
        var forms = await Task.WhenAll(browsers.Select(async b => FormOf(await HtmlAsync(await b.GetAsync(link)), "main form")));
        var results = await Task.WhenAll(browsers.Select((b, i) => b.PostAsync(link, forms[i])));
        Assert.Single(results, r => r.StatusCode == HttpStatusCode.Redirect);
        Assert.Equal(5, results.Count(r => r.StatusCode == HttpStatusCode.Gone));
        browsers.ForEach(b => b.Dispose());
    }

    [Fact]
    public async Task An_expired_link_shows_a_friendly_page()
    {
        var link = await LinkPathAsync(fixture.Org[0]);
        using var browser = fixture.App.Browser();
        var page = await browser.GetAsync(link);
        var form = FormOf(await HtmlAsync(page), "main form");
        fixture.Clock.Advance(AdminLoginLinks.Lifetime);

        var expired = await browser.GetAsync(link);
        Assert.Equal(HttpStatusCode.Gone, expired.StatusCode);
        Assert.Contains("This sign-in link has expired", (await HtmlAsync(expired)).QuerySelector("main h1")!.TextContent);
        // A confirm page left open past the expiry does not sign in either.
        var late = await browser.PostAsync(link, form);
        Assert.Equal(HttpStatusCode.Gone, late.StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, (await browser.GetAsync("/admin")).StatusCode);
    }

    [Theory]
    [InlineData("/admin/login?token=")]
    [InlineData("/admin/login?token=not-a-real-token")]
    [InlineData("/admin/login?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    public async Task A_malformed_or_unknown_link_shows_a_friendly_page(string path)
    {
        using var client = fixture.App.Client();
        var page = await client.GetAsync(path);
        Assert.Equal(HttpStatusCode.NotFound, page.StatusCode);
        Assert.Contains("This sign-in link is not valid", (await HtmlAsync(page)).QuerySelector("main h1")!.TextContent);
    }

    [Fact]
    public async Task Every_post_needs_its_antiforgery_token()
    {
        var link = await LinkPathAsync(fixture.Org[0]);
        using var browser = fixture.App.Browser();
        var token = new Uri(fixture.App.BaseAddress, link).Query.Split("token=")[1];
        var forged = await browser.PostAsync("/admin/login", new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = token }));
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        Assert.Contains("That request could not be accepted", (await HtmlAsync(forged)).QuerySelector("main h1")!.TextContent);
        // The link was not spent by the refused request.
        Assert.Equal(HttpStatusCode.Redirect, (await SignInAsync(browser, link)).StatusCode);
        var signOut = await browser.PostAsync("/admin/signout", new FormUrlEncodedContent([]));
        Assert.Equal(HttpStatusCode.BadRequest, signOut.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/admin")).StatusCode);
    }

    [Fact]
    public async Task Signing_out_ends_the_session_on_the_server_so_a_copied_cookie_stops_working()
    {
        var handler = new SocketsHttpHandler { AllowAutoRedirect = false, CookieContainer = new CookieContainer() };
        using var browser = new HttpClient(handler) { BaseAddress = fixture.App.BaseAddress };
        var owner = fixture.Org[0];
        await SignInAsync(browser, await LinkPathAsync(owner));
        var stolen = handler.CookieContainer.GetCookies(new Uri(fixture.App.BaseAddress, "/admin"))["use60_admin"]!.Value;

        var overview = await HtmlAsync(await browser.GetAsync("/admin"));
        var signedOut = await browser.PostAsync("/admin/signout", FormOf(overview, "form.whoami"));
        Assert.Equal(HttpStatusCode.OK, signedOut.StatusCode);
        Assert.Contains("You are signed out", (await HtmlAsync(signedOut)).QuerySelector("main h1")!.TextContent);
        Assert.Equal(HttpStatusCode.Redirect, (await browser.GetAsync("/admin")).StatusCode);

        using var thief = fixture.App.Client();
        var replay = new HttpRequestMessage(HttpMethod.Get, "/admin");
        replay.Headers.Add("Cookie", $"use60_admin={stolen}");
        var replayed = await thief.SendAsync(replay);
        Assert.Equal(HttpStatusCode.Redirect, replayed.StatusCode);
        Assert.Equal("/admin/signin", replayed.Headers.Location!.AbsolutePath);
        Assert.True(await TestData.AsAsync(fixture.App.Services, owner, db =>
            db.SecurityAuditLog.AnyAsync(e => e.UserId == owner.Id && e.EventType == AuditEvents.AdminSignOut)));
    }

    [Fact]
    public async Task A_session_idle_for_more_than_twelve_hours_is_over()
    {
        var handler = new SocketsHttpHandler { AllowAutoRedirect = false, CookieContainer = new CookieContainer() };
        using var browser = new HttpClient(handler) { BaseAddress = fixture.App.BaseAddress };
        await SignInAsync(browser, await LinkPathAsync(fixture.Org[1]));
        var cookie = handler.CookieContainer.GetCookies(new Uri(fixture.App.BaseAddress, "/admin"))["use60_admin"]!.Value;
        var session = await TestData.AsAsync(fixture.App.Services, fixture.Org[1], db =>
            db.AdminSessions.OrderByDescending(s => s.CreatedAt).FirstAsync());
        // Age the session on the server (the cookie's own expiry is checked by the browser, not trusted by us).
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
            await db.AdminSessions.Where(s => s.Id == session.Id)
                .ExecuteUpdateAsync(set => set.SetProperty(s => s.LastSeenAt, fixture.Clock.GetUtcNow() - AdminClaims.IdleTimeout - TimeSpan.FromMinutes(1)));

        using var client = fixture.App.Client();
        var request = new HttpRequestMessage(HttpMethod.Get, "/admin");
        request.Headers.Add("Cookie", $"use60_admin={cookie}");
        Assert.Equal("/admin/signin", (await client.SendAsync(request)).Headers.Location!.AbsolutePath);
    }

    [Fact]
    public async Task A_role_taken_away_takes_effect_on_the_next_request()
    {
        await using var scope = fixture.App.Services.CreateAsyncScope();
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Demoted", UserRole.Owner, UserRole.Admin);
        using var browser = fixture.App.Browser();
        await SignInAsync(browser, await LinkPathAsync(org[1]));
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/admin")).StatusCode);

        await TestData.AsAsync(fixture.App.Services, org[0], async db =>
        {
            var admin = await db.Users.SingleAsync(u => u.Id == org[1].Id);
            admin.Role = UserRole.Member;
            await db.SaveChangesAsync();
        });
        var after = await browser.GetAsync("/admin");
        Assert.Equal(HttpStatusCode.Redirect, after.StatusCode);
        Assert.Equal("/admin/forbidden", after.Headers.Location!.AbsolutePath);
    }

    [Fact]
    public async Task Unknown_admin_pages_and_static_assets_behave()
    {
        using var client = fixture.App.Client();
        var missing = await client.GetAsync("/admin/signin/nothing-here");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("Page not found", (await HtmlAsync(missing)).QuerySelector("main h1")!.TextContent);
        var css = await client.GetAsync("/admin/admin.css");
        Assert.Equal(HttpStatusCode.OK, css.StatusCode);
        Assert.Equal("text/css", css.Content.Headers.ContentType!.MediaType);
        Assert.Equal("/admin", (await client.GetAsync("/")).Headers.Location!.OriginalString);
    }
}
