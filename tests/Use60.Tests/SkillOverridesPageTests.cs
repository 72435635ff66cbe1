using System.Net;
using System.Text.Json.Nodes;
using AngleSharp.Html.Dom;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Use60.Copilot;
using Use60.Copilot.Pages;
using Use60.Data;
using Use60.Orgs;
using Use60.Security;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>
/// Skills (/admin/skills): the org's versions of skills edited, checked by the copilot's parser, saved with a revision and an audit entry,
/// compared, restored and reverted; for owners and admins of that org only.
/// </summary>
public sealed class SkillOverridesPageTests(CopilotUsagePageFixture fixture) : IClassFixture<CopilotUsagePageFixture>
{
    const string Key = "follow-up-email";

    [Fact]
    public async Task Saving_a_valid_version_of_a_built_in_makes_it_the_copilots_with_a_revision_and_an_audit_entry()
    {
        var org = await NewOrgAsync("Editors");
        var browser = await AdminPages.SignedInAsync(fixture.App, org[0]);

        var list = await AdminPages.PageAsync(browser, SkillsModel.PagePath);
        Assert.Equal(SkillCatalog.BuiltInSkills.Select(s => s.Key).Order(), list.QuerySelectorAll("tr[data-skill]").Select(r => r.GetAttribute("data-skill")!).Order());
        Assert.All(list.QuerySelectorAll("tr[data-skill]"), r => Assert.Equal("BuiltIn", r.GetAttribute("data-origin")));
        Assert.Equal("Follow-up email", list.QuerySelector($"tr[data-skill='{Key}'] [data-field=name]")!.TextContent);
        Assert.Equal("email", list.QuerySelector($"tr[data-skill='{Key}'] [data-field=category]")!.TextContent);

        // The editor starts from the built-in's own document.
        var editor = await AdminPages.PageAsync(browser, SkillsModel.EditPath(Key));
        Assert.Equal(SkillCatalog.BuiltInText(Key), Typed(editor));
        var house = SkillCatalog.BuiltInText(Key)!.Replace("name: Follow-up email", "name: House follow-up").Replace("- Keep it under 120 words", "- Keep it under 80 words");
        var saved = await SaveAsync(browser, editor, house.Replace("\n", "\r\n"));
        Assert.Equal(HttpStatusCode.Redirect, saved.StatusCode);
        editor = await AdminPages.PageAsync(browser, SkillsModel.EditPath(Key));
        Assert.Contains("Saved", editor.QuerySelector("[data-field=notice]")!.TextContent);
        Assert.Equal(house, Typed(editor));
        Assert.Contains("org's version of a built-in", editor.QuerySelector("[data-field=state]")!.TextContent);

        // The copilot, for any rep of the org, now reads the org's version.
        var seen = await CopilotSeesAsync(org[2], Key);
        Assert.Equal(("House follow-up", SkillCatalog.OrgSource), (seen!.Name, seen.Source));
        Assert.Contains("under 80 words", seen.Body);
        list = await AdminPages.PageAsync(browser, SkillsModel.PagePath);
        Assert.Equal("Overridden", list.QuerySelector($"tr[data-skill='{Key}']")!.GetAttribute("data-origin"));

        var revision = Assert.Single(await RevisionsAsync(org.Id, Key));
        Assert.Equal((1, house, org[0].Id, (int?)null), (revision.Number, revision.Document, revision.ChangedBy, revision.RestoredFrom));
        var entry = Assert.Single(await AuditAsync(org.Id));
        Assert.Equal((AuditEvents.SkillChanged, org[0].Id), (entry.Type, entry.UserId));
        Assert.Equal((Key, 1, null, house), ((string)entry.Details["skill"]!, (int)entry.Details["revision"]!, (string?)entry.Details["before"], (string)entry.Details["after"]!));

        // Saving the same text again is no change: no revision, no entry.
        await SaveAsync(browser, editor, house);
        Assert.Single(await RevisionsAsync(org.Id, Key));
    }

