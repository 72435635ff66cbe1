using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Quartz;
using Use60.Data;
using Use60.Demo;
using Use60.Orgs;
using Use60.Proactive;
using Use60.Slack;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>The demo org on a controllable clock: Monday 23 November 2026, 14:00 UTC (09:00 in New York).</summary>
public sealed class DigestFixture : IAsyncLifetime
{
    public static readonly DateTimeOffset Start = new(2026, 11, 23, 14, 0, 0, TimeSpan.Zero);

    public FakeTimeProvider Clock { get; } = new(Start);
    public TestDatabase Database { get; private set; } = null!;
    public Use60App App { get; private set; } = null!;
    public IReadOnlyList<AppUser> Reps { get; private set; } = [];

    public async Task InitializeAsync()
    {
        Database = await TestDatabase.CreateAsync();
        App = new Use60App(Database, clock: Clock);
        await App.Service<DemoSeeder>().SeedAsync(CancellationToken.None);
        await using var db = App.Service<SystemDb>().Open("test");
        Reps = await db.Users.AsNoTracking().Where(u => u.SlackUserId!.StartsWith("U0DEMO")).OrderBy(u => u.SlackUserId).ToListAsync();
    }

    public async Task DisposeAsync()
    {
        await App.DisposeAsync();
        await Database.DisposeAsync();
    }
}

[Collection(SchedulerCollection.Name)]
public sealed class PipelineDigestTests(DigestFixture fixture) : IClassFixture<DigestFixture>
{
    PipelineDigest Digest => fixture.App.Service<PipelineDigest>();

    [Fact]
    public async Task Nine_oclock_is_each_reps_own_nine_oclock_across_kolkata_auckland_and_a_daylight_saving_change()
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Zones", UserRole.Owner, UserRole.Member, UserRole.Member);
        var (kolkata, auckland, newYork) = (org[0], org[1], org[2]);
        await SetZoneAsync(kolkata, "Asia/Kolkata");
        await SetZoneAsync(auckland, "Pacific/Auckland");
        await SetZoneAsync(newYork, "America/New_York");

