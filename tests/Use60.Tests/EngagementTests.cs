using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Use60.Data;
using Use60.Orgs;
using Use60.Proactive;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>Engagement with proactive messages, and the digest throttle for a rep who keeps ignoring it.</summary>
public sealed class EngagementTests(DigestFixture fixture) : IClassFixture<DigestFixture>
{
    static readonly DateOnly[] Weekdays = [new(2026, 11, 23), new(2026, 11, 24), new(2026, 11, 25), new(2026, 11, 26), new(2026, 11, 27), new(2026, 11, 30)];

    [Fact]
    public async Task Five_ignored_digests_make_it_weekly_with_one_notice_and_the_restore_button_makes_it_daily_again()
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Ignorers", UserRole.Owner);
        var rep = org[0];
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
            await db.Users.Where(u => u.Id == rep.Id).ExecuteUpdateAsync(s => s.SetProperty(u => u.TimeZone, "Europe/London"));
        foreach (var day in Weekdays) Assert.True(await SendOnAsync(rep, day));

        // Tuesday 1 December: the last five went unclicked, so a notice comes instead of the digest.
        Assert.True(await SendOnAsync(rep, new DateOnly(2026, 12, 1)));
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
        {
            Assert.Equal(0, await db.SlackOutbox.CountAsync(m => m.UserId == rep.Id && m.Source == "pipeline digest 2026-12-01"));
            Assert.Equal(1, await db.SlackOutbox.CountAsync(m => m.UserId == rep.Id && m.Source.StartsWith("digest throttled")));
        }
        Assert.DoesNotContain(await DueAtAsync("2026-12-02T09:30:00Z"), d => d.UserId == rep.Id); // a Wednesday
        Assert.Contains(await DueAtAsync("2026-12-07T09:30:00Z"), d => d.UserId == rep.Id);       // the next Monday

