using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Use60.Crm;
using Use60.Data;
using Use60.Orgs;
using Use60.Proactive;
using Use60.Slack;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>Deal-stall alerts on the demo org (every fourth open deal has been quiet 8–21 days), on clocks the tests set.</summary>
public sealed class DealStallTests(DigestFixture fixture) : IClassFixture<DigestFixture>
{
    AppUser Alex => fixture.Reps[0];

    [Fact]
    public async Task Each_stall_gets_one_alert_with_its_buttons_however_often_the_job_runs()
    {
        var at = DigestFixture.Start; // 09:00 in New York: Alex's working day has begun
        var due = (await StallsAt(at).DueAsync(default)).Where(s => s.UserId == Alex.Id).ToList();
        Assert.NotEmpty(due);
        await StallsAt(at).RunAsync(default);
        await StallsAt(at.AddMinutes(15)).RunAsync(default);

        await using var db = fixture.App.Service<SystemDb>().Open("test");
        var alerts = await db.SlackOutbox.AsNoTracking().Where(m => m.UserId == Alex.Id && m.Source.StartsWith("deal stall")).ToListAsync();
        Assert.Equal(due.Count, alerts.Count);
        Assert.Equal(due.Count, alerts.Select(a => a.Source).Distinct().Count());
        var stalledDeals = await db.Deals.AsNoTracking().Where(d => d.UserId == Alex.Id && d.Stage != DealStage.ClosedWon && d.Stage != DealStage.ClosedLost
                                                                  && d.LastActivityAt <= at.AddDays(-7)).Select(d => d.Id).ToListAsync();
        Assert.Equal(stalledDeals.Order(), due.Select(d => d.DealId).Order());
        Assert.All(alerts, a =>
        {
            Assert.Contains(DealButtons.DraftFollowUp, a.Message);
            Assert.Contains(DealButtons.Snooze, a.Message);
            Assert.Contains(DealButtons.MarkLost, a.Message);
        });
    }

    [Fact]
    public async Task New_activity_ends_a_stall_and_a_later_stall_or_the_end_of_a_snooze_brings_one_new_alert()
    {
        var tom = fixture.Reps[1];
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        // Tom is in London: at 14:00 UTC his working day is on.
        var at = DigestFixture.Start;
        var (active, snoozed) = (Guid.CreateVersion7(), Guid.CreateVersion7());
        await TestData.AsAsync(fixture.App.Services, tom, async tenant =>
        {
            foreach (var (id, name) in new[] { (active, "Quiet deal A"), (snoozed, "Quiet deal B") })
                tenant.Deals.Add(new Deal { Id = id, OrgId = tom.OrgId, UserId = tom.Id, Name = name, Stage = DealStage.Demo, Amount = 5000, LastActivityAt = at.AddDays(-9) });
            await tenant.SaveChangesAsync();
        });
        var stalled = (await StallsAt(at).DueAsync(default)).Where(s => s.UserId == tom.Id).Select(s => s.DealId).ToList();
        Assert.Contains(active, stalled);
        Assert.Contains(snoozed, stalled);
        await StallsAt(at).RunAsync(default);

        // New activity on one deal; a snooze on the other.
        await TestData.AsAsync(fixture.App.Services, tom, async tenant =>
        {
            tenant.Activities.Add(new Activity { OrgId = tom.OrgId, UserId = tom.Id, DealId = active, Type = ActivityType.Call, Subject = "Caught up", OccurredAt = at });
            await tenant.SaveChangesAsync();
            await tenant.Database.ExecuteSqlAsync(
                $"INSERT INTO proactive_snoozes (org_id, user_id, entity_key, until) VALUES ({tom.OrgId}, {tom.Id}, {DealButtons.SnoozeKey(snoozed)}, {at.AddDays(7)})");
        });
        var nextDay = (await StallsAt(at.AddDays(1)).DueAsync(default)).Where(s => s.UserId == tom.Id).Select(s => s.DealId).ToList();
        Assert.DoesNotContain(active, nextDay);
        Assert.DoesNotContain(snoozed, nextDay);

        // Eight days on (a Tuesday): the quiet deal has stalled again and the snooze has ended: one new alert each.
        var later = at.AddDays(8);
        var again = (await StallsAt(later).DueAsync(default)).Where(s => s.UserId == tom.Id).ToList();
        Assert.Contains(again, s => s.DealId == active);
        Assert.Contains(again, s => s.DealId == snoozed);
        await StallsAt(later).RunAsync(default);
        await StallsAt(later.AddMinutes(15)).RunAsync(default);
        foreach (var deal in new[] { active, snoozed })
            Assert.Equal(2, await db.SlackOutbox.CountAsync(m => m.UserId == tom.Id && m.Source.StartsWith("deal stall deal:" + deal)));
    }