        // Kolkata is +5:30: 09:00 there is 03:30 UTC.
        Assert.DoesNotContain(await DueAtAsync("2026-11-24T03:29:00Z"), d => d.UserId == kolkata.Id);
        Assert.Contains(await DueAtAsync("2026-11-24T03:30:00Z"), d => d.UserId == kolkata.Id && d.LocalDate == new DateOnly(2026, 11, 24));
        // Auckland is +13 in November (daylight saving): Tuesday 09:00 there is Monday 20:00 UTC.
        Assert.Contains(await DueAtAsync("2026-11-23T20:00:00Z"), d => d.UserId == auckland.Id && d.LocalDate == new DateOnly(2026, 11, 24));
        Assert.DoesNotContain(await DueAtAsync("2026-11-23T19:59:00Z"), d => d.UserId == auckland.Id);
        // New York moves to daylight time on Sunday 8 March 2026: 09:00 is 14:00 UTC on the Friday before, 13:00 UTC on the Monday after.
        Assert.Contains(await DueAtAsync("2026-03-06T14:00:00Z"), d => d.UserId == newYork.Id);
        Assert.DoesNotContain(await DueAtAsync("2026-03-06T13:00:00Z"), d => d.UserId == newYork.Id);
        Assert.Contains(await DueAtAsync("2026-03-09T13:00:00Z"), d => d.UserId == newYork.Id);
        // Past the late window (3 hours), a missed digest is skipped rather than sent at lunchtime.
        Assert.DoesNotContain(await DueAtAsync("2026-03-09T16:00:00Z"), d => d.UserId == newYork.Id);
    }

    [Fact]
    public async Task A_rep_who_never_chose_gets_the_orgs_default_time_and_a_rep_who_chose_keeps_theirs()
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Early", UserRole.Owner, UserRole.Member);
        var (follows, chose) = (org[0], org[1]);
        foreach (var rep in org.Users) await SetZoneAsync(rep, "Europe/London");
        await PreferAsync(chose, p => p.DigestTime = new TimeOnly(8, 0));
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
            await db.OrgSettings.Where(s => s.OrgId == follows.OrgId).ExecuteUpdateAsync(s => s.SetProperty(o => o.DefaultDigestTime, new TimeOnly(7, 30)));

        Assert.DoesNotContain(await DueAtAsync("2026-11-24T07:29:00Z"), d => d.UserId == follows.Id);
        Assert.Contains(await DueAtAsync("2026-11-24T07:30:00Z"), d => d.UserId == follows.Id);
        Assert.DoesNotContain(await DueAtAsync("2026-11-24T07:59:00Z"), d => d.UserId == chose.Id);
        Assert.Contains(await DueAtAsync("2026-11-24T08:00:00Z"), d => d.UserId == chose.Id);
    }

    [Fact]
    public async Task Quiet_days_a_digest_turned_off_and_a_snooze_each_mean_no_digest()
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Quiet", UserRole.Owner, UserRole.Member, UserRole.Member, UserRole.Member);
        foreach (var rep in org.Users) await SetZoneAsync(rep, "Europe/London");
        await PreferAsync(org[1], p => p.QuietDays = ["monday"]);
        await PreferAsync(org[2], p => p.DailyDigest = false);
        await PreferAsync(org[3], p => p.SnoozedUntil = DateTimeOffset.Parse("2026-11-30T00:00:00Z"));

        var monday = await DueAtAsync("2026-11-23T09:30:00Z");
        Assert.Contains(monday, d => d.UserId == org[0].Id);
        Assert.DoesNotContain(monday, d => d.UserId == org[1].Id || d.UserId == org[2].Id || d.UserId == org[3].Id);
        // Saturday is a quiet day by default.
        Assert.DoesNotContain(await DueAtAsync("2026-11-28T09:30:00Z"), d => d.UserId == org[0].Id);
    }

    [Fact]
    public async Task The_digest_is_sent_once_per_local_day_even_with_two_replicas_running_at_once()
    {
        var alex = fixture.Reps[0];
        Assert.Contains(await Digest.DueAsync(default), d => d.UserId == alex.Id);

        // Two replicas' jobs fire at the same moment, then one fires again a minute later.
        var replicas = Enumerable.Range(0, 2).Select(_ => ActivatorUtilities.CreateInstance<PipelineDigest>(fixture.App.Services)).ToList();
        await Task.WhenAll(replicas.Select(r => r.RunAsync(default)));
        await ActivatorUtilities.CreateInstance<PipelineDigest>(fixture.App.Services, (TimeProvider)new FakeTimeProvider(DigestFixture.Start.AddMinutes(1)))
            .RunAsync(default);

        await using var db = fixture.App.Service<SystemDb>().Open("test");
        var digests = await db.SlackOutbox.AsNoTracking().Where(m => m.UserId == alex.Id && m.Source.StartsWith("pipeline digest")).ToListAsync();
        var digest = Assert.Single(digests);
        Assert.Equal("pipeline digest 2026-11-23", digest.Source);
        Assert.Single(await db.ProactiveDeliveries.AsNoTracking().Where(d => d.UserId == alex.Id && d.Workflow == Workflow.DailyDigest).ToListAsync());
        Assert.DoesNotContain(await Digest.DueAsync(default), d => d.UserId == alex.Id);
    }

    [Fact]
    public async Task The_digest_shows_the_pipeline_closing_deals_stalled_deals_meetings_and_three_next_actions_within_slacks_limits()
    {
        var tom = fixture.Reps[1];
        await SetZoneAsync(tom, "America/New_York"); // due now, at DigestFixture.Start
        Assert.True(await Digest.SendAsync(new PipelineDigest.DueRep(tom.OrgId, tom.Id, new DateOnly(2026, 11, 23)), default));

        await using var db = fixture.App.Service<SystemDb>().Open("test");
        var row = await db.SlackOutbox.AsNoTracking().SingleAsync(m => m.UserId == tom.Id && m.Source == "pipeline digest 2026-11-23");
        var message = System.Text.Json.Nodes.JsonNode.Parse(row.Message)!.AsObject();
        var blocks = message["blocks"]!.ToJsonString(new System.Text.Json.JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        var openDeals = await db.Deals.Where(d => d.UserId == tom.Id && d.Stage != Crm.DealStage.ClosedWon && d.Stage != Crm.DealStage.ClosedLost).ToListAsync();
        Assert.Contains(Crm.Money.Format(openDeals.Sum(d => d.Amount), "USD"), blocks);
        Assert.Contains(Crm.Money.Format(Math.Round(openDeals.Sum(d => d.Amount * d.Probability / 100m), 0), "USD"), blocks);
        Assert.Contains("Good morning, Tom", blocks);
        Assert.Contains("Today's meetings", blocks);
        Assert.Contains("Stalled (no activity for 7+ days)", blocks);
        Assert.Equal(DigestMessage.NextActions, System.Text.RegularExpressions.Regex.Matches(blocks, DealButtons.DraftFollowUp).Count);
        Assert.Empty(BlockKitLimits.Problems(new SlackMessage((string)message["text"]!, [.. message["blocks"]!.AsArray().Select(b => (Block)new RawBlock(b!.AsObject()))])));
        Assert.DoesNotContain("Focus:", blocks); // solo calendar blocks are not meetings
    }

    [Fact]
    public async Task The_digest_buttons_draft_a_follow_up_to_confirm_open_the_deal_and_snooze_it_out_of_the_next_digest()
    {
        var priya = fixture.Reps[2];
        Assert.True(await Digest.SendAsync(new PipelineDigest.DueRep(priya.OrgId, priya.Id, new DateOnly(2026, 11, 23)), default));
        var dm = await SandboxDm.OfAsync(fixture.App, priya);
        var sandbox = dm.Sandbox;
        var digest = await dm.MessageAsync(DealButtons.DraftFollowUp, "the digest in the sandbox DM");
        var first = System.Text.Json.Nodes.JsonNode.Parse(digest.Message)!["blocks"]!.AsArray()
            .First(b => ((string?)b!["block_id"])?.StartsWith("next:") == true)!;
        var blockId = (string)first["block_id"]!;
        var dealId = Guid.Parse(blockId["next:".Length..]);

        Assert.True(await dm.ClickAsync(digest, blockId, DealButtons.DraftFollowUp));
        await dm.MessageAsync("copilot_confirm", "the follow-up preview with Confirm");
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
            Assert.Single(await db.PendingActions.AsNoTracking().Where(a => a.UserId == priya.Id && a.Action == "send_email").ToListAsync());

        Assert.True(await dm.ClickAsync(digest, blockId, DealButtons.Open));
        Assert.True(await dm.ClickAsync(digest, blockId, DealButtons.Snooze));
        await dm.MessageAsync("Snoozed", "the snooze confirmation");

        // Tomorrow's digest no longer suggests the snoozed deal.
        var tomorrow = ActivatorUtilities.CreateInstance<PipelineDigest>(fixture.App.Services, (TimeProvider)new FakeTimeProvider(DigestFixture.Start.AddDays(1)));
        Assert.True(await tomorrow.SendAsync(new PipelineDigest.DueRep(priya.OrgId, priya.Id, new DateOnly(2026, 11, 24)), default));
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
        {
            var next = await db.SlackOutbox.AsNoTracking().SingleAsync(m => m.UserId == priya.Id && m.Source == "pipeline digest 2026-11-24");
            Assert.DoesNotContain("next:" + dealId, next.Message);
        }
    }

    [Fact]
    public async Task Two_replicas_with_jobs_on_share_one_clustered_schedule_and_a_firing_sends_each_digest_once()
    {
        var clock = new FakeTimeProvider(DigestFixture.Start);
        await using var database = await TestDatabase.CreateAsync();
        var jobs = new Dictionary<string, string?> { ["Jobs:Enabled"] = "true" };
        await using var first = new Use60App(database, jobs, clock);
        await first.Service<DemoSeeder>().SeedAsync(CancellationToken.None);
        await using var second = new Use60App(database, jobs, clock);
        _ = first.BaseAddress;
        _ = second.BaseAddress;

        await using var db = first.Service<SystemDb>().Open("test");
        await FakeSlack.WaitUntilAsync(() => db.Database.SqlQuery<int>($"SELECT count(*)::int AS \"Value\" FROM qrtz_scheduler_state").ToList().Single() == 2,
            "both replicas to check in to the cluster", seconds: 30);
        Assert.Equal(1, db.Database.SqlQuery<int>($"SELECT count(*)::int AS \"Value\" FROM qrtz_triggers WHERE trigger_name = 'pipeline-digest'").ToList().Single());

        // Fire the digest job now, from both replicas: the cluster runs each firing on one instance, and the claims keep it to one digest.
        foreach (var app in new[] { first, second })
            await (await app.Service<ISchedulerFactory>().GetScheduler()).TriggerJob(new JobKey("pipeline-digest"));
        var alex = await db.Users.AsNoTracking().SingleAsync(u => u.SlackUserId == DemoData.Reps[0].SlackUserId);
        await FakeSlack.WaitUntilAsync(() => db.ProactiveDeliveries.AsNoTracking().Any(d => d.UserId == alex.Id), "the digest job to run", seconds: 30);
        await Task.Delay(TimeSpan.FromSeconds(2)); // both firings have had time to run; a second digest would show now
        Assert.Equal(1, await db.SlackOutbox.CountAsync(m => m.UserId == alex.Id && m.Source.StartsWith("pipeline digest")));
    }

    /// <summary>Who is due at that instant, by a digest on a clock of its own (the fixture's clock only moves forward).</summary>
    Task<IReadOnlyList<PipelineDigest.DueRep>> DueAtAsync(string instant) =>
        ActivatorUtilities.CreateInstance<PipelineDigest>(fixture.App.Services, (TimeProvider)new FakeTimeProvider(DateTimeOffset.Parse(instant)))
            .DueAsync(default);

    async Task SetZoneAsync(AppUser user, string zone)
    {
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        await db.Users.Where(u => u.Id == user.Id).ExecuteUpdateAsync(s => s.SetProperty(u => u.TimeZone, zone));
    }

    async Task PreferAsync(AppUser user, Action<UserPreferences> change)
    {
        await TestData.AsAsync(fixture.App.Services, user, async db =>
        {
            var preferences = new UserPreferences { OrgId = user.OrgId, UserId = user.Id };
            change(preferences);
            db.UserPreferences.Add(preferences);
            await db.SaveChangesAsync();
        });
    }
}