    [Fact]
    public async Task An_invalid_document_shows_the_parsers_message_beside_the_field_and_keeps_the_text()
    {
        var org = await NewOrgAsync("Typos");
        var browser = await AdminPages.SignedInAsync(fixture.App, org[1]);
        var editor = await AdminPages.PageAsync(browser, SkillsModel.EditPath(Key));
        var before = await CopilotSeesAsync(org[2], Key);

        var cases = new (string Document, string Message)[]
        {
            ("key: follow-up-email\nname: No front matter", "starts with YAML front matter"),
            ("---\nkey: follow-up-email\nname: [unclosed\n---\nBody", "not valid YAML"),
            ("---\nkey: follow-up-email\ndescription: Nameless\n---\nBody", "needs 'name'"),
            ("---\n---\nNo fields at all", "must be a YAML mapping"),
            ("---\nkey: follow-up-email\nname: A\nname: B\ndescription: d\n---\n", "Duplicate key"),
            ("---\n? [a, b]\n: c\nkey: follow-up-email\n---\n", "field names must be plain words"),
            ("---\nkey: follow-up-email\nname: [a, b]\ndescription: d\n---\n", "'name' must be text"),
            ("---\nkey: follow-up-email\nname: Steps\ndescription: d\nsteps:\n  - id: one\n    action: get_deal\n    optional: maybe\n---\n", "must be true or false"),
            ("---\nkey: follow-up-email\nname: Steps\ndescription: d\nsteps:\n  - id: one\n    action: get_deal\n    params:\n      deal_id: ${}\n---\n", "Step 'one'"),
            ("---\nkey: follow-up-email\nname: Steps\ndescription: d\nsteps:\n  - id: one\n    action: launch_rocket\n---\n", "'launch_rocket', which is not an action"),
            ("---\nkey: follow-up-email\nname: Big\ndescription: d\n---\n" + new string('x', 70 * 1024), "at most 64 KB"),
        };
        foreach (var (document, message) in cases)
        {
            var refused = await SaveAsync(browser, editor, document);
            Assert.Equal(HttpStatusCode.OK, refused.StatusCode);
            var shown = await AdminPages.HtmlAsync(refused);
            Assert.Contains(message, shown.QuerySelector("#document-problem")!.TextContent);
            Assert.Equal("true", shown.QuerySelector("#document")!.GetAttribute("aria-invalid"));
            Assert.Equal(document, Typed(shown));
            Assert.DoesNotContain("Exception", shown.Body!.TextContent);
        }
        Assert.Empty(await RevisionsAsync(org.Id, Key));
        Assert.Empty(await AuditAsync(org.Id));
        Assert.Equal(before, await CopilotSeesAsync(org[2], Key));
    }

    [Fact]
    public async Task A_document_whose_key_is_not_the_pages_is_refused_and_saying_so()
    {
        var org = await NewOrgAsync("Mismatch");
        var browser = await AdminPages.SignedInAsync(fixture.App, org[0]);
        var editor = await AdminPages.PageAsync(browser, SkillsModel.EditPath(Key));
        var other = SkillCatalog.BuiltInText("meeting-prep")!;
        var refused = await AdminPages.HtmlAsync(await SaveAsync(browser, editor, other));
        var problem = refused.QuerySelector("#document-problem")!.TextContent;
        Assert.Contains("key: meeting-prep", problem);
        Assert.Contains($"'key: {Key}'", problem);
        Assert.Equal(other, Typed(refused));
        Assert.Empty(await RevisionsAsync(org.Id, Key));
        Assert.Empty(await RevisionsAsync(org.Id, "meeting-prep"));
    }

