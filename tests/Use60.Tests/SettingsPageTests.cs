using System.Net;
using System.Text.Json.Nodes;
using AngleSharp.Html.Dom;
using Microsoft.EntityFrameworkCore;
using Use60.Data;
using Use60.Orgs;
using Use60.Orgs.Pages;
using Use60.Security;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>Settings and profile versions: validated, saved, audited with before and after, previewed as the persona, restorable.</summary>
public sealed class SettingsPageTests(CopilotUsagePageFixture fixture) : IClassFixture<CopilotUsagePageFixture>
{
    [Fact]
    public async Task The_profile_is_validated_previewed_saved_audited_and_shapes_the_persona()
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Profiled " + Guid.NewGuid().ToString("N")[..6], UserRole.Owner, UserRole.Member);
        var browser = await AdminPages.SignedInAsync(fixture.App, org[0]);
        var page = await GetAsync(browser);
        Assert.Equal(5, page.QuerySelectorAll("table.integrations tbody tr").Length);
        Assert.Equal("no", page.QuerySelector("tr[data-integration='Slack']")!.GetAttribute("data-ready"));
        Assert.Contains("OPENAI_API_KEY", page.QuerySelector("tr[data-integration='LLM endpoint']")!.TextContent);

        // Invalid: no company name, and a competitor line without a name.
        var invalid = await browser.PostAsync(SettingsModel.PagePath + "?handler=Profile", Profile(page, "", competitors: ": we are cheaper"));
        Assert.Equal(HttpStatusCode.OK, invalid.StatusCode);
        var shown = await AdminPages.HtmlAsync(invalid);
        Assert.Contains("Enter the company's name", shown.QuerySelector("#company-problem")!.TextContent);
        Assert.Contains("Start each line with a name", shown.QuerySelector("#competitors-problem")!.TextContent);
        Assert.Equal(0, await RevisionsAsync(org.Id));

        // The preview compiles what is typed, saving nothing.
        var preview = await browser.PostAsync(SettingsModel.PagePath + "?handler=Preview", Profile(page, "Acme Freight", competitors: "Globex: we ship on time"));
        Assert.Contains("You are use60, Acme Freight's AI sales teammate", await preview.Content.ReadAsStringAsync());
        Assert.Equal(0, await RevisionsAsync(org.Id));

        var saved = await browser.PostAsync(SettingsModel.PagePath + "?handler=Profile", Profile(page, "Acme Freight", competitors: "Globex: we ship on time"));
        Assert.Equal(HttpStatusCode.Redirect, saved.StatusCode);
        page = await GetAsync(browser);
        Assert.Contains("Profile saved", page.QuerySelector("[data-field=notice]")!.TextContent);
        Assert.Contains("Globex: we ship on time", page.QuerySelector("[data-field=persona]")!.TextContent);
        Assert.Equal("Acme Freight", ((IHtmlInputElement)page.QuerySelector("#company")!).Value);
        Assert.Equal(1, await RevisionsAsync(org.Id));
        var entry = await LastAuditAsync(org.Id, AuditEvents.SettingsChanged);
        Assert.Equal(("profile", "Acme Freight"), ((string)entry["section"]!, (string)entry["after"]!["company_name"]!));
        Assert.Null(entry["before"]);

