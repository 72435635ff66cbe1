using System.Net;
using AngleSharp.Html.Dom;
using Microsoft.EntityFrameworkCore;
using Use60.Copilot.Pages;
using Use60.Data;
using Use60.Orgs;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>Copilot Lab on the demo org: a simulated run shows each action and the Slack message, keeps nothing, and saved cases form a suite.</summary>
public sealed class CopilotLabTests(DigestFixture fixture) : IClassFixture<DigestFixture>
{
    [Fact]
    public async Task A_run_shows_each_action_and_the_slack_message_keeps_nothing_and_saved_cases_rerun_as_a_suite()
    {
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        var owner = await db.Users.AsNoTracking().SingleAsync(u => u.Role == UserRole.Owner && u.OrgId == fixture.Reps[0].OrgId);
        var alex = fixture.Reps[0];
        var browser = await AdminPages.SignedInAsync(fixture.App, owner);
        var page = await AdminPages.HtmlAsync(await browser.GetAsync(LabModel.PagePath));
        Assert.Contains(page.QuerySelectorAll("#skill option"), o => o.GetAttribute("value") == "seq-deal-rescue-plan");
        var deal = await db.Deals.AsNoTracking().Where(d => d.UserId == alex.Id && d.PrimaryContactId != null).OrderBy(d => d.Name).FirstAsync();
        var (pendingBefore, telemetryBefore) = (await db.PendingActions.CountAsync(), await db.ToolExecutions.CountAsync());

        // The rescue plan drafts an email: it only previews, and the rolled-back run leaves no row behind.
        var ran = await browser.PostAsync(LabModel.PagePath + "?handler=Run", Form(page, "#lab-run", ("RunAs", alex.Id.ToString()),
            ("SkillKey", "seq-deal-rescue-plan"), ("Inputs", $"{{\"deal_id\": \"{deal.Id}\"}}")));
        Assert.Equal(HttpStatusCode.OK, ran.StatusCode);
        var result = await AdminPages.HtmlAsync(ran);
        var actions = result.QuerySelectorAll("table.lab-trace tbody tr").Select(r => r.GetAttribute("data-action")).ToList();
        Assert.Equal(["run_sequence", "get_deal", "draft_email", "send_email"], actions);
        Assert.Contains(deal.Name, result.QuerySelector("tr[data-action=get_deal]")!.TextContent);
        Assert.Contains("requires_confirmation", result.QuerySelector("tr[data-action=send_email]")!.TextContent);
        var message = result.QuerySelector("[data-field=message]")!;
        Assert.Contains("Confirm", message.TextContent);
        Assert.Null(result.QuerySelector("[data-field=message] form"));   // shown as in Slack, not pressable
        Assert.Equal((pendingBefore, telemetryBefore), (await db.PendingActions.CountAsync(), await db.ToolExecutions.CountAsync()));

        // Saved as two cases: one whose facts the result has, one whose facts it lacks.
        await browser.PostAsync(LabModel.PagePath + "?handler=Save", Form(result, "#lab-save", ("name", "Rescue drafts an email"), ("facts", $"send_email\n{deal.Name}")));
        await browser.PostAsync(LabModel.PagePath + "?handler=Save", Form(result, "#lab-save", ("name", "Mentions a unicorn"), ("facts", "unicorn")));
        page = await AdminPages.HtmlAsync(await browser.GetAsync(LabModel.PagePath));
        Assert.Equal(2, page.QuerySelectorAll("table.lab-cases tbody tr").Length);

        var suite = await AdminPages.HtmlAsync(await browser.PostAsync(LabModel.PagePath + "?handler=Suite",
            Form(page, "form[action*=Suite]")));
        Assert.Equal("1 of 2 passed.", suite.QuerySelector("[data-field=suite]")!.TextContent.Trim());
        Assert.Equal("yes", suite.QuerySelector("tr[data-case='Rescue drafts an email']")!.GetAttribute("data-passed"));
        var failed = suite.QuerySelector("tr[data-case='Mentions a unicorn']")!;
        Assert.Equal("no", failed.GetAttribute("data-passed"));
        Assert.Contains("missing: unicorn", failed.QuerySelector("[data-field=last]")!.TextContent);
        Assert.Equal((pendingBefore, telemetryBefore), (await db.PendingActions.CountAsync(), await db.ToolExecutions.CountAsync()));
    }

    [Fact]
    public async Task Bad_inputs_and_unknown_skills_are_explained_not_run()
    {
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        var owner = await db.Users.AsNoTracking().SingleAsync(u => u.Role == UserRole.Owner && u.OrgId == fixture.Reps[0].OrgId);
        var browser = await AdminPages.SignedInAsync(fixture.App, owner);
        var page = await AdminPages.HtmlAsync(await browser.GetAsync(LabModel.PagePath));
        var shown = await AdminPages.HtmlAsync(await browser.PostAsync(LabModel.PagePath + "?handler=Run", Form(page, "#lab-run",
            ("RunAs", owner.Id.ToString()), ("SkillKey", "no-such-skill"), ("Inputs", "[1, 2"))));
        Assert.Contains("Pick a skill or sequence", shown.QuerySelector("#skill-problem")!.TextContent);
        Assert.Contains("not valid JSON", shown.QuerySelector("#inputs-problem")!.TextContent);
        Assert.Null(shown.QuerySelector("[data-field=result]"));
    }

    static FormUrlEncodedContent Form(IHtmlDocument page, string form, params (string Name, string Value)[] fields)
    {
        var values = page.QuerySelectorAll($"{form} input[type=hidden]").OfType<IHtmlInputElement>().ToDictionary(i => i.Name!, i => i.Value);
        foreach (var (name, value) in fields) values[name] = value;
        return new FormUrlEncodedContent(values);
    }
}