        var dm = await SandboxDm.OfAsync(fixture.App, rep);
        var notice = await dm.MessageAsync(PipelineDigest.RestoreAction, "the throttle notice");
        Assert.True(await dm.ClickAsync(notice, "throttle", PipelineDigest.RestoreAction));
        await dm.MessageAsync("daily again", "the notice edited to say the digest is daily again");
        Assert.Contains(await DueAtAsync("2026-12-02T09:30:00Z"), d => d.UserId == rep.Id);
    }

    [Fact]
    public async Task A_click_on_a_digest_is_recorded_against_it_and_keeps_the_digest_daily()
    {
        var alex = fixture.Reps[0];
        foreach (var day in Weekdays) Assert.True(await SendOnAsync(alex, day));
        var dm = await SandboxDm.OfAsync(fixture.App, alex);
        var digest = await dm.MessageAsync("pipeline for Monday 30 November", "the digest of 30 November");
        var blockId = (string)JsonNode.Parse(digest.Message)!["blocks"]!.AsArray().First(b => ((string?)b!["block_id"])?.StartsWith("next:") == true)!["block_id"]!;

        Assert.True(await dm.ClickAsync(digest, blockId, DealButtons.Open));

        await FakeSlack.WaitUntilAsync(() =>
        {
            using var db = fixture.App.Service<SystemDb>().Open("test");
            return db.Database.SqlQuery<int>($"""
                SELECT count(*)::int AS "Value" FROM proactive_engagement e JOIN proactive_deliveries d ON d.id = e.delivery_id
                WHERE d.user_id = {alex.Id} AND d.entity_key = '2026-11-30' AND e.kind = 'click' AND e.action_id = {DealButtons.Open}
                """).ToList().Single() == 1;
        }, "the click recorded against the 30 November digest");
        Assert.True(await SendOnAsync(alex, new DateOnly(2026, 12, 1)));
        await using var check = fixture.App.Service<SystemDb>().Open("test");
        Assert.Equal(1, await check.SlackOutbox.CountAsync(m => m.UserId == alex.Id && m.Source == "pipeline digest 2026-12-01"));
    }

    [Fact]
    public async Task A_confirm_or_cancel_on_a_preview_started_from_a_stall_alert_counts_against_that_alert()
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Deciders", UserRole.Owner);
        var rep = org[0];
        var dealId = Guid.CreateVersion7();
        await TestData.AsAsync(fixture.App.Services, rep, async db =>
        {
            var contact = new Crm.Contact { OrgId = rep.OrgId, UserId = rep.Id, FirstName = "Quinn", LastName = "Buyer", Email = "quinn@quiet.example" };
            db.Contacts.Add(contact);
            db.Deals.Add(new Crm.Deal
            {
                Id = dealId, OrgId = rep.OrgId, UserId = rep.Id, Name = "Quiet renewal", Stage = Crm.DealStage.Proposal, Amount = 9000,
                PrimaryContactId = contact.Id, LastActivityAt = DigestFixture.Start.AddDays(-10),
            });
            await db.SaveChangesAsync();
        });
        await ActivatorUtilities.CreateInstance<DealStalls>(fixture.App.Services, (TimeProvider)new FakeTimeProvider(DigestFixture.Start)).RunAsync(default);
        var dm = await SandboxDm.OfAsync(fixture.App, rep);
        var alert = await dm.MessageAsync("stall:" + dealId, "the stall alert");

        Assert.True(await dm.ClickAsync(alert, "stall:" + dealId, DealButtons.DraftFollowUp));
        var draft = await dm.MessageAsync("Here's a follow-up for Quiet renewal", "the follow-up preview");
        var draftBlock = (string)JsonNode.Parse(draft.Message)!["blocks"]!.AsArray().First(b => ((string?)b!["block_id"])?.StartsWith("pending:") == true)!["block_id"]!;
        Assert.True(await dm.ClickAsync(draft, draftBlock, Copilot.CopilotSlack.ConfirmAction));
        await WaitForEngagementAsync(rep, "confirm", "send_email");

        Assert.True(await dm.ClickAsync(alert, "stall:" + dealId, DealButtons.MarkLost));
        var markLost = await dm.MessageAsync("Confirm to mark it lost", "the mark-lost preview");
        var lostBlock = (string)JsonNode.Parse(markLost.Message)!["blocks"]!.AsArray().First(b => ((string?)b!["block_id"])?.StartsWith("pending:") == true)!["block_id"]!;
        Assert.True(await dm.ClickAsync(markLost, lostBlock, Copilot.CopilotSlack.CancelAction));
        await WaitForEngagementAsync(rep, "dismiss", "update_deal_stage");

        await using var check = fixture.App.Service<SystemDb>().Open("test");
        var kinds = await check.Database.SqlQuery<string>($"""
            SELECT e.kind || ' ' || e.action_id AS "Value" FROM proactive_engagement e JOIN proactive_deliveries d ON d.id = e.delivery_id
            WHERE d.user_id = {rep.Id} AND d.workflow = 'deal_stall' ORDER BY e.id
            """).ToListAsync();
        Assert.Equal(["click deal_draft_follow_up", "confirm send_email", "click deal_mark_lost", "dismiss update_deal_stage"], kinds);
    }

    [Fact]
    public async Task The_engagement_page_shows_owners_each_reps_responses_per_workflow_and_members_get_no_access()
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Watchers", UserRole.Owner, UserRole.Member, UserRole.Member);
        var (owner, eager, quiet) = (org[0], org[1], org[2]);
        foreach (var rep in new[] { eager, quiet })
            foreach (var day in Weekdays.Take(2)) Assert.True(await SendOnAsync(rep, day));
        await TestData.AsAsync(fixture.App.Services, eager, db => db.Database.ExecuteSqlAsync($"""
            INSERT INTO proactive_engagement (org_id, user_id, delivery_id, kind, action_id, created_at)
            SELECT org_id, user_id, id, 'click', 'deal_open', created_at FROM proactive_deliveries WHERE user_id = {eager.Id} AND entity_key = '2026-11-23'
            """));

        var browser = await AdminPages.SignedInAsync(fixture.App, owner);
        var page = await AdminPages.HtmlAsync(await browser.GetAsync(Proactive.Pages.EngagementModel.PagePath + "?days=90"));
        var rows = page.QuerySelectorAll("table.engagement tbody tr");
        Assert.Equal(2, rows.Length);   // the two reps of this org only: nobody else's
        var eagerRow = rows.Single(r => r.GetAttribute("data-user-id") == eager.Id.ToString());
        Assert.Equal(("Daily digest", "2", "1 (50%)", "1"), (eagerRow.QuerySelector("[data-field=workflow]")!.TextContent.Trim(),
            eagerRow.QuerySelector("[data-field=sent]")!.TextContent, eagerRow.QuerySelector("[data-field=responded]")!.TextContent,
            eagerRow.QuerySelector("[data-field=clicks]")!.TextContent));
        var quietRow = rows.Single(r => r.GetAttribute("data-user-id") == quiet.Id.ToString());
        Assert.Equal(("0 (0%)", "2"), (quietRow.QuerySelector("[data-field=responded]")!.TextContent, quietRow.QuerySelector("[data-field=ignored]")!.TextContent));

        using var asMember = fixture.App.Browser();
        await AdminPages.SignInAsync(asMember, await AdminPages.LinkPathAsync(fixture.App, eager));
        var refused = await asMember.GetAsync(Proactive.Pages.EngagementModel.PagePath);
        Assert.Equal("/admin/forbidden", refused.Headers.Location?.AbsolutePath);
    }

    async Task WaitForEngagementAsync(AppUser rep, string kind, string action) =>
        await FakeSlack.WaitUntilAsync(() =>
        {
            using var db = fixture.App.Service<SystemDb>().Open("test");
            return db.Database.SqlQuery<int>($"""
                SELECT count(*)::int AS "Value" FROM proactive_engagement e JOIN proactive_deliveries d ON d.id = e.delivery_id
                WHERE d.user_id = {rep.Id} AND e.kind = {kind} AND e.action_id = {action}
                """).ToList().Single() == 1;
        }, $"the {kind} of {action} recorded against the stall alert");

    Task<bool> SendOnAsync(AppUser rep, DateOnly day) =>
        ActivatorUtilities.CreateInstance<PipelineDigest>(fixture.App.Services,
                (TimeProvider)new FakeTimeProvider(new DateTimeOffset(day.ToDateTime(new TimeOnly(14, 30)), TimeSpan.Zero)))
            .SendAsync(new PipelineDigest.DueRep(rep.OrgId, rep.Id, day), default);

    Task<IReadOnlyList<PipelineDigest.DueRep>> DueAtAsync(string instant) =>
        ActivatorUtilities.CreateInstance<PipelineDigest>(fixture.App.Services, (TimeProvider)new FakeTimeProvider(DateTimeOffset.Parse(instant))).DueAsync(default);
}
