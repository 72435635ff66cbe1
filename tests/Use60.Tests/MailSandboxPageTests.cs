using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using AngleSharp.Dom;
using AngleSharp.Html.Dom;
using Microsoft.Extensions.Time.Testing;
using Use60.Admin;
using Use60.Copilot;
using Use60.Copilot.Pages;
using Use60.Orgs;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>The app without SMTP_URL, on its own database; each test makes its own orgs.</summary>
public sealed class MailSandboxPageFixture : IAsyncLifetime
{
    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 11, 23, 14, 0, 0, TimeSpan.Zero));
    public TestDatabase Database { get; private set; } = null!;
    public Use60App App { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Database = await TestDatabase.CreateAsync();
        App = new Use60App(Database, clock: Clock);
    }

    public async Task DisposeAsync()
    {
        await App.DisposeAsync();
        await Database.DisposeAsync();
    }
}

/// <summary>The mail sandbox page (/admin/mail): confirmed emails as row-level security lets the signed-in admin see them.</summary>
public sealed class MailSandboxPageTests(MailSandboxPageFixture fixture) : IClassFixture<MailSandboxPageFixture>
{
    const string PagePath = "/admin/mail";

    /// <summary>An org of its own for each test: an owner (index 0) and a member (index 1).</summary>
    Task<TestData.TestOrg> NewOrgAsync(string name) =>
        TestData.CreateOrgAsync(fixture.App.Services, $"{name} {Guid.NewGuid().ToString("N")[..6]}", UserRole.Owner, UserRole.Member);

    /// <summary>An email written as <paramref name="user"/> (so the RLS write policy applies), as the mailer stores it.</summary>
    async Task<OutboundEmail> SeedEmailAsync(AppUser user, string subject, DateTimeOffset sentAt, string body = "Hello Pat,\nThanks for your time.",
        string? toName = "Pat Lee", string toAddress = "pat@example.com", EmailDelivery delivery = EmailDelivery.Sandbox)
    {
        var email = new OutboundEmail
        {
            OrgId = user.OrgId, UserId = user.Id, ToAddress = toAddress, ToName = toName, Subject = subject, Body = body, Delivery = delivery,
            SentAt = sentAt,
        };
        await TestData.AsAsync(fixture.App.Services, user, async db =>
        {
            db.OutboundEmails.Add(email);
            await db.SaveChangesAsync();
        });
        return email;
    }

    Task<HttpClient> SignedInAsync(AppUser user) => AdminPages.SignedInAsync(fixture.App, user);

    static Task<IHtmlDocument> MailPageAsync(HttpClient browser, string path = PagePath) => AdminPages.PageAsync(browser, path);

    static IReadOnlyList<IElement> Emails(IHtmlDocument page) => [.. page.QuerySelectorAll("ol.mail-list > li.mail")];

    static IElement EmailOf(IHtmlDocument page, OutboundEmail email) =>
        Assert.Single(Emails(page), e => e.GetAttribute("data-email-id") == email.Id.ToString());

    static string Field(IElement email, string field) => email.QuerySelector($"[data-field={field}]")!.TextContent;