    [Fact]
    public async Task Versions_show_who_and_the_changed_lines_and_restoring_one_adds_an_equal_audited_revision()
    {
        var org = await NewOrgAsync("Historians");
        var (owner, admin) = (org[0], org[1]);
        var asOwner = await AdminPages.SignedInAsync(fixture.App, owner);
        var asAdmin = await AdminPages.SignedInAsync(fixture.App, admin);
        var line120 = SkillCatalog.BuiltInText(Key)!.Split('\n').Single(l => l.StartsWith("- Keep it under 120 words"));
        var (line90, line60) = (line120.Replace("120", "90"), line120.Replace("120", "60"));
        var first = SkillCatalog.BuiltInText(Key)!.Replace(line120, line90);
        var second = first.Replace(line90, line60).Replace("name: Follow-up email", "name: Short follow-up");
        await SaveAsync(asOwner, await AdminPages.PageAsync(asOwner, SkillsModel.EditPath(Key)), first);
        await SaveAsync(asAdmin, await AdminPages.PageAsync(asAdmin, SkillsModel.EditPath(Key)), second);

        var history = await AdminPages.PageAsync(asOwner, SkillsModel.HistoryPath(Key));
        Assert.Equal(["2", "1"], history.QuerySelectorAll("article.revision").Select(a => a.GetAttribute("data-revision")!));
        var latest = history.QuerySelector("article[data-revision='2']")!;
        Assert.Contains(admin.Name, latest.QuerySelector("[data-field=who]")!.TextContent);
        Assert.Equal(["name: Follow-up email", line90], Lines(latest, "removed"));
        Assert.Equal(["name: Short follow-up", line60], Lines(latest, "added"));
        Assert.Empty(latest.QuerySelectorAll("form"));   // the current one has nothing to restore
        // The first version is compared with the built-in it replaced.
        var oldest = history.QuerySelector("article[data-revision='1']")!;
        Assert.Contains(owner.Name, oldest.QuerySelector("[data-field=who]")!.TextContent);
        Assert.Equal([line120], Lines(oldest, "removed"));
        Assert.Equal([line90], Lines(oldest, "added"));

        var restore = await asOwner.PostAsync(SkillsModel.HistoryPath(Key) + "?handler=Restore", AdminPages.FormOf(history, "article[data-revision='1'] form"));
        Assert.Equal(HttpStatusCode.Redirect, restore.StatusCode);
        var revisions = await RevisionsAsync(org.Id, Key);
        Assert.Equal((3, first, owner.Id, (int?)1), (revisions[0].Number, revisions[0].Document, revisions[0].ChangedBy, revisions[0].RestoredFrom));
        Assert.Equal(revisions.Single(r => r.Number == 1).Document, revisions[0].Document);
        Assert.Contains("under 90 words", (await CopilotSeesAsync(org[2], Key))!.Body);
        history = await AdminPages.PageAsync(asOwner, SkillsModel.HistoryPath(Key));
        Assert.Contains("restored", history.QuerySelector("[data-field=notice]")!.TextContent);
        Assert.Contains("restoring version 1", history.QuerySelector("article[data-revision='3'] [data-field=who]")!.TextContent);
        Assert.Contains("name: Follow-up email", Lines(history.QuerySelector("article[data-revision='3']")!, "added"));

        // Restoring what is already there adds nothing.
        await asOwner.PostAsync(SkillsModel.HistoryPath(Key) + "?handler=Restore", AdminPages.FormOf(history, "article[data-revision='1'] form"));
        Assert.Equal(3, (await RevisionsAsync(org.Id, Key)).Count);

        // Every change is in the audit log, with what was there before and after.
        var entries = await AuditAsync(org.Id);
        Assert.Equal([AuditEvents.SkillChanged, AuditEvents.SkillChanged, AuditEvents.SkillRestored], entries.OrderBy(e => (int)e.Details["revision"]!).Select(e => e.Type));
        var restored = entries.Single(e => e.Type == AuditEvents.SkillRestored);
        Assert.Equal((1, second, first), ((int)restored.Details["restored_from"]!, (string)restored.Details["before"]!, (string)restored.Details["after"]!));

        // History is never rewritten, not even by a role that bypasses row-level security.
        var rewrite = await Assert.ThrowsAsync<Npgsql.PostgresException>(() =>
            TestDatabase.ExecuteAsync(fixture.Database.SuperuserConnectionString, $"UPDATE skill_override_revisions SET document = 'x' WHERE org_id = '{org.Id}'"));
        Assert.Contains("append-only", rewrite.MessageText);
    }

