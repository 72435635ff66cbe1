using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Playwright;
using Use60.Admin;
using Use60.Crm;
using Use60.Data;
using Use60.Orgs;
using Use60.Slack;
using Use60.Tests.Infrastructure;

namespace Use60.BrowserTests;

/// <summary>The local Slack sandbox (/admin/slack) in a real browser: commands, the bot's answers, a modal, its errors.</summary>
public sealed class SlackSandboxBrowserTests(AdminSiteBrowserFixture fixture) : IClassFixture<AdminSiteBrowserFixture>
{
    /// <summary>How long an answer through the inbox and the outbox may take to show.</summary>
    static readonly TimeSpan AnswerWithin = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task An_owner_asks_for_help_then_saves_settings_in_the_modal_after_fixing_an_error()
    {
        await using var context = await fixture.NewContextAsync();
        var owner = fixture.Org[0];
        var page = await SignInAsync(context, owner);
        var consoleErrors = AdminSiteBrowserFixture.ConsoleErrors(page);
        var conversation = $"{SlackSandbox.PagePath}?user={owner.Id}";

        var opened = await page.GotoAsync(SlackSandbox.PagePath);
        Assert.Equal(200, opened!.Status);
        Assert.Equal("Slack sandbox", await page.Locator("main h1").TextContentAsync());
        Assert.Equal("page", await page.Locator($"[data-user-id='{owner.Id}']").GetAttributeAsync("aria-current"));
        Assert.Contains($"Message use60 as {owner.Name}", await page.Locator("form.sandbox-compose label").TextContentAsync());

        // /sixty help: the bot's answer lists the commands.
        await SendAsync(page, "/sixty help");
        Assert.EndsWith(conversation, page.Url);
        var help = page.Locator("[data-from=bot]", new() { HasTextString = "/sixty settings" });
        await UntilAsync(page, conversation, async () => await help.CountAsync() > 0, "the bot's answer to /sixty help");
        Assert.Equal(1, await page.Locator("[data-from=user]", new() { HasTextString = "/sixty help" }).CountAsync());
        Assert.Equal("use60: your sales teammate", await help.Last.Locator(".bk-header").InnerTextAsync());
        Assert.Equal(1, await help.Last.Locator("code", new() { HasTextString = "/sixty settings" }).CountAsync());

        // /sixty settings opens the modal.
        await SendAsync(page, "/sixty settings");
        var modal = page.Locator("[data-view]");
        await UntilAsync(page, conversation, async () => await modal.CountAsync() == 1, "the settings modal");
        Assert.Equal("Your use60 settings", await modal.Locator("h2").InnerTextAsync());
        var snooze = modal.Locator("[data-block-id=snooze] input");
        var zone = modal.Locator("[data-block-id=tz] input");
        Assert.Equal("Europe/London", await zone.InputValueAsync());
        Assert.True(await modal.Locator("[data-block-id=quiet] input[value=saturday]").IsCheckedAsync());
        Assert.False(await modal.Locator("[data-block-id=quiet] input[value=monday]").IsCheckedAsync());

        // An invalid snooze: the app refuses the submission and the error shows under the field, the modal still open.
        await snooze.FillAsync("abc");
        await SubmitAsync(page, modal.Locator("[data-view-action=submit]"));
        var snoozeError = page.Locator("[data-error-for=snooze]");
        await UntilAsync(page, conversation, async () => await snoozeError.CountAsync() == 1, "the snooze field's error");
        Assert.Contains("whole number", await snoozeError.InnerTextAsync());
        Assert.Equal(1, await modal.CountAsync());
        Assert.Equal("Europe/London", await zone.InputValueAsync());
        Assert.True(await modal.Locator("[data-block-id=quiet] input[value=sunday]").IsCheckedAsync());
        await AssertNoInlineScriptOrStyleAsync(page, conversation);
        await ScreenshotAsync(page, "slack-sandbox-modal.png");

        // Fixed: the modal closes and the bot confirms in the DM.
        await snooze.FillAsync("3");
        await zone.FillAsync("Europe/Paris");
        await SubmitAsync(page, modal.Locator("[data-view-action=submit]"));
        var saved = page.Locator("[data-from=bot]", new() { HasTextString = "Settings saved" });
        await UntilAsync(page, conversation, async () => await saved.CountAsync() > 0, "the bot's \"Settings saved\" message");
        Assert.Contains("Europe/Paris", await saved.Last.InnerTextAsync());
        Assert.Equal(0, await modal.CountAsync());
        Assert.Equal(0, await page.Locator("[data-waiting]").CountAsync());
        await ScreenshotAsync(page, "slack-sandbox.png");
        Assert.Equal(0, await page.Locator("[data-error=page]").CountAsync());
        await using (var db = fixture.App.Service<SystemDb>().Open("check the saved settings"))
        {
            Assert.Equal("Europe/Paris", (await db.Users.AsNoTracking().SingleAsync(u => u.Id == owner.Id)).TimeZone);
            var preferences = await db.UserPreferences.AsNoTracking().SingleAsync(p => p.UserId == owner.Id);
            Assert.NotNull(preferences.SnoozedUntil);
        }

        // The page works within the CSP: nothing the browser refused (see also the markup check above).
        Assert.DoesNotContain(consoleErrors, e => e.Contains("Content Security Policy", StringComparison.OrdinalIgnoreCase));
        Assert.Empty(consoleErrors);
    }

