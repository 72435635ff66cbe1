using Microsoft.EntityFrameworkCore;
using Use60.Data;
using Use60.Orgs;
using Use60.Orgs.Pages;
using Use60.Security;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>The Team page: owners change roles (audited, never leaving the org without an owner); admins and viewers only look; members are refused.</summary>
public sealed class TeamPageTests(CopilotUsagePageFixture fixture) : IClassFixture<CopilotUsagePageFixture>
{
    [Fact]
    public async Task An_owner_changes_a_role_with_an_audit_entry_and_cannot_remove_the_last_owner()
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Roles " + Guid.NewGuid().ToString("N")[..6], UserRole.Owner, UserRole.Admin, UserRole.Member);
        var (owner, admin, member) = (org[0], org[1], org[2]);
        var browser = await AdminPages.SignedInAsync(fixture.App, owner);
        var page = await AdminPages.HtmlAsync(await browser.GetAsync(TeamModel.PagePath));
        Assert.Equal(3, page.QuerySelectorAll("table.team tbody tr").Length);
        Assert.Equal("Europe/London", page.QuerySelector($"tr[data-user-id='{member.Id}'] [data-field=time-zone]")!.TextContent);

        await PostRoleAsync(browser, page, member, "admin");
        Assert.Equal(UserRole.Admin, await RoleOfAsync(member));
        Assert.Contains("is now an admin", (await AdminPages.HtmlAsync(await browser.GetAsync(TeamModel.PagePath))).QuerySelector("[data-field=notice]")!.TextContent);
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
        {
            var entry = Assert.Single(await db.SecurityAuditLog.AsNoTracking().Where(a => a.EventType == AuditEvents.RoleChanged && a.OrgId == org.Id).ToListAsync());
            Assert.Equal(owner.Id, entry.UserId);
            var details = System.Text.Json.Nodes.JsonNode.Parse(entry.Details)!;
            Assert.Equal(("member", "admin", member.Id.ToString()), ((string)details["before"]!, (string)details["after"]!, (string)details["member"]!));
        }

        // The only owner cannot make themselves something else; a bogus role changes nothing.
        page = await AdminPages.HtmlAsync(await browser.GetAsync(TeamModel.PagePath));
        await PostRoleAsync(browser, page, owner, "viewer");
        Assert.Equal(UserRole.Owner, await RoleOfAsync(owner));
        Assert.Contains("only owner", (await AdminPages.HtmlAsync(await browser.GetAsync(TeamModel.PagePath))).QuerySelector("[data-field=notice]")!.TextContent);
        page = await AdminPages.HtmlAsync(await browser.GetAsync(TeamModel.PagePath));
        await PostRoleAsync(browser, page, member, "1");
        Assert.Equal(UserRole.Admin, await RoleOfAsync(member));

        // An admin sees the team, with no way to change it; a forged post is refused.
        var asAdmin = await AdminPages.SignedInAsync(fixture.App, admin);
        var adminPage = await AdminPages.HtmlAsync(await asAdmin.GetAsync(TeamModel.PagePath));
        Assert.Empty(adminPage.QuerySelectorAll("table.team form"));
        Assert.Contains("Only owners change roles", adminPage.QuerySelector("p.lead")!.TextContent);
        var forged = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["userId"] = owner.Id.ToString(), ["role"] = "viewer",
            ["__RequestVerificationToken"] = adminPage.QuerySelector("form.whoami input[name=__RequestVerificationToken]")!.GetAttribute("value")!,
        });
        await asAdmin.PostAsync(TeamModel.PagePath + "?handler=Role", forged);
        Assert.Equal(UserRole.Owner, await RoleOfAsync(owner));

        // Demoted to member, the former admin is refused the admin site on their next request.
        page = await AdminPages.HtmlAsync(await browser.GetAsync(TeamModel.PagePath));
        await PostRoleAsync(browser, page, admin, "member");
        Assert.Equal("/admin/forbidden", (await asAdmin.GetAsync(TeamModel.PagePath)).Headers.Location?.AbsolutePath);
    }

    [Fact]
    public async Task A_viewer_reads_the_overview_and_the_team_and_can_change_nothing()
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Viewers " + Guid.NewGuid().ToString("N")[..6], UserRole.Owner, UserRole.Viewer, UserRole.Member);
        var (viewer, member) = (org[1], org[2]);
        var browser = await AdminPages.SignedInAsync(fixture.App, viewer);

        var team = await browser.GetAsync(TeamModel.PagePath);
        Assert.Equal(System.Net.HttpStatusCode.OK, team.StatusCode);
        var page = await AdminPages.HtmlAsync(team);
        Assert.Equal(3, page.QuerySelectorAll("table.team tbody tr").Length);
        Assert.Empty(page.QuerySelectorAll("table.team form"));
        // The navigation offers only what a viewer may open.
        Assert.Equal(["/admin", TeamModel.PagePath], page.QuerySelectorAll("nav[aria-label='Admin sections'] a").Select(a => a.GetAttribute("href")!));
        Assert.Equal(System.Net.HttpStatusCode.OK, (await browser.GetAsync("/admin")).StatusCode);

        // Every other page, and every change, is refused.
        foreach (var path in new[] { SettingsModel.PagePath, "/admin/security", "/admin/jobs", "/admin/skills" })
            Assert.Equal("/admin/forbidden", (await browser.GetAsync(path)).Headers.Location?.AbsolutePath);
        var forged = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["userId"] = member.Id.ToString(), ["role"] = "admin",
            ["__RequestVerificationToken"] = page.QuerySelector("form.whoami input[name=__RequestVerificationToken]")!.GetAttribute("value")!,
        });
        Assert.Equal("/admin/forbidden", (await browser.PostAsync(TeamModel.PagePath + "?handler=Role", forged)).Headers.Location?.AbsolutePath);
        Assert.Equal(UserRole.Member, await RoleOfAsync(member));

        // A member is still refused everything, the overview included.
        var asMember = await AdminPages.SignedInAsync(fixture.App, member);
        Assert.Equal("/admin/forbidden", (await asMember.GetAsync(TeamModel.PagePath)).Headers.Location?.AbsolutePath);
        Assert.Equal("/admin/forbidden", (await asMember.GetAsync("/admin")).Headers.Location?.AbsolutePath);
    }

    static async Task PostRoleAsync(HttpClient browser, AngleSharp.Html.Dom.IHtmlDocument page, AppUser who, string role)
    {
        var form = AdminPages.FormOf(page, $"tr[data-user-id='{who.Id}'] form");
        var fields = (await form.ReadAsStringAsync()).Split('&').Select(p => p.Split('=')).ToDictionary(p => Uri.UnescapeDataString(p[0]), p => Uri.UnescapeDataString(p[1]));
        fields["role"] = role;
        await browser.PostAsync(TeamModel.PagePath + "?handler=Role", new FormUrlEncodedContent(fields));
    }

    async Task<UserRole> RoleOfAsync(AppUser user)
    {
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        return await db.Users.Where(u => u.Id == user.Id).Select(u => u.Role).SingleAsync();
    }
}
