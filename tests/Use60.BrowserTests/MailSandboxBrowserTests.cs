using Microsoft.Playwright;
using Use60.Copilot;
using Use60.Tests.Infrastructure;

namespace Use60.BrowserTests;

/// <summary>The local mail sandbox (/admin/mail) in a real browser: reached from the navigation, styled, within the CSP.</summary>
public sealed class MailSandboxBrowserTests(AdminSiteBrowserFixture fixture) : IClassFixture<AdminSiteBrowserFixture>
{
    [Fact]
    public async Task An_owner_opens_the_mail_sandbox_from_the_navigation_and_reads_a_confirmed_email()
    {
        var owner = fixture.Org[0];
        var email = new OutboundEmail
        {
            OrgId = owner.OrgId, UserId = owner.Id, ToAddress = "pat@northwind.example", ToName = "Pat Lee", Subject = "Pricing for Northwind",
            Body = "Hi Pat,\nHere is the pricing we discussed.\nBest,\nThe owner", Delivery = EmailDelivery.Sandbox, SentAt = DateTimeOffset.UtcNow,
        };
        await TestData.AsAsync(fixture.App.Services, owner, async db =>
        {
            db.OutboundEmails.Add(email);
            await db.SaveChangesAsync();
        });

        await using var context = await fixture.NewContextAsync();
        var (page, _) = await fixture.SignInAsync(context, owner);
        Assert.EndsWith("/admin", page.Url);
        var consoleErrors = AdminSiteBrowserFixture.ConsoleErrors(page);

        await AdminSiteBrowserFixture.OpenFromNavigationAsync(page, "Mail sandbox", "/admin/mail");

        Assert.Equal("Mail sandbox", await page.Locator("main h1").TextContentAsync());
        var item = page.Locator($"[data-email-id='{email.Id}']");
        Assert.True(await item.GetByRole(AriaRole.Heading, new() { Name = "Pricing for Northwind" }).IsVisibleAsync());
        Assert.Equal("sandbox — not sent", await item.Locator(".badge").InnerTextAsync());
        Assert.Equal("Pat Lee <pat@northwind.example>", await item.Locator("[data-field=to]").InnerTextAsync());
        // The stylesheet keeps the plain-text body's line breaks.
        var body = item.Locator("[data-field=body]");
        Assert.Equal("pre-wrap", await body.EvaluateAsync<string>("e => getComputedStyle(e).whiteSpace"));
        Assert.Equal(email.Body, await body.InnerTextAsync());
        Assert.Contains("SMTP_URL is not set", await page.Locator("[data-smtp=off]").InnerTextAsync());

        var screenshots = Path.Combine(AppContext.BaseDirectory, "screenshots");
        Directory.CreateDirectory(screenshots);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(screenshots, "mail-sandbox.png"), FullPage = true });
        Assert.Empty(consoleErrors);
    }
}
