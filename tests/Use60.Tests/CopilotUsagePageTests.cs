using System.Net;
using System.Text.RegularExpressions;
using AngleSharp.Dom;
using AngleSharp.Html.Dom;
using Microsoft.Extensions.Time.Testing;
using Use60.Admin;
using Use60.Copilot;
using Use60.Orgs;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>The app without an LLM endpoint and with a small monthly token budget, on its own database; each test makes its own orgs.</summary>
public sealed class CopilotUsagePageFixture : IAsyncLifetime
{
    public const long Budget = 10_000;

    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 11, 23, 14, 0, 0, TimeSpan.Zero));
    public TestDatabase Database { get; private set; } = null!;
    public Use60App App { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Database = await TestDatabase.CreateAsync();
        App = new Use60App(Database, new Dictionary<string, string?> { ["Copilot:MonthlyTokenBudget"] = Budget.ToString() }, clock: Clock);
    }

    public async Task DisposeAsync()
    {
        await App.DisposeAsync();
        await Database.DisposeAsync();
    }
}

/// <summary>Copilot usage (/admin/copilot-usage): counts per member and month as owners and admins may see them, never a conversation.</summary>
public sealed class CopilotUsagePageTests(CopilotUsagePageFixture fixture) : IClassFixture<CopilotUsagePageFixture>
{
    const string PagePath = "/admin/copilot-usage";
    static readonly DateOnly November = new(2026, 11, 1);
    static readonly DateOnly October = new(2026, 10, 1);

    /// <summary>An org of its own for each test: an owner (index 0), an admin (1) and a member (2).</summary>
    Task<TestData.TestOrg> NewOrgAsync(string name) =>
        TestData.CreateOrgAsync(fixture.App.Services, $"{name} {Guid.NewGuid().ToString("N")[..6]}", UserRole.Owner, UserRole.Admin, UserRole.Member);

    /// <summary>A month of usage written as <paramref name="user"/> (so the RLS write policy applies: each user writes their own row).</summary>
    async Task SeedUsageAsync(AppUser user, DateOnly month, int requests, int llmCalls, long inputTokens, long outputTokens, decimal cost) =>
        await TestData.AsAsync(fixture.App.Services, user, async db =>
        {
            db.CopilotUsage.Add(new CopilotUsage
            {
                OrgId = user.OrgId, UserId = user.Id, Month = month, Requests = requests, LlmCalls = llmCalls, InputTokens = inputTokens,
                OutputTokens = outputTokens, EstimatedCostUsd = cost,
            });
            await db.SaveChangesAsync();
        });

    /// <summary>A conversation of <paramref name="user"/>'s with one message, written as that user.</summary>
    async Task SeedConversationAsync(AppUser user, string text) =>
        await TestData.AsAsync(fixture.App.Services, user, async db =>
        {
            var now = fixture.Clock.GetUtcNow();
            var conversation = new Conversation { OrgId = user.OrgId, UserId = user.Id, Channel = "D0TEST", StartedAt = now, LastMessageAt = now };
            db.Conversations.Add(conversation);
            db.ConversationMessages.Add(new ConversationMessage
            {
                OrgId = user.OrgId, UserId = user.Id, ConversationId = conversation.Id, Role = MessageRole.User, Text = text, CreatedAt = now,
            });
            db.ConversationMessages.Add(new ConversationMessage
            {
                OrgId = user.OrgId, UserId = user.Id, ConversationId = conversation.Id, Role = MessageRole.Assistant, Text = $"About {text}: here you go.",
                Structured = $$"""{"kind":"note","text":"{{text}}"}""", Planner = "offline", CreatedAt = now,
            });
            await db.SaveChangesAsync();
        });

    /// <summary>Usage of the tests' main org: two reps in November (the current month), one rep and a request without tokens in October.</summary>
    async Task<TestData.TestOrg> OrgWithUsageAsync(string name)
    {
        var org = await NewOrgAsync(name);
        await SeedUsageAsync(org[0], November, requests: 12, llmCalls: 9, inputTokens: 3_000, outputTokens: 500, cost: 0.012345m);
        await SeedUsageAsync(org[1], November, requests: 4, llmCalls: 3, inputTokens: 4_000, outputTokens: 1_000, cost: 1.5m);
        await SeedUsageAsync(org[2], October, requests: 7, llmCalls: 5, inputTokens: 2_000, outputTokens: 250, cost: 0.25m);
        await SeedUsageAsync(org[0], October, requests: 1, llmCalls: 0, inputTokens: 0, outputTokens: 0, cost: 0m);
        return org;
    }