    [Fact]
    public async Task Reverting_to_the_built_in_removes_the_org_version_with_an_empty_audited_revision()
    {
        var org = await NewOrgAsync("Reverters");
        var browser = await AdminPages.SignedInAsync(fixture.App, org[0]);
        var editor = await AdminPages.PageAsync(browser, SkillsModel.EditPath(Key));
        Assert.Null(editor.QuerySelector("#revert-form"));   // nothing to revert yet
        var house = SkillCatalog.BuiltInText(Key)!.Replace("name: Follow-up email", "name: House follow-up");
        await SaveAsync(browser, editor, house);
        editor = await AdminPages.PageAsync(browser, SkillsModel.EditPath(Key));
        Assert.Contains("Revert to built-in", editor.QuerySelector("#revert-form button")!.TextContent);

        var reverted = await browser.PostAsync(SkillsModel.EditPath(Key) + "?handler=Revert", AdminPages.FormOf(editor, "#revert-form"));
        Assert.Equal(HttpStatusCode.Redirect, reverted.StatusCode);
        editor = await AdminPages.PageAsync(browser, SkillsModel.EditPath(Key));
        Assert.Contains("built-in version again", editor.QuerySelector("[data-field=notice]")!.TextContent);
        Assert.Equal(SkillCatalog.BuiltInText(Key), Typed(editor));
        var builtIn = await CopilotSeesAsync(org[2], Key);
        Assert.Equal(("Follow-up email", "built-in"), (builtIn!.Name, builtIn.Source));
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
            Assert.False(await db.SkillOverrides.AnyAsync(o => o.OrgId == org.Id));
        var revisions = await RevisionsAsync(org.Id, Key);
        Assert.Equal((2, null, org[0].Id), (revisions[0].Number, revisions[0].Document, revisions[0].ChangedBy));
        var entry = (await AuditAsync(org.Id)).Single(e => (int)e.Details["revision"]! == 2);
        Assert.Equal((AuditEvents.SkillChanged, house, null), (entry.Type, (string)entry.Details["before"]!, (string?)entry.Details["after"]));
        var history = await AdminPages.PageAsync(browser, SkillsModel.HistoryPath(Key));
        Assert.Contains("back to the built-in", history.QuerySelector("article[data-revision='2'] h2")!.TextContent);
        Assert.Equal(["name: House follow-up"], Lines(history.QuerySelector("article[data-revision='2']")!, "removed"));

        // Restoring the org's version brings it back; restoring the revert reverts again.
        await browser.PostAsync(SkillsModel.HistoryPath(Key) + "?handler=Restore", AdminPages.FormOf(history, "article[data-revision='1'] form"));
        Assert.Equal("House follow-up", (await CopilotSeesAsync(org[2], Key))!.Name);
        history = await AdminPages.PageAsync(browser, SkillsModel.HistoryPath(Key));
        await browser.PostAsync(SkillsModel.HistoryPath(Key) + "?handler=Restore", AdminPages.FormOf(history, "article[data-revision='2'] form"));
        Assert.Equal("Follow-up email", (await CopilotSeesAsync(org[2], Key))!.Name);
        var last = (await RevisionsAsync(org.Id, Key))[0];
        Assert.Equal((4, null, (int?)2), (last.Number, last.Document, last.RestoredFrom));
    }

