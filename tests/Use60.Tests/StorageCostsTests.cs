using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Use60.Data;
using Use60.Demo;
using Use60.Orgs;
using Use60.Recordings;
using Use60.Recordings.Pages;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

public sealed class StorageCostsTests
{
    [Fact]
    public void A_day_costs_its_share_of_the_gb_month_plus_the_estimated_downloads()
    {
        // November has 30 days: 100 GB for a day is 100 × 0.023 / 30; 1.7% of it downloaded at $0.09 a GB.
        var day = StorageCosts.ForDay(new DateOnly(2026, 11, 10), 100m);
        Assert.Equal(100m * 0.023m / 30, day.StorageCost);
        Assert.Equal(1.7m, day.DownloadGb);
        Assert.Equal(0.153m, day.DownloadCost);
        // February 2027 has 28 days: the same GB cost more per day.
        Assert.True(StorageCosts.ForDay(new DateOnly(2027, 2, 10), 100m).StorageCost > day.StorageCost);
        // About half of what is stored is downloaded in a month.
        Assert.InRange(StorageCosts.DailyDownloadShare * 30, 0.5m, 0.52m);
    }

    [Fact]
    public void Next_month_is_projected_from_the_growth_of_the_last_days()
    {
        var today = new DateOnly(2026, 11, 23);
        var flat = Enumerable.Range(0, 30).Select(i => StorageCosts.ForDay(today.AddDays(-30 + i), 10m)).ToList();
        // Flat at 10 GB all December (31 days): 10 × 0.023 for storage, plus 31 days of 0.17 GB downloaded at $0.09.
        Assert.Equal(10m * 0.023m / 31 * 31 + 31 * 0.17m * 0.09m, StorageCosts.ProjectNextMonth(flat, today), 10);
        var growing = Enumerable.Range(0, 30).Select(i => StorageCosts.ForDay(today.AddDays(-30 + i), 10m + i)).ToList();
        Assert.True(StorageCosts.ProjectNextMonth(growing, today) > StorageCosts.ProjectNextMonth(flat, today) * 3);
        Assert.Equal(0m, StorageCosts.ProjectNextMonth([], today));
    }

