using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Time.Testing;
using Use60.Calendar;
using Use60.Crm;
using Use60.Data;
using Use60.Demo;
using Use60.Orgs;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

public sealed class DemoDataTests
{
    // The Monday after the US moved its clocks (8 March 2026) and before the UK did (29 March): New York is
    // UTC-4, London UTC+0, Kolkata UTC+5:30. 20:30 UTC is already Tuesday in Kolkata.
    static readonly DateTimeOffset Now = new(2026, 3, 9, 20, 30, 0, TimeSpan.Zero);

    static Dictionary<string, long> Counts(Use60Db db) => new()
    {
        ["users"] = db.Users.LongCount(), ["companies"] = db.Companies.LongCount(), ["contacts"] = db.Contacts.LongCount(),
        ["deals"] = db.Deals.LongCount(), ["activities"] = db.Activities.LongCount(), ["tasks"] = db.Tasks.LongCount(),
        ["calendar_events"] = db.CalendarEvents.LongCount(), ["meetings"] = db.Meetings.LongCount(),
    };

    /// <summary>A new database and app on a fake clock at <see cref="Now"/>, with the demo seeded once.</summary>
    sealed class SeededApp : IAsyncDisposable
    {
        public required TestDatabase Database { get; init; }
        public required Use60App App { get; init; }
        public required FakeTimeProvider Clock { get; init; }
        public required DemoSeedReport First { get; init; }
        public DemoSeeder Seeder => App.Service<DemoSeeder>();

        public static async Task<SeededApp> CreateAsync()
        {
            var database = await TestDatabase.CreateAsync();
            var clock = new FakeTimeProvider(Now);
            var app = new Use60App(database, clock: clock);
            var first = await app.Service<DemoSeeder>().SeedAsync(CancellationToken.None);
            return new SeededApp { Database = database, App = app, Clock = clock, First = first };
        }

        public async ValueTask DisposeAsync()
        {
            await App.DisposeAsync();
            await Database.DisposeAsync();
        }
    }

    static DateOnly LocalDate(DateTimeOffset instant, string zone) =>
        DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(instant, TimeZoneInfo.FindSystemTimeZoneById(zone)).DateTime);

    [Fact]
    public async Task Seeding_twice_creates_the_demo_org_once_and_refreshes_it_the_second_time()
    {
        await using var demo = await SeededApp.CreateAsync();
        await using var db = demo.App.Service<SystemDb>().Open("test");
        var counts = Counts(db);
        var second = await demo.Seeder.SeedAsync(CancellationToken.None);
        Assert.Equal(0, second.Created);
        Assert.Equal(demo.First.Created, second.Refreshed);
        Assert.Equal(counts, Counts(db));
        Assert.Equal(demo.First.OrgId, second.OrgId);
        Assert.Equal(1, await db.Orgs.CountAsync());
    }

    [Fact]
    public async Task The_demo_org_has_the_reps_profile_and_records_the_issue_describes_dated_relative_to_today()
    {
        await using var demo = await SeededApp.CreateAsync();
        await using var db = demo.App.Service<SystemDb>().Open("test");

        var org = await db.Orgs.SingleAsync();
        Assert.Equal(("Acme Robotics", "T0DEMO00001"), (org.Name, org.SlackTeamId));
        var reps = await db.Users.OrderBy(u => u.SlackUserId).ToListAsync();
        Assert.Equal(["U0DEMO00001", "U0DEMO00002", "U0DEMO00003"], reps.Select(r => r.SlackUserId));
        Assert.Equal(UserRole.Owner, reps[0].Role);
        Assert.Equal(3, reps.Select(r => r.TimeZone).Distinct().Count());
        Assert.Contains("Asia/Kolkata", reps.Select(r => r.TimeZone));

        var profile = await db.OrgProfiles.SingleAsync();
        Assert.Equal(2, profile.Competitors.Count);
        Assert.Contains(profile.Competitors, c => c.Name == "WidgetCo" && c.Positioning.Length > 20);
        Assert.NotEmpty(profile.Products);
        Assert.NotEmpty(profile.PainPoints);
        Assert.NotEmpty(profile.BrandVoice);

        var deals = await db.Deals.ToListAsync();
        Assert.InRange(deals.Count, 35, 45);
        Assert.Equal(Enum.GetValues<DealStage>().Order(), deals.Select(d => d.Stage).Distinct().Order());
        Assert.All(deals, d => Assert.Contains(d.UserId, reps.Select(r => r.Id)));
        var stalled = deals.Where(d => d.Stage.IsOpen() && d.LastActivityAt < Now.AddDays(-DealStages.DefaultStallDays)).ToList();
        Assert.InRange(stalled.Count, 4, 15);
        Assert.True(deals.Count(d => d.Stage.IsOpen() && d.LastActivityAt >= Now.AddDays(-5)) >= 10, "most deals are active");
        // A deal's last activity is its newest activity, as the database keeps it.
        var newest = await db.Activities.GroupBy(a => a.DealId).Select(g => new { Deal = g.Key, At = g.Max(a => a.OccurredAt) }).ToListAsync();
        Assert.All(deals, d => Assert.Equal(newest.Single(n => n.Deal == d.Id).At, d.LastActivityAt));

        var sarahs = await (from c in db.Contacts join co in db.Companies on c.CompanyId equals co.Id
                            where c.FirstName == "Sarah" select co.Name).ToListAsync();
        Assert.Equal(2, sarahs.Count);
        Assert.Contains("TechCorp", sarahs);
        Assert.Equal(2, sarahs.Distinct().Count());

        var events = await db.CalendarEvents.ToListAsync();
        var tasks = await db.Tasks.ToListAsync();
        foreach (var rep in reps)
        {
            var today = LocalDate(Now, rep.TimeZone);
            foreach (var day in new[] { today, today.AddDays(1) })
            {
                var mine = events.Where(e => e.UserId == rep.Id && LocalDate(e.StartTime, rep.TimeZone) == day).ToList();
                Assert.Contains(mine, e => e.AttendeesCount > 1 && e.Attendees.Any(a => !a.Self && a.Email.EndsWith(".example")));
                Assert.Contains(mine, e => e.AttendeesCount <= 1);
            }
            // The first meeting of the day is at 10:00 on the rep's own wall clock.
            var first = events.Where(e => e.UserId == rep.Id && LocalDate(e.StartTime, rep.TimeZone) == today).MinBy(e => e.StartTime)!;
            Assert.Equal(new TimeOnly(10, 0), TimeOnly.FromDateTime(TimeZoneInfo.ConvertTime(first.StartTime, rep.Zone).DateTime));
            Assert.Contains(tasks, t => t.UserId == rep.Id && t.Status == CrmTaskStatus.Open && t.DueDate < today);
        }
        // Kolkata's "today" is already 10 March while New York's is 9 March.
        Assert.Equal(new DateOnly(2026, 3, 10), LocalDate(Now, "Asia/Kolkata"));
        Assert.Equal(new DateOnly(2026, 3, 9), LocalDate(Now, "America/New_York"));
    }

    [Fact]
    public async Task Seeding_again_a_day_later_moves_the_demo_records_to_the_new_today()
    {
        await using var demo = await SeededApp.CreateAsync();
        await using var db = demo.App.Service<SystemDb>().Open("test");
        var before = await db.CalendarEvents.AsNoTracking().OrderBy(e => e.Id).Select(e => e.StartTime).ToListAsync();

        demo.Clock.Advance(TimeSpan.FromDays(1));
        var report = await demo.Seeder.SeedAsync(CancellationToken.None);
        // Nothing is duplicated; the only new rows are the storage metrics of the day that has just ended (3 metrics).
        Assert.Equal(3, report.Created);
        var after = await db.CalendarEvents.AsNoTracking().OrderBy(e => e.Id).Select(e => e.StartTime).ToListAsync();
        Assert.Equal(before.Count, after.Count);
        Assert.All(before.Zip(after), pair => Assert.Equal(TimeSpan.FromDays(1), pair.Second - pair.First));
    }
}