    [Fact]
    public async Task A_new_skill_with_a_fresh_key_is_the_orgs_own_and_bad_keys_are_refused()
    {
        var org = await NewOrgAsync("Inventors");
        var browser = await AdminPages.SignedInAsync(fixture.App, org[0]);
        foreach (var bad in new[] { "Bad_Key", "x", "-leading", new string('a', 81) })
        {
            var refused = await AdminPages.PageAsync(browser, SkillsModel.PagePath + "?new=" + Uri.EscapeDataString(bad));
            Assert.Contains("lowercase letters, digits and hyphens", refused.QuerySelector("#new-key-problem")!.TextContent);
            Assert.Equal(bad, ((IHtmlInputElement)refused.QuerySelector("#new-key")!).Value);
        }
        Assert.Equal(HttpStatusCode.NotFound, (await browser.GetAsync(SkillsModel.PagePath + "/Bad_Key")).StatusCode);

        var start = await browser.GetAsync(SkillsModel.PagePath + "?new=objection-handling");
        Assert.Equal(SkillsModel.EditPath("objection-handling"), start.Headers.Location?.OriginalString);
        var editor = await AdminPages.PageAsync(browser, SkillsModel.EditPath("objection-handling"));
        Assert.Contains("A new skill", editor.QuerySelector("[data-field=state]")!.TextContent);
        Assert.Equal("objection-handling", SkillCatalog.Parse(Typed(editor), "test").Key);   // the template reads as it is
        Assert.Null(await CopilotSeesAsync(org[2], "objection-handling"));   // not until it is saved

        var document = "---\nkey: objection-handling\nname: Objection handling\ndescription: Answers a buyer's objection with our proof points.\ncategory: deals\n---\nName the objection, then answer it.";
        await SaveAsync(browser, editor, document);
        var seen = await CopilotSeesAsync(org[2], "objection-handling");
        Assert.Equal(("Objection handling", "deals"), (seen!.Name, seen.Category));
        var list = await AdminPages.PageAsync(browser, SkillsModel.PagePath);
        Assert.Equal("OrgOnly", list.QuerySelector("tr[data-skill='objection-handling']")!.GetAttribute("data-origin"));
        Assert.Equal(SkillCatalog.BuiltInSkills.Count + 1, list.QuerySelectorAll("tr[data-skill]").Length);

        // Removing it: the copilot no longer has it; the history keeps it.
        editor = await AdminPages.PageAsync(browser, SkillsModel.EditPath("objection-handling"));
        Assert.Contains("Remove this skill", editor.QuerySelector("#revert-form button")!.TextContent);
        await browser.PostAsync(SkillsModel.EditPath("objection-handling") + "?handler=Revert", AdminPages.FormOf(editor, "#revert-form"));
        Assert.Null(await CopilotSeesAsync(org[2], "objection-handling"));
        Assert.Equal([null, document], (await RevisionsAsync(org.Id, "objection-handling")).Select(r => r.Document));
        Assert.Equal(2, (await AuditAsync(org.Id)).Count);
    }

    [Fact]
    public async Task A_save_on_top_of_someone_elses_newer_version_is_refused_and_the_typed_text_kept()
    {
        var org = await NewOrgAsync("Racers");
        var (first, second) = (await AdminPages.SignedInAsync(fixture.App, org[0]), await AdminPages.SignedInAsync(fixture.App, org[1]));
        var firstEditor = await AdminPages.PageAsync(first, SkillsModel.EditPath(Key));
        var secondEditor = await AdminPages.PageAsync(second, SkillsModel.EditPath(Key));
        var theirs = SkillCatalog.BuiltInText(Key)!.Replace("name: Follow-up email", "name: Theirs");
        var mine = SkillCatalog.BuiltInText(Key)!.Replace("name: Follow-up email", "name: Mine");
        await SaveAsync(first, firstEditor, theirs);

        var refused = await AdminPages.HtmlAsync(await SaveAsync(second, secondEditor, mine));
        Assert.Contains("Someone else saved this skill", refused.QuerySelector("#document-problem")!.TextContent);
        Assert.Equal(mine, Typed(refused));
        Assert.Equal("Theirs", (await CopilotSeesAsync(org[2], Key))!.Name);

        // Having seen it, saving again replaces it.
        Assert.Equal(HttpStatusCode.Redirect, (await SaveAsync(second, refused, mine)).StatusCode);
        Assert.Equal("Mine", (await CopilotSeesAsync(org[2], Key))!.Name);
        Assert.Equal(2, (await RevisionsAsync(org.Id, Key)).Count);
    }