    [Fact]
    public async Task The_orgs_threshold_the_reps_preference_and_their_working_hours_decide_who_is_alerted()
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Patient", UserRole.Owner, UserRole.Member);
        var (owner, member) = (org[0], org[1]);
        foreach (var rep in org.Users)
            await TestData.AsAsync(fixture.App.Services, rep, async db =>
            {
                db.Deals.Add(new Deal { OrgId = rep.OrgId, UserId = rep.Id, Name = $"Quiet deal of {rep.Name}", Stage = DealStage.Proposal, Amount = 1000,
                    LastActivityAt = DigestFixture.Start.AddDays(-10) });
                await db.SaveChangesAsync();
            });
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
            await db.Users.Where(u => u.OrgId == org.Id).ExecuteUpdateAsync(s => s.SetProperty(u => u.TimeZone, "Europe/London"));
        await TestData.AsAsync(fixture.App.Services, member, async db =>
        {
            db.UserPreferences.Add(new UserPreferences { OrgId = member.OrgId, UserId = member.Id, DealAlerts = false });
            await db.SaveChangesAsync();
        });

        Assert.Contains(await StallsAt(DigestFixture.Start).DueAsync(default), s => s.UserId == owner.Id);
        Assert.DoesNotContain(await StallsAt(DigestFixture.Start).DueAsync(default), s => s.UserId == member.Id);
        // 19:00 in London is after the working day.
        Assert.DoesNotContain(await StallsAt(DigestFixture.Start.AddHours(5)).DueAsync(default), s => s.UserId == owner.Id);

        await TestData.AsAsync(fixture.App.Services, owner, async db =>
        {
            await db.OrgSettings.Where(s => s.OrgId == org.Id).ExecuteUpdateAsync(s => s.SetProperty(x => x.StallThresholdDays, 14));
        });
        Assert.DoesNotContain(await StallsAt(DigestFixture.Start).DueAsync(default), s => s.UserId == owner.Id);
    }

    [Fact]
    public async Task Mark_lost_from_an_alert_is_a_preview_to_confirm_not_a_change()
    {
        var priya = fixture.Reps[2];
        var stall = (await StallsAt(DigestFixture.Start.AddHours(-9)).DueAsync(default)).First(s => s.UserId == priya.Id); // 10:30 in Kolkata
        Assert.True(await StallsAt(DigestFixture.Start.AddHours(-9)).SendAsync(stall, default));
        var dm = await SandboxDm.OfAsync(fixture.App, priya);
        var alert = await dm.MessageAsync("stall:" + stall.DealId, "the alert in the sandbox");

        Assert.True(await dm.ClickAsync(alert, "stall:" + stall.DealId, DealButtons.MarkLost));

        await dm.MessageAsync("Confirm to mark it lost", "the mark-lost preview");
        await using var check = fixture.App.Service<SystemDb>().Open("test");
        Assert.NotEqual(DealStage.ClosedLost, (await check.Deals.AsNoTracking().SingleAsync(d => d.Id == stall.DealId)).Stage);
        Assert.Single(await check.PendingActions.AsNoTracking().Where(a => a.UserId == priya.Id && a.Action == "update_deal_stage").ToListAsync());
    }

    DealStalls StallsAt(DateTimeOffset instant) =>
        ActivatorUtilities.CreateInstance<DealStalls>(fixture.App.Services, (TimeProvider)new FakeTimeProvider(instant));
}