    Task<HttpClient> SignedInAsync(AppUser user) => AdminPages.SignedInAsync(fixture.App, user);

    static Task<IHtmlDocument> UsagePageAsync(HttpClient browser, string path = PagePath) => AdminPages.PageAsync(browser, path);

    /// <summary>The table's rows, each as its cells' text: name, role, requests, LLM calls, input tokens, output tokens, cost.</summary>
    static IReadOnlyList<string[]> Rows(IHtmlDocument page) =>
        [.. page.QuerySelectorAll("table.usage tbody tr").Select(Cells)];

    static string[] Totals(IHtmlDocument page) => Cells(page.QuerySelector("table.usage tfoot tr[data-row=totals]")!);

    static string[] Cells(IElement row) =>
        [.. new[] { "name", "role", "requests", "llm-calls", "input-tokens", "output-tokens", "cost" }
            .Select(field => row.QuerySelector($"[data-field={field}]")?.TextContent.Trim() ?? "")];

    static string Field(IHtmlDocument page, string field) => page.QuerySelector($"[data-field={field}]")!.TextContent.Trim();

    static string Text(IElement element) => Regex.Replace(element.TextContent, @"\s+", " ").Trim();

    [Fact]
    public async Task An_owner_sees_every_member_of_the_org_this_month_with_totals_and_the_token_budget()
    {
        var org = await OrgWithUsageAsync("Usage");
        var (owner, admin, member) = (org[0], org[1], org[2]);
        var other = await NewOrgAsync("Elsewhere");
        await SeedUsageAsync(other[0], November, requests: 99, llmCalls: 88, inputTokens: 77_777, outputTokens: 6_666, cost: 9.99m);

        using var browser = await SignedInAsync(owner);
        var response = await browser.GetAsync(PagePath);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var raw = await response.Content.ReadAsStringAsync();
        var page = AdminPages.Parse(raw);

        Assert.Equal("Copilot usage · use60 admin", page.Title);
        Assert.Equal("Copilot usage", page.QuerySelector("main h1")!.TextContent);
        var nav = page.QuerySelector("header nav a[href='/admin/copilot-usage']")!;
        Assert.Equal("Copilot usage", nav.TextContent);
        Assert.Equal("page", nav.GetAttribute("aria-current"));
        Assert.Equal("November 2026", Field(page, "month"));

        // Every member, most tokens first; the member without a row this month shows zeros.
        Assert.Equal(
        [
            [admin.Name, "admin", "4", "3", "4,000", "1,000", "$1.50"],
            [owner.Name, "owner", "12", "9", "3,000", "500", "$0.0123"],
            [member.Name, "member", "0", "0", "0", "0", "$0.00"],
        ], Rows(page));
        Assert.Equal(new[] { admin.Id, owner.Id, member.Id },
            page.QuerySelectorAll("table.usage tbody tr").Select(r => Guid.Parse(r.GetAttribute("data-user-id")!)));
        Assert.Equal(["Total", "", "16", "12", "7,000", "1,500", "$1.5123"], Totals(page));

        // The budget: 8,500 of 10,000 tokens, as text and as a bar.
        var budget = Text(page.QuerySelector("[data-field=budget]")!);
        Assert.Contains("Monthly token budget: 10,000 tokens", budget);
        Assert.Contains("November 2026: 8,500 used, 85.0%", budget);
        Assert.Equal("85.0%", Field(page, "budget-percent"));
        var meter = page.QuerySelector("meter")!;
        Assert.Equal(("0", "10000", "8500"), (meter.GetAttribute("min"), meter.GetAttribute("max"), meter.GetAttribute("value")));
        Assert.Null(page.QuerySelector("[data-field=over-budget]"));

        // No LLM endpoint in this app: the offline planner answers, with no tokens.
        var mode = page.QuerySelector("[data-llm]")!;
        Assert.Equal("off", mode.GetAttribute("data-llm"));
        Assert.Contains("offline planner answers everyone and uses no tokens", Text(mode));

        var privacy = Text(page.QuerySelector("[data-privacy]")!);
        Assert.Contains("This page shows counts only", privacy);
        Assert.Contains("conversations stay private to each rep", privacy);

        // Months: back to October, nothing after the current month.
        Assert.Equal("/admin/copilot-usage?month=2026-10", page.QuerySelector("nav.usage-months a[rel=prev]")!.GetAttribute("href"));
        Assert.Null(page.QuerySelector("nav.usage-months a[rel=next]"));
        var picker = page.QuerySelector("nav.usage-months form input[name=month]")!;
        Assert.Equal(("month", "2026-11", "2026-11"), (picker.GetAttribute("type"), picker.GetAttribute("value"), picker.GetAttribute("max")));
        Assert.Equal("get", page.QuerySelector("nav.usage-months form")!.GetAttribute("method"));

        // Another org's usage is never counted or shown.
        Assert.DoesNotContain(other[0].Name, page.Body!.TextContent);
        Assert.DoesNotContain("77,777", raw);
        Assert.DoesNotContain("$9.99", raw);
        // Within the CSP (no inline scripts or styles): the page as served has none.
        Assert.DoesNotMatch(new Regex(@"<script(?![^>]*\bsrc=)|<style[\s>]|\sstyle\s*=|\son[a-z]+\s*=", RegexOptions.IgnoreCase), raw);
    }