    [Fact]
    public async Task An_owner_sees_their_own_emails_newest_first_with_sender_recipient_badge_and_local_time()
    {
        var org = await NewOrgAsync("Mailco");
        var (owner, member) = (org[0], org[1]);
        var older = await SeedEmailAsync(owner, "Pricing follow-up", new DateTimeOffset(2026, 7, 1, 12, 0, 0, TimeSpan.Zero));
        var newer = await SeedEmailAsync(owner, "Contract next steps", new DateTimeOffset(2026, 11, 20, 9, 30, 0, TimeSpan.Zero),
            toName: "Sam Ortiz", toAddress: "sam@northwind.example", delivery: EmailDelivery.Smtp);
        var noName = await SeedEmailAsync(owner, "No name on file", new DateTimeOffset(2026, 6, 1, 8, 0, 0, TimeSpan.Zero), toName: null,
            toAddress: "info@acme.example");
        var colleagues = await SeedEmailAsync(member, "The member's private email", new DateTimeOffset(2026, 11, 21, 10, 0, 0, TimeSpan.Zero));

        using var browser = await SignedInAsync(owner);
        var page = await MailPageAsync(browser);

        Assert.Equal("Mail sandbox · use60 admin", page.Title);
        Assert.Equal("Mail sandbox", page.QuerySelector("main h1")!.TextContent);
        var nav = page.QuerySelector("header nav a[href='/admin/mail']")!;
        Assert.Equal("Mail sandbox", nav.TextContent);
        Assert.Equal("page", nav.GetAttribute("aria-current"));

        // Newest first; the member's email is not the owner's to read while the org keeps emails private.
        Assert.Equal(new[] { newer.Id, older.Id, noName.Id }, Emails(page).Select(e => Guid.Parse(e.GetAttribute("data-email-id")!)));
        Assert.DoesNotContain(colleagues.Subject, page.Body!.TextContent);

        var first = EmailOf(page, newer);
        Assert.Equal("Contract next steps", first.QuerySelector(".mail-subject")!.TextContent);
        Assert.Equal(owner.Name, Field(first, "from"));
        Assert.Equal("Sam Ortiz <sam@northwind.example>", Field(first, "to"));
        Assert.Equal("sent via SMTP", first.QuerySelector(".badge")!.TextContent);
        Assert.Equal("smtp", first.GetAttribute("data-delivery"));

        var second = EmailOf(page, older);
        Assert.Equal("Pat Lee <pat@example.com>", Field(second, "to"));
        Assert.Equal("sandbox — not sent", second.QuerySelector(".badge")!.TextContent);
        // In the viewer's time zone (Europe/London, on summer time in July), with the instant itself in datetime.
        var sent = second.QuerySelector("[data-field=sent] time")!;
        Assert.Equal("Wed 1 Jul 2026, 13:00", sent.TextContent);
        Assert.Equal(older.SentAt!.Value, DateTimeOffset.Parse(sent.GetAttribute("datetime")!, CultureInfo.InvariantCulture));
        Assert.Equal("info@acme.example", Field(EmailOf(page, noName), "to"));

        var mode = page.QuerySelector("[data-smtp]")!;
        Assert.Equal("off", mode.GetAttribute("data-smtp"));
        Assert.Contains("SMTP_URL is not set", mode.TextContent);
        Assert.Contains("sandbox is in use", mode.TextContent);
        Assert.Contains("nothing is sent", mode.TextContent);
        Assert.Null(page.QuerySelector("[data-empty]"));
        Assert.Null(page.QuerySelector("nav.pager"));
    }

    [Fact]
    public async Task A_colleagues_emails_are_listed_only_once_the_org_shares_emails_and_never_another_orgs()
    {
        var org = await NewOrgAsync("Sharing");
        var other = await NewOrgAsync("Elsewhere");
        var mine = await SeedEmailAsync(org[0], "The owner's own email", fixture.Clock.GetUtcNow().AddHours(-3));
        var colleagues = await SeedEmailAsync(org[1], "The member's email", fixture.Clock.GetUtcNow().AddHours(-1));
        var outsiders = await SeedEmailAsync(other[0], "Another org's email", fixture.Clock.GetUtcNow().AddHours(-2));
        await TestData.SetSharingAsync(fixture.App.Services, other.Id, emails: true);

        using var browser = await SignedInAsync(org[0]);
        var page = await MailPageAsync(browser);
        Assert.Equal(new[] { mine.Id }, Emails(page).Select(e => Guid.Parse(e.GetAttribute("data-email-id")!)));
        Assert.DoesNotContain(colleagues.Subject, page.Body!.TextContent);
        Assert.Contains("your colleagues' stay private to them", page.QuerySelector("main .lead")!.TextContent);

        await TestData.SetSharingAsync(fixture.App.Services, org.Id, emails: true);
        page = await MailPageAsync(browser);
        Assert.Equal(new[] { colleagues.Id, mine.Id }, Emails(page).Select(e => Guid.Parse(e.GetAttribute("data-email-id")!)));
        var shared = EmailOf(page, colleagues);
        Assert.Equal("The member's email", shared.QuerySelector(".mail-subject")!.TextContent);
        Assert.Equal(org[1].Name, Field(shared, "from"));
        Assert.Contains("the org shares emails", page.QuerySelector("main .lead")!.TextContent);
        Assert.DoesNotContain(outsiders.Subject, page.Body!.TextContent);

        await TestData.SetSharingAsync(fixture.App.Services, org.Id, emails: false);
        Assert.Equal(new[] { mine.Id }, Emails(await MailPageAsync(browser)).Select(e => Guid.Parse(e.GetAttribute("data-email-id")!)));
    }