        // Members do not reach it.
        using var member = fixture.App.Browser();
        await AdminPages.SignInAsync(member, await AdminPages.LinkPathAsync(fixture.App, org[1]));
        Assert.Equal("/admin/forbidden", (await member.GetAsync(SettingsModel.PagePath)).Headers.Location?.AbsolutePath);
    }

    [Fact]
    public async Task Sharing_and_proactive_defaults_are_validated_saved_and_audited_and_copilot_sharing_stays_off()
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Sharers " + Guid.NewGuid().ToString("N")[..6], UserRole.Admin);
        var browser = await AdminPages.SignedInAsync(fixture.App, org[0]);
        var page = await GetAsync(browser);
        Assert.True(((IHtmlInputElement)page.QuerySelector("#share-copilot")!).IsDisabled);

        await browser.PostAsync(SettingsModel.PagePath + "?handler=Sharing", AdminPages.Filled(page, "form[action*=Sharing]", ("crm", "true"), ("tasks", "true")));
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
        {
            var settings = await db.OrgSettings.AsNoTracking().SingleAsync(s => s.OrgId == org.Id);
            Assert.Equal((true, false, true, false, false), (settings.EnableCrmSharing, settings.EnableMeetingSharing, settings.EnableTaskSharing,
                settings.EnableEmailSharing, settings.EnableCopilotSharing));
        }
        var sharing = await LastAuditAsync(org.Id, AuditEvents.SettingsChanged);
        Assert.Equal((true, false), ((bool)sharing["before"]!["meetings"]!, (bool)sharing["after"]!["meetings"]!));

        page = await GetAsync(browser);
        var refused = await browser.PostAsync(SettingsModel.PagePath + "?handler=Proactive",
            AdminPages.Filled(page, "form[action*=Proactive]", ("stallDays", "0"), ("winLossChannel", "#wins"), ("digestTime", "05:00")));
        var shown = await AdminPages.HtmlAsync(refused);
        Assert.Contains("from 1 to 90", shown.QuerySelector("#stall-problem")!.TextContent);
        Assert.Contains("channel ID", shown.QuerySelector("#win-loss-problem")!.TextContent);
        Assert.Contains("Pick a time from the list", shown.QuerySelector("#digest-time-problem")!.TextContent);
        Assert.Equal("09:00", shown.QuerySelector("#digest-time option[selected]")!.GetAttribute("value"));
        await browser.PostAsync(SettingsModel.PagePath + "?handler=Proactive",
            AdminPages.Filled(page, "form[action*=Proactive]", ("stallDays", "10"), ("winLossChannel", "C0WINS1234"), ("digestTime", "07:30")));
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
        {
            var settings = await db.OrgSettings.AsNoTracking().SingleAsync(s => s.OrgId == org.Id);
            Assert.Equal((10, "C0WINS1234", new TimeOnly(7, 30)), (settings.StallThresholdDays, settings.WinLossChannel, settings.DefaultDigestTime));
        }
        var proactive = await LastAuditAsync(org.Id, AuditEvents.SettingsChanged);
        Assert.Equal((7, 10), ((int)proactive["before"]!["stall_threshold_days"]!, (int)proactive["after"]!["stall_threshold_days"]!));
        Assert.Equal(("09:00", "07:30"), ((string)proactive["before"]!["default_digest_time"]!, (string)proactive["after"]!["default_digest_time"]!));
        Assert.Equal("07:30", (await GetAsync(browser)).QuerySelector("#digest-time option[selected]")!.GetAttribute("value"));
    }

    [Fact]
    public async Task Versions_show_who_changed_what_and_restoring_an_earlier_one_adds_a_new_audited_revision()
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Versioned " + Guid.NewGuid().ToString("N")[..6], UserRole.Owner);
        var browser = await AdminPages.SignedInAsync(fixture.App, org[0]);
        var page = await GetAsync(browser);
        await browser.PostAsync(SettingsModel.PagePath + "?handler=Profile", Profile(page, "Initech", competitors: "Globex: faster onboarding"));
        page = await GetAsync(browser);
        await browser.PostAsync(SettingsModel.PagePath + "?handler=Profile", Profile(page, "Initech", competitors: "Globex: faster onboarding\nUmbrella: half the price"));

        var versions = await AdminPages.HtmlAsync(await browser.GetAsync(VersionsModel.PagePath));
        var latest = versions.QuerySelector("article[data-revision='2']")!;
        Assert.Equal(["+ Umbrella: half the price"], latest.QuerySelectorAll("[data-field=added]").Select(e => e.TextContent.Replace("added: ", "").Trim()));
        Assert.Contains(org[0].Name, latest.TextContent);
        Assert.Empty(latest.QuerySelectorAll("form"));   // the current one has nothing to restore

        var restore = await browser.PostAsync(VersionsModel.PagePath + "?handler=Restore", AdminPages.FormOf(versions, "article[data-revision='1'] form"));
        Assert.Equal(HttpStatusCode.Redirect, restore.StatusCode);
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        var profile = await db.OrgProfiles.AsNoTracking().SingleAsync(p => p.OrgId == org.Id);
        Assert.Equal(["Globex"], profile.Competitors.Select(c => c.Name));
        Assert.Equal(3, await RevisionsAsync(org.Id));
        var restored = await LastAuditAsync(org.Id, AuditEvents.ProfileRestored);
        Assert.Equal(1, (int)restored["restored_from"]!);
        versions = await AdminPages.HtmlAsync(await browser.GetAsync(VersionsModel.PagePath));
        Assert.Contains("restoring version 1", versions.QuerySelector("article[data-revision='3']")!.TextContent);
        Assert.Equal(["− Umbrella: half the price"],
            versions.QuerySelector("article[data-revision='3']")!.QuerySelectorAll("[data-field=removed]").Select(e => e.TextContent.Replace("removed: ", "").Trim()));

        // History is never rewritten, not even by a role that bypasses row-level security.
        var rewrite = await Assert.ThrowsAsync<Npgsql.PostgresException>(() =>
            TestDatabase.ExecuteAsync(fixture.Database.SuperuserConnectionString, $"UPDATE org_profile_revisions SET changed_by = NULL WHERE org_id = '{org.Id}'"));
        Assert.Contains("append-only", rewrite.MessageText);
    }

    [Fact]
    public async Task The_notetaker_policy_and_each_reps_own_choice_are_validated_saved_and_audited()
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Recorders " + Guid.NewGuid().ToString("N")[..6], UserRole.Owner, UserRole.Member);
        var (owner, member) = (org[0], org[1]);
        var browser = await AdminPages.SignedInAsync(fixture.App, owner);
        var page = await GetAsync(browser);
        Assert.Equal(OrgSettings.DefaultNotetakerBotName, ((IHtmlInputElement)page.QuerySelector("#notetaker-bot-name")!).Value);
        Assert.False(((IHtmlInputElement)page.QuerySelector("#notetaker-auto-join")!).IsChecked);
        Assert.Equal("no", page.QuerySelector("tr[data-integration='Notetaker (MeetingBaaS)']")!.GetAttribute("data-ready"));
        const string policyForm = "form[action$='handler=Notetaker']", repsForm = "form[action$='handler=NotetakerReps']";

        // A name that hides the recording, a notice too short to say anything, and a list with something that is not a domain.
        var refused = await browser.PostAsync(SettingsModel.PagePath + "?handler=Notetaker", AdminPages.Filled(page, policyForm,
            ("autoJoin", "true"), ("botName", "Sales assistant"), ("chatNotice", "hi"), ("blockedDomains", "rival.example\nnot a domain!")));
        var shown = await AdminPages.HtmlAsync(refused);
        Assert.Contains("say the bot records", shown.QuerySelector("#bot-name-problem")!.TextContent);
        Assert.Contains("10 to 500 characters", shown.QuerySelector("#chat-notice-problem")!.TextContent);
        Assert.Contains("“not” is not a domain", shown.QuerySelector("#blocked-domains-problem")!.TextContent);

        var saved = await browser.PostAsync(SettingsModel.PagePath + "?handler=Notetaker", AdminPages.Filled(page, policyForm,
            ("autoJoin", "true"), ("botName", "Acme Notetaker (recording)"), ("chatNotice", "This call is recorded for our notes; say so and we will stop."),
            ("blockedDomains", "@Rival.example\nlawfirm.example, rival.example")));
        Assert.Equal(HttpStatusCode.Redirect, saved.StatusCode);
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
        {
            var settings = await db.OrgSettings.AsNoTracking().SingleAsync(s => s.OrgId == org.Id);
            Assert.Equal((true, "Acme Notetaker (recording)", "This call is recorded for our notes; say so and we will stop."),
                (settings.NotetakerAutoJoin, settings.NotetakerBotName, settings.NotetakerChatNotice));
            Assert.Equal(["rival.example", "lawfirm.example"], settings.NotetakerBlockedDomains);
        }
        var policy = await LastAuditAsync(org.Id, AuditEvents.SettingsChanged);
        Assert.Equal(("notetaker", false, true), ((string)policy["section"]!, (bool)policy["before"]!["auto_join"]!, (bool)policy["after"]!["auto_join"]!));
        Assert.Equal(OrgSettings.DefaultNotetakerBotName, (string)policy["before"]!["bot_name"]!);

        // Each rep's own choice: the member opts out.
        page = await GetAsync(browser);
        Assert.Contains("Notetaker settings saved", page.QuerySelector("[data-field=notice]")!.TextContent);
        Assert.Contains("(records)", page.QuerySelector($"tr[data-rep='{member.Id}'] option[value=default]")!.TextContent);
        await browser.PostAsync(SettingsModel.PagePath + "?handler=NotetakerReps", AdminPages.Filled(page, repsForm, ($"rep:{member.Id}", "off"), ($"rep:{owner.Id}", "default")));
        var choice = await TestData.AsAsync(fixture.App.Services, member, db => db.UserPreferences.AsNoTracking().Where(p => p.UserId == member.Id)
            .Select(p => p.NotetakerAutoJoin).SingleAsync());
        Assert.False(choice);
        var reps = await LastAuditAsync(org.Id, AuditEvents.SettingsChanged);
        Assert.Equal("notetaker_reps", (string)reps["section"]!);
        Assert.False((bool)reps["after"]![member.Id.ToString()]!);
        Assert.Null(reps["after"]![owner.Id.ToString()]);
        page = await GetAsync(browser);
        Assert.True(((IHtmlOptionElement)page.QuerySelector($"tr[data-rep='{member.Id}'] option[value=off]")!).IsSelected);
    }

    static async Task<IHtmlDocument> GetAsync(HttpClient browser) => await AdminPages.HtmlAsync(await browser.GetAsync(SettingsModel.PagePath));

    static FormUrlEncodedContent Profile(IHtmlDocument page, string company, string competitors = "") => AdminPages.Filled(page, "#profile-form",
        ("Profile.CompanyName", company), ("Profile.Products", "Route Planner: plans delivery routes"), ("Profile.Competitors", competitors),
        ("Profile.PainPoints", "late deliveries"), ("Profile.ValuePropositions", "on-time rate"), ("Profile.BrandVoice", "Plain and warm."));


    async Task<int> RevisionsAsync(Guid orgId)
    {
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        return await db.Database.SqlQuery<int>($"SELECT count(*)::int AS \"Value\" FROM org_profile_revisions WHERE org_id = {orgId}").SingleAsync();
    }

    async Task<JsonNode> LastAuditAsync(Guid orgId, string type)
    {
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        var row = await db.SecurityAuditLog.AsNoTracking().Where(a => a.OrgId == orgId && a.EventType == type).OrderByDescending(a => a.OccurredAt).ThenByDescending(a => a.Id).FirstAsync();
        return JsonNode.Parse(row.Details)!;
    }
}