    [Fact]
    public async Task A_month_in_the_query_shows_that_month_and_anything_else_shows_the_current_month()
    {
        var org = await OrgWithUsageAsync("Months");
        var (owner, admin, member) = (org[0], org[1], org[2]);
        using var browser = await SignedInAsync(admin);

        var october = await UsagePageAsync(browser, $"{PagePath}?month=2026-10");
        Assert.Equal("October 2026", Field(october, "month"));
        // Most tokens first, then by name: the admin and the owner both used none (the owner's request went to the offline planner).
        Assert.Equal(
        [
            [member.Name, "member", "7", "5", "2,000", "250", "$0.25"],
            [admin.Name, "admin", "0", "0", "0", "0", "$0.00"],
            [owner.Name, "owner", "1", "0", "0", "0", "$0.00"],
        ], Rows(october));
        Assert.Equal(["Total", "", "8", "5", "2,000", "250", "$0.25"], Totals(october));
        Assert.Contains("October 2026: 2,250 used, 22.5%", Text(october.QuerySelector("[data-field=budget]")!));
        Assert.Equal("2250", october.QuerySelector("meter")!.GetAttribute("value"));
        Assert.Equal("/admin/copilot-usage?month=2026-09", october.QuerySelector("nav.usage-months a[rel=prev]")!.GetAttribute("href"));
        Assert.Equal("/admin/copilot-usage", october.QuerySelector("nav.usage-months a[rel=next]")!.GetAttribute("href"));
        Assert.Equal("2026-10", october.QuerySelector("input[name=month]")!.GetAttribute("value"));

        // A month with no use at all: everyone at zero.
        var empty = await UsagePageAsync(browser, $"{PagePath}?month=2025-02");
        Assert.Equal("February 2025", Field(empty, "month"));
        Assert.All(Rows(empty), row => Assert.Equal(["0", "0", "0", "0", "$0.00"], row[2..]));
        Assert.Equal("0.0%", Field(empty, "budget-percent"));

        // Anything but a month up to the current one (the future included) is the current month, never an error.
        foreach (var bad in new[] { "garbage", "", "2026-13", "2026-00", "2026-1", "26-11", "2026-10-01", "2026/10", " 2026-10", "2026-10%20",
                                    "2026-12", "2027-01", "9999-12", "-2026-10", "%3Cscript%3E", "%00" })
        {
            var page = await UsagePageAsync(browser, $"{PagePath}?month={bad}");
            Assert.Equal("November 2026", Field(page, "month"));
            Assert.Equal(["Total", "", "16", "12", "7,000", "1,500", "$1.5123"], Totals(page));
            Assert.Null(page.QuerySelector("nav.usage-months a[rel=next]"));
        }

        // The first month there is: no link before it.
        var first = await UsagePageAsync(browser, $"{PagePath}?month=0001-01");
        Assert.Equal("January 0001", Field(first, "month"));
        Assert.Null(first.QuerySelector("nav.usage-months a[rel=prev]"));
        Assert.Equal("/admin/copilot-usage?month=0001-02", first.QuerySelector("nav.usage-months a[rel=next]")!.GetAttribute("href"));
    }

    [Fact]
    public async Task Past_the_budget_the_page_says_the_offline_planner_answers_until_it_resets()
    {
        var org = await NewOrgAsync("Spender");
        await SeedUsageAsync(org[2], November, requests: 40, llmCalls: 60, inputTokens: 9_000, outputTokens: 2_000, cost: 0.0025m);
        using var browser = await SignedInAsync(org[0]);

        var page = await UsagePageAsync(browser);
        Assert.Equal([org[2].Name, "member", "40", "60", "9,000", "2,000", "$0.0025"], Rows(page)[0]);
        Assert.Equal("110.0%", Field(page, "budget-percent"));
        // The bar is full; the text says how far over.
        var meter = page.QuerySelector("meter")!;
        Assert.Equal(("10000", "10000"), (meter.GetAttribute("max"), meter.GetAttribute("value")));
        Assert.Contains("the offline planner answers everyone until it resets on 1 December (UTC)", Text(page.QuerySelector("[data-field=over-budget]")!));

        // A past month is history: no note about now.
        Assert.Null((await UsagePageAsync(browser, $"{PagePath}?month=2026-10")).QuerySelector("[data-field=over-budget]"));
    }