    [Fact]
    public async Task The_daily_job_records_each_orgs_stored_gb_uploads_and_estimated_downloads_once_per_day()
    {
        var meter = new TestMeter();
        await using var database = await TestDatabase.CreateAsync();
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 0, 0, 0, TimeSpan.Zero));
        await using var app = new Use60App(database, clock: clock, configureServices: s => s.AddSingleton<IStorageMeter>(meter));
        var org = await TestData.CreateOrgAsync(app.Services, "Recorders", UserRole.Owner);
        meter.Bytes[org.Id] = 5L * 1024 * 1024 * 1024;

        Assert.Equal(1, await Metrics(app).RecordAsync(default));
        Assert.Equal(1, await Metrics(app).RecordAsync(default)); // a second firing overwrites the same day
        clock.Advance(TimeSpan.FromDays(1));
        meter.Bytes[org.Id] = 7L * 1024 * 1024 * 1024;
        await Metrics(app).RecordAsync(default);

        await using var db = app.Service<SystemDb>().Open("test");
        var rows = await db.Database.SqlQuery<Row>($"""
            SELECT metric_date AS "Date", metric_type AS "Type", value AS "Value", cost_usd AS "Cost", estimated AS "Estimated"
            FROM s3_usage_metrics WHERE org_id = {org.Id} ORDER BY metric_date, metric_type
            """).ToListAsync();
        Assert.Equal(6, rows.Count);
        var sunday = rows.Where(r => r.Date == new DateOnly(2026, 11, 22)).ToDictionary(r => r.Type);
        Assert.Equal((5m, Math.Round(StorageCosts.ForDay(new DateOnly(2026, 11, 22), 5m).StorageCost, 6)), (sunday["storage_gb"].Value, sunday["storage_gb"].Cost));
        Assert.True(sunday["download_gb"].Estimated);
        Assert.Equal(0.085m, sunday["download_gb"].Value);
        var monday = rows.Where(r => r.Date == new DateOnly(2026, 11, 23)).ToDictionary(r => r.Type);
        Assert.Equal((7m, 2m, 0m), (monday["storage_gb"].Value, monday["upload_gb"].Value, monday["upload_gb"].Cost));
    }

    [Fact]
    public async Task The_storage_page_shows_the_demo_months_figures_the_projection_a_unit_computes_and_a_60_day_chart()
    {
        await using var database = await TestDatabase.CreateAsync();
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 14, 0, 0, TimeSpan.Zero));
        await using var app = new Use60App(database, clock: clock);
        await app.Service<DemoSeeder>().SeedAsync(default);
        await using var db = app.Service<SystemDb>().Open("test");
        var owner = await db.Users.AsNoTracking().SingleAsync(u => u.Role == UserRole.Owner && u.SlackUserId!.StartsWith("U0DEMO"));
        var days = (await db.Database.SqlQuery<Row>($"""
                SELECT metric_date AS "Date", metric_type AS "Type", value AS "Value", cost_usd AS "Cost", estimated AS "Estimated"
                FROM s3_usage_metrics WHERE org_id = {owner.OrgId} AND metric_type = 'storage_gb'
                """).ToListAsync())
            .Select(r => StorageCosts.ForDay(r.Date, r.Value)).ToList();
        Assert.Equal(60, days.Count);
        var today = new DateOnly(2026, 11, 23);
        var expected = StorageCosts.ProjectNextMonth([.. days.Where(d => d.Date >= today.AddDays(-30))], today);

        var browser = await AdminPages.SignedInAsync(app, owner);
        var page = await AdminPages.HtmlAsync(await browser.GetAsync(StorageModel.PagePath));
        Assert.Equal(StorageModel.Usd(expected), page.QuerySelector("[data-field=projection]")!.TextContent);
        Assert.Equal(StorageModel.Gb(days.MaxBy(d => d.Date)!.StorageGb), page.QuerySelector("[data-field=total-gb]")!.TextContent);
        Assert.StartsWith("$", page.QuerySelector("[data-field=month-to-date]")!.TextContent);
        Assert.Equal(60, page.QuerySelectorAll("svg[data-field=chart] g[data-date]").Length);
        Assert.Equal(14, page.QuerySelectorAll("table.storage tbody tr").Length);
    }

    [Fact]
    public async Task The_stores_listing_is_checked_against_the_kept_recordings_sizes()
    {
        await using var database = await TestDatabase.CreateAsync();
        await using var app = new Use60App(database);
        var org = await TestData.CreateOrgAsync(app.Services, "Checked", UserRole.Owner);
        var other = await TestData.CreateOrgAsync(app.Services, "Unchecked", UserRole.Owner);
        await using var db = app.Service<SystemDb>().Open("test");
        db.Recordings.Add(new Recording
        {
            OrgId = org.Id, UserId = org[0].Id, Source = RecordingSource.Command, MeetingUrl = "https://meet.google.com/abc-defg-hij",
            MeetingKey = "meet.google.com/abc-defg-hij", BotName = "use60 Notetaker (recording)", ChatNotice = "Recorded.",
            Status = RecordingStatus.Completed, S3UploadStatus = S3UploadStatus.Complete, VideoBytes = 900_000_000, AudioBytes = 100_000_000,
        });
        await db.SaveChangesAsync();

        // The recording's files and a thumbnail: as it should be.
        Assert.Empty(await StorageMetrics.CheckAsync(db, new Dictionary<Guid, long> { [org.Id] = 1_000_050_000 }, default));
        // Files missing, and files no recording accounts for (in an org with no kept recording at all).
        Assert.Equal([new StorageMetrics.StorageMismatch(org.Id, 600_000_000, 1_000_000_000), new StorageMetrics.StorageMismatch(other.Id, 5_000_000, 0)],
            (await StorageMetrics.CheckAsync(db, new Dictionary<Guid, long> { [org.Id] = 600_000_000, [other.Id] = 5_000_000 }, default)).OrderBy(m => m.Recorded == 0));
    }

    sealed record Row(DateOnly Date, string Type, decimal Value, decimal Cost, bool Estimated);

    static StorageMetrics Metrics(Use60App app) => app.Services.CreateScope().ServiceProvider.GetRequiredService<StorageMetrics>();

    sealed class TestMeter : IStorageMeter
    {
        public Dictionary<Guid, long> Bytes { get; } = [];
        public string Store => "test";
        public Task<IReadOnlyDictionary<Guid, long>> BytesByOrgAsync(CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyDictionary<Guid, long>>(new Dictionary<Guid, long>(Bytes));
    }
}