    [Fact]
    public async Task Messages_render_their_Block_Kit_safely_and_buttons_post_back()
    {
        var member = fixture.Org[1];
        await using (var db = fixture.App.Service<SystemDb>().Open("a test message"))
            await fixture.App.Service<SandboxSlackTransport>().AddMessageAsync(db, member, new JsonObject
            {
                ["text"] = "fallback",
                ["blocks"] = JsonNode.Parse("""
                    [
                      {"type": "header", "text": {"type": "plain_text", "text": "Deal <img src=x id=injected> alert"}},
                      {"type": "section", "block_id": "deal",
                       "text": {"type": "mrkdwn", "text": "*Acme* is _stalled_: see <https://example.com/deal?id=1&amp;x=2|the deal>, `code` &lt;b&gt;not bold&lt;/b&gt;\nsecond line <javascript:alert(1)|no link>"},
                       "fields": [{"type": "mrkdwn", "text": "*Stage*\nProposal"}, {"type": "mrkdwn", "text": "*Amount*\n$12,000"}],
                       "accessory": {"type": "button", "text": {"type": "plain_text", "text": "Open"}, "action_id": "test_open", "url": "https://example.com/deal"}},
                      {"type": "context", "elements": [{"type": "mrkdwn", "text": "Last activity 9 days ago"}]},
                      {"type": "divider"},
                      {"type": "actions", "block_id": "choices", "elements": [
                        {"type": "button", "text": {"type": "plain_text", "text": "Snooze"}, "action_id": "test_snooze", "value": "s1", "style": "primary"},
                        {"type": "button", "text": {"type": "plain_text", "text": "Close lost"}, "action_id": "test_lost", "style": "danger",
                         "confirm": {"title": {"type": "plain_text", "text": "Sure?"}, "text": {"type": "plain_text", "text": "This closes the deal."},
                                     "confirm": {"type": "plain_text", "text": "Close it"}, "deny": {"type": "plain_text", "text": "Keep it"}}},
                        {"type": "static_select", "action_id": "test_stage", "placeholder": {"type": "plain_text", "text": "Move to"},
                         "options": [{"text": {"type": "plain_text", "text": "Proposal"}, "value": "proposal"},
                                     {"text": {"type": "plain_text", "text": "Negotiation"}, "value": "negotiation"},
                                     {"text": {"type": "plain_text", "text": "Closed won"}, "value": "closed_won"}],
                         "initial_option": {"text": {"type": "plain_text", "text": "Negotiation"}, "value": "negotiation"}}
                      ]}
                    ]
                    """),
            }, fromBot: true, ephemeral: false, CancellationToken.None);

        await using var context = await fixture.NewContextAsync();
        var page = await SignInAsync(context, fixture.Org[0]);
        var conversation = $"{SlackSandbox.PagePath}?user={member.Id}";
        await page.GotoAsync(conversation);
        var message = page.Locator("[data-from=bot]").Last;

        Assert.Equal("Deal <img src=x id=injected> alert", await message.Locator(".bk-header").InnerTextAsync());
        Assert.Equal(0, await page.Locator("#injected").CountAsync());
        Assert.Equal("Acme", await message.Locator("strong", new() { HasTextString = "Acme" }).InnerTextAsync());
        Assert.Equal("stalled", await message.Locator("em").InnerTextAsync());
        Assert.Equal(0, await message.Locator(".bk-text b").CountAsync());
        Assert.Contains("<b>not bold</b>", await message.Locator(".bk-section .bk-text").InnerTextAsync());
        var link = message.Locator("a", new() { HasTextString = "the deal" });
        Assert.Equal("https://example.com/deal?id=1&x=2", await link.GetAttributeAsync("href"));
        Assert.Equal("_blank", await link.GetAttributeAsync("target"));
        Assert.Contains("noopener", await link.GetAttributeAsync("rel"));
        Assert.Equal(0, await message.Locator("a", new() { HasTextString = "no link" }).CountAsync());
        Assert.Equal(2, await message.Locator(".bk-fields .bk-field").CountAsync());
        Assert.Equal("grid", await message.Locator(".bk-fields").EvaluateAsync<string>("e => getComputedStyle(e).display"));
        Assert.Equal("A", await message.Locator("[data-action-id=test_open]").EvaluateAsync<string>("e => e.tagName"));
        Assert.Equal(1, await message.Locator(".bk-context").CountAsync());
        Assert.Equal(1, await message.Locator("hr.bk-divider").CountAsync());
        Assert.Contains("danger", await message.Locator("summary.bk-button").GetAttributeAsync("class"));
        // The confirm step is inside a closed <details>: shown on the first press, no script needed.
        Assert.Contains("This closes the deal.", await message.Locator(".bk-confirm").TextContentAsync());
        Assert.False(await message.Locator(".bk-confirm button[data-action-id=test_lost]").IsVisibleAsync());
        await message.Locator("summary.bk-button").ClickAsync();
        Assert.True(await message.Locator(".bk-confirm button[data-action-id=test_lost]").IsVisibleAsync());
        Assert.Equal("Close it", await message.Locator(".bk-confirm button[data-action-id=test_lost]").InnerTextAsync());
        Assert.Equal(4, await message.Locator("select[name=value] option").CountAsync());
        Assert.Equal("negotiation", await message.Locator("select[name=value]").InputValueAsync());
        Assert.Equal(1, await message.Locator("select[name=value] option[selected]").CountAsync());

        // A click posts (with its antiforgery token) and comes back to the conversation.
        var snooze = message.Locator("button[data-action-id=test_snooze]");
        Assert.Contains("primary", await snooze.GetAttributeAsync("class"));
        var landed = await SubmitAsync(page, snooze);
        Assert.Equal(200, landed.Status);
        Assert.EndsWith(conversation, page.Url);
        Assert.Equal(0, await page.Locator("[data-error=page]").CountAsync());

        // An empty message is refused on the page.
        await page.Locator("#sandbox-text").FillAsync("   ");
        var refused = await SubmitAsync(page, page.GetByRole(AriaRole.Button, new() { Name = "Send" }));
        Assert.Equal(400, refused.Status);
        Assert.Equal(1, await page.Locator("[data-error-for=text]").CountAsync());
    }