    [Fact]
    public async Task The_page_never_shows_a_word_of_anyones_conversations()
    {
        var org = await OrgWithUsageAsync("Private");
        const string membersWords = "Quokka-7731 secret discount for Northwind";
        const string ownersWords = "Pangolin-4409 my own question";
        await SeedConversationAsync(org[2], membersWords);
        await SeedConversationAsync(org[0], ownersWords);

        using var browser = await SignedInAsync(org[0]);
        foreach (var path in new[] { PagePath, $"{PagePath}?month=2026-10" })
        {
            var response = await browser.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var raw = await response.Content.ReadAsStringAsync();
            // Neither a colleague's conversation nor the viewer's own: the page reads counts only.
            Assert.DoesNotContain("Quokka", raw);
            Assert.DoesNotContain("Pangolin", raw);
            Assert.DoesNotContain("Northwind", raw);
            Assert.DoesNotContain("D0TEST", raw);
        }
        // The counts are still there.
        Assert.Equal(["Total", "", "16", "12", "7,000", "1,500", "$1.5123"], Totals(await UsagePageAsync(browser)));
    }

    [Fact]
    public async Task Owners_and_admins_see_the_page_and_members_are_refused()
    {
        using var anonymous = fixture.App.Client();
        var redirect = await anonymous.GetAsync($"{PagePath}?month=2026-10");
        Assert.Equal(HttpStatusCode.Redirect, redirect.StatusCode);
        Assert.Equal("/admin/signin", redirect.Headers.Location!.AbsolutePath);

        var org = await OrgWithUsageAsync("Roles");
        // The admin reads the whole org's usage (copilot_usage_admin_read), the owner's included.
        using var admin = await SignedInAsync(org[1]);
        var page = await UsagePageAsync(admin);
        Assert.Equal([org[1].Name, org[0].Name, org[2].Name], Rows(page).Select(r => r[0]));
        Assert.Equal("12", Rows(page)[1][2]);

        using var member = await SignedInAsync(org[2]);
        var denied = await member.GetAsync(PagePath);
        Assert.Equal(HttpStatusCode.Redirect, denied.StatusCode);
        Assert.Equal("/admin/forbidden", denied.Headers.Location!.AbsolutePath);
        var deniedMonth = await member.GetAsync($"{PagePath}?month=2026-10");
        Assert.Equal("/admin/forbidden", deniedMonth.Headers.Location!.AbsolutePath);
    }

    [Fact]
    public async Task With_a_budget_of_zero_the_page_says_the_LLM_is_off_and_with_an_endpoint_says_so_without_its_key()
    {
        const string key = "sk-test-Usage-n0t-a-real-key";
        await using var app = new Use60App(fixture.Database, new Dictionary<string, string?>
        {
            ["Copilot:MonthlyTokenBudget"] = "0", ["OpenAI:ApiKey"] = key, ["OpenAI:BaseUrl"] = "http://127.0.0.1:9/v1",
        }, clock: fixture.Clock);
        var org = await TestData.CreateOrgAsync(app.Services, $"Off {Guid.NewGuid().ToString("N")[..6]}", UserRole.Owner);

        using var browser = await AdminPages.SignedInAsync(app, org[0]);

        var response = await browser.GetAsync(PagePath);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var raw = await response.Content.ReadAsStringAsync();
        var page = AdminPages.Parse(raw);
        Assert.Contains("The monthly token budget is 0: the LLM is off", Text(page.QuerySelector("[data-field=budget]")!));
        Assert.Null(page.QuerySelector("meter"));
        Assert.Null(page.QuerySelector("[data-field=budget-percent]"));
        var mode = page.QuerySelector("[data-llm]")!;
        Assert.Equal("on", mode.GetAttribute("data-llm"));
        Assert.Contains("An LLM endpoint is configured", Text(mode));
        Assert.DoesNotContain("n0t-a-real-key", raw);
        Assert.Equal([org[0].Name, "owner", "0", "0", "0", "0", "$0.00"], Assert.Single(Rows(page)));
    }
}
