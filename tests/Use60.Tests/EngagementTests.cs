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

    Task<bool> SendOnAsync(AppUser rep, DateOnly day) =>
        ActivatorUtilities.CreateInstance<PipelineDigest>(fixture.App.Services,
                (TimeProvider)new FakeTimeProvider(new DateTimeOffset(day.ToDateTime(new TimeOnly(14, 30)), TimeSpan.Zero)))
            .SendAsync(new PipelineDigest.DueRep(rep.OrgId, rep.Id, day), default);

    Task<IReadOnlyList<PipelineDigest.DueRep>> DueAtAsync(string instant) =>
        ActivatorUtilities.CreateInstance<PipelineDigest>(fixture.App.Services, (TimeProvider)new FakeTimeProvider(DateTimeOffset.Parse(instant))).DueAsync(default);
}
