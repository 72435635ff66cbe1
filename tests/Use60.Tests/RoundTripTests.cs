using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Use60.Calendar;
using Use60.Copilot;
using Use60.Crm;
using Use60.Data;
using Use60.Demo;
using Use60.Orgs;
using Use60.Proactive;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>
/// The demo org with the app's connections through a proxy that counts round trips: a rep's digest and their due briefs cost a fixed
/// number of them, however much data the rep has (no query per deal, meeting or attendee).
/// </summary>
public sealed class RoundTripTests : IAsyncLifetime
{
    static readonly DateOnly Tuesday = new(2026, 11, 24);

    TestDatabase database = null!;
    TcpProxy proxy = null!;
    Use60App app = null!;
    IReadOnlyList<AppUser> reps = [];

    public async Task InitializeAsync()
    {
        database = await TestDatabase.CreateAsync();
        proxy = new TcpProxy(new NpgsqlConnectionStringBuilder(database.AppConnectionString).Port);
        var viaProxy = new NpgsqlConnectionStringBuilder(database.AppConnectionString) { Port = proxy.Port }.ConnectionString;
        app = new Use60App(database, new Dictionary<string, string?> { ["Database:Url"] = viaProxy }, new FakeTimeProvider(DigestFixture.Start));
        await app.Service<DemoSeeder>().SeedAsync(CancellationToken.None);
        await using var db = app.Service<SystemDb>().Open("test");
        reps = await db.Users.AsNoTracking().Where(u => u.SlackUserId!.StartsWith("U0DEMO")).OrderBy(u => u.SlackUserId).ToListAsync();
    }

    public async Task DisposeAsync()
    {
        await app.DisposeAsync();
        await proxy.DisposeAsync();
        await database.DisposeAsync();
    }

    [Fact]
    public async Task A_digest_takes_two_round_trips_one_to_read_and_one_to_queue_however_many_deals_the_rep_has()
    {
        var alex = reps[0];
        // Tuesday: the throttle check is part of the read (on Mondays it is skipped).
        var digest = ActivatorUtilities.CreateInstance<PipelineDigest>(app.Services, (TimeProvider)new FakeTimeProvider(DigestFixture.Start.AddDays(1)));
        Assert.Equal(2, await RoundTripsAsync(async () => Assert.True(await digest.SendAsync(new PipelineDigest.DueRep(alex.OrgId, alex.Id, Tuesday), default))));

        await AddDealsAsync(alex, 40);
        var wednesday = ActivatorUtilities.CreateInstance<PipelineDigest>(app.Services, (TimeProvider)new FakeTimeProvider(DigestFixture.Start.AddDays(2)));
        Assert.Equal(2, await RoundTripsAsync(async () =>
            Assert.True(await wednesday.SendAsync(new PipelineDigest.DueRep(alex.OrgId, alex.Id, Tuesday.AddDays(1)), default))));
    }

    [Fact]
    public async Task A_reps_due_briefs_take_two_round_trips_together_whether_one_meeting_or_three()
    {
        var (alex, tom) = (reps[0], reps[1]);
        var start = DigestFixture.Start; // 09:00 in New York, 14:00 in London: Alex's 10:00 and Tom's 14:30 are due
        foreach (var minutes in new[] { 30, 90 }) await AddMeetingAsync(alex, start.AddMinutes(minutes));
        var briefs = ActivatorUtilities.CreateInstance<MeetingBriefs>(app.Services, (TimeProvider)new FakeTimeProvider(start));
        var due = await briefs.DueAsync(default);
        var alexs = due.Where(d => d.UserId == alex.Id).ToList();
        var toms = due.Where(d => d.UserId == tom.Id).ToList();
        Assert.Equal(3, alexs.Count);
        Assert.Single(toms);

        Assert.Equal(2, await RoundTripsAsync(async () => Assert.Equal(3, await briefs.SendAllAsync(alexs, default))));
        Assert.Equal(2, await RoundTripsAsync(async () => Assert.Equal(1, await briefs.SendAllAsync(toms, default))));
        await using var db = app.Service<SystemDb>().Open("test");
        Assert.Equal(4, await db.ToolExecutions.CountAsync(t => t.Tool == CopilotTools.ExecuteAction));
    }

    [Fact]
    public async Task A_brief_built_from_what_was_read_ahead_is_the_brief_built_question_by_question()
    {
        var alex = reps[0];
        var briefs = ActivatorUtilities.CreateInstance<MeetingBriefs>(app.Services, (TimeProvider)new FakeTimeProvider(DigestFixture.Start));
        var review = (await briefs.DueAsync(default)).Single(d => d.UserId == alex.Id);

        var asked = await BriefAsync(alex, review.EventId, preload: false);
        var preloaded = await BriefAsync(alex, review.EventId, preload: true);
        Assert.Contains("Sarah Chen", asked);
        Assert.Contains("\"history\":[{", asked);
        Assert.Contains("\"deal\":{\"deal\":{", asked);
        Assert.Equal(asked, preloaded);
    }

    async Task<string> BriefAsync(AppUser rep, Guid eventId, bool preload)
    {
        await using var scope = app.Services.GetRequiredService<IServiceScopeFactory>().CreateTenantScope(rep.OrgId, rep.Id);
        var services = scope.ServiceProvider;
        if (preload)
        {
            var batch = new DbBatch(services.GetRequiredService<Use60Db>());
            services.GetRequiredService<CopilotActions>().PreloadMeetingBriefs(batch, rep.OrgId, [eventId]);
            await batch.RunAsync(default);
        }
        var brief = await MeetingBriefs.BriefAsync(services, rep, eventId, default);
        return brief.ToJsonString();
    }

    async Task<long> RoundTripsAsync(Func<Task> work)
    {
        var before = proxy.RoundTrips;
        await work();
        return proxy.RoundTrips - before;
    }

    Task AddDealsAsync(AppUser rep, int count) => TestData.AsAsync(app.Services, rep, async db =>
    {
        var now = DigestFixture.Start;
        db.Deals.AddRange(Enumerable.Range(0, count).Select(i => new Deal
        {
            OrgId = rep.OrgId, UserId = rep.Id, Name = $"Extra deal {i}", Stage = (DealStage)(i % 5), Amount = 1000 + i,
            CloseDate = DateOnly.FromDateTime(now.UtcDateTime).AddDays(i % 9), LastActivityAt = now.AddDays(-(i % 12)),
        }));
        await db.SaveChangesAsync();
    });

    Task AddMeetingAsync(AppUser rep, DateTimeOffset start) => TestData.AsAsync(app.Services, rep, async db =>
    {
        var deal = await db.Deals.Where(d => d.UserId == rep.Id && d.PrimaryContactId != null).OrderBy(d => d.Name).FirstAsync();
        var contact = await db.Contacts.SingleAsync(c => c.Id == deal.PrimaryContactId);
        db.CalendarEvents.Add(new CalendarEvent
        {
            OrgId = rep.OrgId, UserId = rep.Id, ExternalId = "test-" + Guid.NewGuid().ToString("N"), Title = $"Check-in at {start:HH:mm}",
            StartTime = start, EndTime = start.AddMinutes(30), DealId = deal.Id,
            Attendees = [new() { Email = rep.Email!, Self = true }, new() { Email = contact.Email!, Name = contact.FullName }],
        });
        await db.SaveChangesAsync();
    });
}