    [Fact]
    public async Task Members_are_refused_the_pages_and_the_database_refuses_their_writes()
    {
        var org = await NewOrgAsync("Members");
        var member = org[2];
        using var browser = fixture.App.Browser();
        await AdminPages.SignInAsync(browser, await AdminPages.LinkPathAsync(fixture.App, member));
        foreach (var path in new[] { SkillsModel.PagePath, SkillsModel.EditPath(Key), SkillsModel.HistoryPath(Key) })
            Assert.Equal("/admin/forbidden", (await browser.GetAsync(path)).Headers.Location?.AbsolutePath);
        var post = await browser.PostAsync(SkillsModel.EditPath(Key) + "?handler=Save",
            new FormUrlEncodedContent(new Dictionary<string, string> { ["Document"] = SkillCatalog.BuiltInText(Key)!, ["BasedOn"] = "0" }));
        Assert.Equal("/admin/forbidden", post.Headers.Location?.AbsolutePath);

        // Row-level security itself: a member's scope cannot write a revision or an override, nor read the history.
        await TestData.AsAsync(fixture.App.Services, org[0], db => db.Database.ExecuteSqlAsync($"""
            INSERT INTO skill_override_revisions (org_id, skill_key, revision, document, changed_by, changed_at) VALUES ({org.Id}, 'seen', 1, 'doc', {org[0].Id}, now())
            """));
        var refused = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => TestData.AsAsync(fixture.App.Services, member, db =>
            Overrides(db).ChangeAsync(org.Id, Key, SkillCatalog.BuiltInText(Key), member.Id, null, default)));
        Assert.Equal("42501", refused.SqlState);
        await Assert.ThrowsAsync<DbUpdateException>(() => TestData.AsAsync(fixture.App.Services, member, db =>
        {
            db.SkillOverrides.Add(new SkillOverride { OrgId = org.Id, SkillKey = Key, Document = "x", UpdatedBy = member.Id });
            return db.SaveChangesAsync();
        }));
        Assert.Empty(await TestData.AsAsync(fixture.App.Services, member, db =>
            Overrides(db).HistoryAsync(org.Id, "seen", default)));
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
            Assert.False(await db.SkillOverrides.AnyAsync(o => o.OrgId == org.Id));
        Assert.Empty(await RevisionsAsync(org.Id, Key));
        Assert.Empty(await AuditAsync(org.Id));
    }

    [Fact]
    public async Task Another_org_never_sees_an_orgs_versions_or_their_history()
    {
        var ours = await NewOrgAsync("Ours");
        var theirs = await NewOrgAsync("Theirs");
        var browser = await AdminPages.SignedInAsync(fixture.App, ours[0]);
        await SaveAsync(browser, await AdminPages.PageAsync(browser, SkillsModel.EditPath(Key)), SkillCatalog.BuiltInText(Key)!.Replace("name: Follow-up email", "name: Ours only"));
        await SaveAsync(browser, await AdminPages.PageAsync(browser, SkillsModel.EditPath("our-secret")),
            "---\nkey: our-secret\nname: Our secret\ndescription: Only ours.\n---\nShh.");

        var other = await AdminPages.SignedInAsync(fixture.App, theirs[0]);
        var list = await AdminPages.PageAsync(other, SkillsModel.PagePath);
        Assert.Equal("BuiltIn", list.QuerySelector($"tr[data-skill='{Key}']")!.GetAttribute("data-origin"));
        Assert.Null(list.QuerySelector("tr[data-skill='our-secret']"));
        Assert.Equal(SkillCatalog.BuiltInText(Key), Typed(await AdminPages.PageAsync(other, SkillsModel.EditPath(Key))));
        Assert.Contains("A new skill", (await AdminPages.PageAsync(other, SkillsModel.EditPath("our-secret"))).QuerySelector("[data-field=state]")!.TextContent);
        var history = await AdminPages.PageAsync(other, SkillsModel.HistoryPath(Key));
        Assert.NotNull(history.QuerySelector("[data-field=empty]"));
        Assert.Equal("Follow-up email", (await CopilotSeesAsync(theirs[1], Key))!.Name);
        Assert.Null(await CopilotSeesAsync(theirs[1], "our-secret"));

        // Restoring our revision 1 from their admin site finds nothing to restore.
        await other.PostAsync(SkillsModel.HistoryPath(Key) + "?handler=Restore", AdminPages.Filled(list, "form.whoami", ("revision", "1")));
        Assert.Empty(await RevisionsAsync(theirs.Id, Key));
        Assert.Equal("Ours only", (await CopilotSeesAsync(ours[2], Key))!.Name);

        // And in the database: their admin's scope reads none of our rows, even asking for them by org.
        var (overrides, revisions) = await TestData.AsAsync(fixture.App.Services, theirs[0], async db => (
            await db.SkillOverrides.CountAsync(o => o.OrgId == ours.Id),
            await db.Database.SqlQuery<int>($"SELECT count(*)::int AS \"Value\" FROM skill_override_revisions WHERE org_id = {ours.Id}").SingleAsync()));
        Assert.Equal((0, 0), (overrides, revisions));
    }

    Task<TestData.TestOrg> NewOrgAsync(string name) =>
        TestData.CreateOrgAsync(fixture.App.Services, $"{name} {Guid.NewGuid().ToString("N")[..6]}", UserRole.Owner, UserRole.Admin, UserRole.Member);

    static string Typed(IHtmlDocument page) => ((IHtmlTextAreaElement)page.QuerySelector("#document")!).Value;

    static Task<HttpResponseMessage> SaveAsync(HttpClient browser, IHtmlDocument editor, string document) =>
        browser.PostAsync(editor.QuerySelector("#skill-form")!.GetAttribute("action"), AdminPages.FormOf(editor, "#skill-form", new Dictionary<string, string> { ["Document"] = document }));

    static List<string> Lines(AngleSharp.Dom.IElement revision, string kind) =>
        [.. revision.QuerySelectorAll($"[data-field={kind}]").Select(e => e.TextContent.Replace($"{kind}: ", "").Trim()[2..])];

    /// <summary>What the copilot of <paramref name="rep"/>'s org finds under <paramref name="key"/>, in the rep's own scope.</summary>
    async Task<SkillDocument?> CopilotSeesAsync(AppUser rep, string key)
    {
        await using var scope = fixture.App.Services.CreateAsyncScope();
        scope.ServiceProvider.GetRequiredService<TenantContext>().Enter(rep.OrgId, rep.Id);
        return await scope.ServiceProvider.GetRequiredService<SkillCatalog>().FindAsync(rep.OrgId, key, default);
    }

    async Task<IReadOnlyList<SkillOverrides.Revision>> RevisionsAsync(Guid orgId, string key)
    {
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        return await Overrides(db).HistoryAsync(orgId, key, default);
    }

    SkillOverrides Overrides(Use60Db db) => new(db, fixture.App.Service<SecurityAudit>(), TimeProvider.System);

    async Task<List<(string Type, Guid? UserId, JsonNode Details)>> AuditAsync(Guid orgId)
    {
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        var rows = await db.SecurityAuditLog.AsNoTracking()
            .Where(a => a.OrgId == orgId && (a.EventType == AuditEvents.SkillChanged || a.EventType == AuditEvents.SkillRestored)).ToListAsync();
        return [.. rows.Select(r => (r.EventType, r.UserId, JsonNode.Parse(r.Details)!))];
    }
}