    [Fact]
    public async Task Prep_for_the_next_meeting_then_the_copilot_asks_which_sarah_previews_the_email_and_after_confirm_it_is_in_the_mail_sandbox()
    {
        var owner = fixture.Org[0];
        await TestData.AsAsync(fixture.App.Services, owner, async db =>
        {
            var techCorp = new Company { OrgId = owner.OrgId, UserId = owner.Id, Name = "TechCorp" };
            var northwind = new Company { OrgId = owner.OrgId, UserId = owner.Id, Name = "Northwind" };
            db.AddRange(techCorp, northwind);
            await db.SaveChangesAsync();
            db.AddRange(
                new Contact { OrgId = owner.OrgId, UserId = owner.Id, CompanyId = techCorp.Id, FirstName = "Sarah", LastName = "Chen", Title = "VP Operations", Email = "sarah.chen@techcorp.example" },
                new Contact { OrgId = owner.OrgId, UserId = owner.Id, CompanyId = northwind.Id, FirstName = "Sarah", LastName = "Okafor", Title = "Head of Fulfilment", Email = "sarah@northwind.example" });
            var start = DateTimeOffset.UtcNow.AddHours(1);
            db.CalendarEvents.Add(new Calendar.CalendarEvent
            {
                OrgId = owner.OrgId, UserId = owner.Id, ExternalId = "browser-prep", Title = "TechCorp pricing review", StartTime = start, EndTime = start.AddMinutes(45),
                Attendees = [new() { Email = owner.Email!, Self = true }, new() { Email = "sarah.chen@techcorp.example", Name = "Sarah Chen" }],
            });
            await db.SaveChangesAsync();
        });
        await using var context = await fixture.NewContextAsync();
        var page = await SignInAsync(context, owner);
        var conversation = $"{SlackSandbox.PagePath}?user={owner.Id}";
        await page.GotoAsync(conversation);

        await SendAsync(page, "prep me for my next meeting");
        var brief = page.Locator("[data-from=bot]", new() { HasTextString = "TechCorp pricing review" });
        await UntilAsync(page, conversation, async () => await brief.CountAsync() > 0, "the brief for the next meeting");
        Assert.Contains("Sarah Chen", await brief.Last.InnerTextAsync());

        await SendAsync(page, "email Sarah about pricing");
        var question = page.Locator("[data-from=bot]", new() { HasTextString = "Which one do you mean" });
        await UntilAsync(page, conversation, async () => await question.CountAsync() > 0, "the clarifying question");
        Assert.Equal(1, await question.Last.Locator("button", new() { HasTextString = "Sarah Okafor" }).CountAsync());
        await SubmitAsync(page, question.Last.Locator("button", new() { HasTextString = "Sarah Chen" }));

        var preview = page.Locator("[data-from=bot]", new() { HasTextString = "Send an email to Sarah Chen" });
        await UntilAsync(page, conversation, async () => await preview.CountAsync() > 0, "the email preview");
        Assert.Contains("Pricing", await preview.Last.InnerTextAsync());
        await ScreenshotAsync(page, "copilot-preview.png");
        await SubmitAsync(page, preview.Last.Locator("button[data-action-id=copilot_confirm]"));

        // The preview's own message now says what happened, and its buttons are gone.
        var sent = page.Locator("[data-from=bot]", new() { HasTextString = "Email sent to Sarah Chen" });
        await UntilAsync(page, conversation, async () => await sent.CountAsync() > 0, "the preview edited to show the email was sent");
        Assert.Equal(0, await sent.Last.Locator("button[data-action-id=copilot_confirm]").CountAsync());

        await SubmitAsync(page, page.GetByRole(AriaRole.Link, new() { Name = "Mail sandbox" }));
        Assert.EndsWith("/admin/mail", page.Url);
        Assert.Contains("sarah.chen@techcorp.example", await page.Locator("main").InnerTextAsync());
        Assert.Equal(1, await page.Locator("main", new() { HasTextString = "sarah.chen@techcorp.example" }).Locator("text=sarah.chen@techcorp.example").CountAsync());
        Assert.Contains("Pricing", await page.Locator("main").InnerTextAsync());
    }