    [Fact]
    public async Task Bodies_are_plain_text_encoded_with_their_line_breaks_and_long_ones_are_collapsed()
    {
        var org = await NewOrgAsync("Bodies");
        const string hostile = "Hi Pat,\n<script>alert('owned')</script>\n<b>not bold</b> & <img src=x id=injected>\r\nBest,\nAlex";
        var shortOne = await SeedEmailAsync(org[0], "A <i>subject</i> with markup", fixture.Clock.GetUtcNow().AddMinutes(-2), hostile,
            toName: "Pat <pat@evil.example>");
        var longBody = string.Join('\n', Enumerable.Range(1, 30).Select(i => $"Paragraph {i} of a long email."));
        var longOne = await SeedEmailAsync(org[0], "A long email", fixture.Clock.GetUtcNow().AddMinutes(-1), longBody);

        using var browser = await SignedInAsync(org[0]);
        var response = await browser.GetAsync(PagePath);
        var raw = await response.Content.ReadAsStringAsync();
        var page = AdminPages.Parse(raw);

        // Shown as text: no element made from the email, the markup visible as typed, line breaks kept (CRLF as one).
        Assert.Empty(page.QuerySelectorAll("main script"));
        Assert.Null(page.GetElementById("injected"));
        Assert.Contains("&lt;script&gt;", raw);
        // Within the CSP (no inline scripts or styles): the page as served has none.
        Assert.DoesNotMatch(new Regex(@"<script(?![^>]*\bsrc=)|<style[\s>]|\sstyle\s*=|\son[a-z]+\s*=", RegexOptions.IgnoreCase), raw);
        var email = EmailOf(page, shortOne);
        Assert.Null(email.QuerySelector("details"));
        var body = email.QuerySelector("[data-field=body]")!;
        Assert.Empty(body.Children);
        Assert.Equal(hostile.Replace("\r\n", "\n"), body.TextContent);
        Assert.Contains("mail-text", body.ClassList);
        Assert.Equal("A <i>subject</i> with markup", email.QuerySelector(".mail-subject")!.TextContent);
        Assert.Empty(email.QuerySelectorAll(".mail-subject i"));
        Assert.Equal("Pat <pat@evil.example> <pat@example.com>", Field(email, "to"));

        // A long body is in a closed <details>, its first line as the summary.
        var collapsed = EmailOf(page, longOne).QuerySelector("details.mail-body")!;
        Assert.False(collapsed.HasAttribute("open"));
        Assert.Equal("Paragraph 1 of a long email.", collapsed.QuerySelector("summary .mail-excerpt")!.TextContent);
        Assert.Contains("30 lines", collapsed.QuerySelector("summary")!.TextContent);
        Assert.Equal(longBody, collapsed.QuerySelector("[data-field=body]")!.TextContent);
    }