public sealed class CommandLineTests
{
    [Fact]
    public async Task Seed_demo_then_admin_link_print_what_dev_sh_shows()
    {
        await using var database = await TestDatabase.CreateAsync(migrate: false);
        var environment = AppProcess.EnvironmentFor(database);
        environment["PUBLIC_URL"] = "https://use60.example.com";

        var seeded = await AppProcess.RunAsync(environment, "seed-demo");
        Assert.True(seeded.ExitCode == 0, seeded.Output);
        Assert.Matches(@"Demo org Acme Robotics \(T0DEMO00001\): \d+ rows created, 0 refreshed", seeded.Output);
        var again = await AppProcess.RunAsync(environment, "seed-demo");
        Assert.Contains("0 rows created", again.Output);

        var link = await AppProcess.RunAsync(environment, "admin-link", "ALEX@acme-robotics.example");
        Assert.Equal(0, link.ExitCode);
        Assert.Matches(@"(?m)^Admin sign-in: https://use60\.example\.com/admin/login\?token=[A-Za-z0-9_-]{43}$", link.Output);
        Assert.Contains("For Alex Morgan (owner of Acme Robotics); valid for 10 minutes, usable once.", link.Output);

        var member = await AppProcess.RunAsync(environment, "admin-link", "priya@acme-robotics.example");
        Assert.Equal(0, member.ExitCode);
        Assert.Contains("Note: Priya Sharma is a member; the admin pages will refuse them", member.Output);
    }

    [Fact]
    public async Task The_app_listens_where_ASPNETCORE_URLS_says()
    {
        await using var database = await TestDatabase.CreateAsync();
        var environment = AppProcess.EnvironmentFor(database);
        environment["ASPNETCORE_URLS"] = "http://127.0.0.1:0";
        var (app, url) = await AppProcess.ServeAsync(environment, "--contentRoot", ".");
        await using (app)
        {
            Assert.NotEqual(5175, url.Port);
            using var client = new HttpClient { BaseAddress = url };
            Assert.Equal("{\"status\":\"healthy\",\"checks\":{}}", await client.GetStringAsync("/healthz"));
        }
    }

    [Fact]
    public async Task Bad_command_lines_get_usage_and_exit_code_2()
    {
        await using var database = await TestDatabase.CreateAsync();
        var environment = AppProcess.EnvironmentFor(database);

        var unknown = await AppProcess.RunAsync(environment, "frobnicate");
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("Unknown command 'frobnicate'.", unknown.Output);
        Assert.Contains("admin-link EMAIL [--org TEAM_ID]", unknown.Output);

        var help = await AppProcess.RunAsync(environment, "help");
        Assert.Equal(0, help.ExitCode);
        foreach (var verb in new[] { "migrate", "seed-demo", "admin-link" }) Assert.Contains(verb, help.Output);

        var nobody = await AppProcess.RunAsync(environment, "admin-link", "nobody@example.com");
        Assert.Equal(2, nobody.ExitCode);
        Assert.Contains("No user with the email nobody@example.com.", nobody.Output);

        var noEmail = await AppProcess.RunAsync(environment, "admin-link");
        Assert.Equal(2, noEmail.ExitCode);
        Assert.Contains("Usage: admin-link EMAIL [--org TEAM_ID]", noEmail.Output);
    }
}