    async Task<IPage> SignInAsync(IBrowserContext context, AppUser user)
    {
        var (page, _) = await fixture.SignInAsync(context, user);
        Assert.EndsWith("/admin", page.Url);
        return page;
    }

    static async Task SendAsync(IPage page, string text)
    {
        await page.Locator("#sandbox-text").FillAsync(text);
        var landed = await SubmitAsync(page, page.GetByRole(AriaRole.Button, new() { Name = "Send" }));
        Assert.Equal(200, landed.Status);
    }

    static Task<IResponse> SubmitAsync(IPage page, ILocator button) => AdminSiteBrowserFixture.SubmitAsync(page, button);

    /// <summary>
    /// The CSP (script-src 'self'; style-src 'self') would block inline scripts and styles: the page as served (with messages,
    /// a modal and an error) has none. Checked in the served HTML, as Playwright itself adds styles to the live page for screenshots.
    /// </summary>
    static async Task AssertNoInlineScriptOrStyleAsync(IPage page, string path)
    {
        var response = await page.APIRequest.GetAsync(path);
        Assert.Equal(200, response.Status);
        Assert.Contains("script-src 'self'", response.Headers["content-security-policy"]);
        var html = await response.TextAsync();
        Assert.Contains("data-view=", html);
        Assert.DoesNotMatch(new Regex(@"<script(?![^>]*\bsrc=)", RegexOptions.IgnoreCase), html);
        Assert.DoesNotMatch(new Regex(@"<style[\s>]|\sstyle\s*=|\son[a-z]+\s*=", RegexOptions.IgnoreCase), html);
    }

    static async Task ScreenshotAsync(IPage page, string name)
    {
        var screenshots = Path.Combine(AppContext.BaseDirectory, "screenshots");
        Directory.CreateDirectory(screenshots);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(screenshots, name), FullPage = true });
    }

    /// <summary>Answers arrive asynchronously: reloads the conversation (every quarter second) until <paramref name="condition"/> holds.</summary>
    static async Task UntilAsync(IPage page, string conversation, Func<Task<bool>> condition, string what)
    {
        var deadline = DateTimeOffset.UtcNow + AnswerWithin;
        while (!await condition())
        {
            if (DateTimeOffset.UtcNow > deadline)
                Assert.Fail($"No {what} within {AnswerWithin.TotalSeconds:0} s. The page shows:\n{await page.Locator("main").InnerTextAsync()}");
            await Task.Delay(250);
            await page.GotoAsync(conversation);
        }
    }
}