    [Fact]
    public async Task Emails_come_fifty_a_page_and_a_bad_page_number_shows_page_one()
    {
        var org = await NewOrgAsync("Paging");
        var start = fixture.Clock.GetUtcNow().AddDays(-10);
        // Emails 0..50, email 50 the newest: page 1 has 50..1, page 2 has email 0.
        await TestData.AsAsync(fixture.App.Services, org[0], async db =>
        {
            db.OutboundEmails.AddRange(Enumerable.Range(0, MailModel.PageSize + 1).Select(i => new OutboundEmail
            {
                OrgId = org.Id, UserId = org[0].Id, ToAddress = "pat@example.com", Subject = $"Email {i:00}", Body = "Hello",
                Delivery = EmailDelivery.Sandbox, SentAt = start.AddMinutes(i),
            }));
            await db.SaveChangesAsync();
        });
        using var browser = await SignedInAsync(org[0]);

        static IEnumerable<string> Subjects(IHtmlDocument page) => Emails(page).Select(e => e.QuerySelector(".mail-subject")!.TextContent);
        var expectedFirst = Enumerable.Range(1, MailModel.PageSize).Reverse().Select(i => $"Email {i:00}").ToList();

        var first = await MailPageAsync(browser);
        Assert.Equal(expectedFirst, Subjects(first));
        Assert.Contains("51 emails · page 1 of 2", first.QuerySelector("[data-count=emails]")!.TextContent);
        Assert.Null(first.QuerySelector("nav.pager a[rel=prev]"));
        Assert.Equal("/admin/mail?page=2", first.QuerySelector("nav.pager a[rel=next]")!.GetAttribute("href"));

        var second = await MailPageAsync(browser, "/admin/mail?page=2");
        Assert.Equal(new[] { "Email 00" }, Subjects(second));
        Assert.Equal("/admin/mail", second.QuerySelector("nav.pager a[rel=prev]")!.GetAttribute("href"));
        Assert.Null(second.QuerySelector("nav.pager a[rel=next]"));

        foreach (var bad in new[] { "abc", "", "0", "-1", "+2", " 2", "1.5", "2e0", "3", "99999999999", "%00", "1&page=2", "%3Cscript%3E" })
        {
            var page = await MailPageAsync(browser, $"/admin/mail?page={bad}");
            Assert.Equal(expectedFirst, Subjects(page));
            Assert.Contains("page 1 of 2", page.QuerySelector("[data-count=emails]")!.TextContent);
        }
    }

    [Fact]
    public async Task With_no_emails_the_page_says_where_they_come_from_and_that_nothing_is_sent_without_SMTP_URL()
    {
        var org = await NewOrgAsync("Empty");
        using var browser = await SignedInAsync(org[0]);
        var page = await MailPageAsync(browser, "/admin/mail?page=abc");
        Assert.Empty(Emails(page));
        var empty = page.QuerySelector("[data-empty=mail]")!.TextContent;
        Assert.Contains("No emails yet", empty);
        Assert.Contains("after a rep confirms one in Slack", empty);
        Assert.Contains("Without SMTP_URL nothing is ever sent to real people", empty);
        Assert.Equal("off", page.QuerySelector("[data-smtp]")!.GetAttribute("data-smtp"));
    }

    [Fact]
    public async Task The_page_needs_a_signed_in_owner_or_admin()
    {
        using var anonymous = fixture.App.Client();
        var redirect = await anonymous.GetAsync("/admin/mail?page=2");
        Assert.Equal(HttpStatusCode.Redirect, redirect.StatusCode);
        Assert.Equal("/admin/signin", redirect.Headers.Location!.AbsolutePath);

        var org = await NewOrgAsync("Members");
        using var member = await SignedInAsync(org[1]);
        var denied = await member.GetAsync(PagePath);
        Assert.Equal(HttpStatusCode.Redirect, denied.StatusCode);
        Assert.Equal("/admin/forbidden", denied.Headers.Location!.AbsolutePath);
    }

    [Fact]
    public async Task With_SMTP_URL_set_the_page_says_so_without_showing_the_url()
    {
        const string url = "smtp://mailer:Sup3r-s3cret@relay.mail.example:2525";
        await using var app = new Use60App(fixture.Database, new Dictionary<string, string?> { ["Smtp:Url"] = url });
        Assert.False(app.Service<Mailer>().UsesSandbox);
        var org = await TestData.CreateOrgAsync(app.Services, $"Relay {Guid.NewGuid().ToString("N")[..6]}", UserRole.Owner);

        using var browser = await AdminPages.SignedInAsync(app, org[0]);

        var response = await browser.GetAsync(PagePath);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var raw = await response.Content.ReadAsStringAsync();
        var mode = AdminPages.Parse(raw).QuerySelector("[data-smtp]")!;
        Assert.Equal("on", mode.GetAttribute("data-smtp"));
        Assert.Contains("SMTP_URL is set", mode.TextContent);
        Assert.DoesNotContain("s3cret", raw);
        Assert.DoesNotContain("relay.mail.example", raw);
        Assert.DoesNotContain("mailer:", raw);
    }
}
