using System.Globalization;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Use60.Data;

namespace Use60.Recordings.Pages;

/// <summary>
/// Storage costs (/admin/storage): what the org's recordings take up and cost — total GB, this month so far, next month's
/// projection, and the last 60 days day by day — from the daily metrics (row-level security: owners and admins of the org).
/// </summary>
public sealed class StorageModel(Use60Db db, TimeProvider clock) : PageModel
{
    public const string PagePath = "/admin/storage";
    public const int ChartDays = 60;
    const int ProjectionDays = 30;
    static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    public IReadOnlyList<StorageCosts.Day> Days { get; private set; } = [];
    public decimal TotalGb { get; private set; }
    public decimal MonthToDate { get; private set; }
    public decimal NextMonth { get; private set; }
    public DateOnly Today { get; private set; }

    sealed record Metric(DateOnly Date, string Type, decimal Value, decimal Cost);

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        Today = DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime);
        var since = Today.AddDays(-ChartDays);
        var monthStart = new DateOnly(Today.Year, Today.Month, 1);
        var from = since < monthStart ? since : monthStart;
        var metrics = await db.Database.SqlQuery<Metric>($"""
            SELECT metric_date AS "Date", metric_type AS "Type", value AS "Value", cost_usd AS "Cost"
            FROM s3_usage_metrics WHERE metric_date >= {from} AND metric_type IN ('storage_gb', 'download_gb')
            """).ToListAsync(cancellationToken);
        var byDay = metrics.GroupBy(m => m.Date).OrderBy(g => g.Key).Select(g =>
        {
            var storage = g.FirstOrDefault(m => m.Type == "storage_gb");
            var download = g.FirstOrDefault(m => m.Type == "download_gb");
            return new StorageCosts.Day(g.Key, storage?.Value ?? 0, storage?.Cost ?? 0, download?.Value ?? 0, download?.Cost ?? 0);
        }).ToList();
        Days = [.. byDay.Where(d => d.Date >= since)];
        TotalGb = byDay.Count > 0 ? byDay[^1].StorageGb : 0;
        MonthToDate = byDay.Where(d => d.Date >= monthStart).Sum(d => d.Total);
        NextMonth = StorageCosts.ProjectNextMonth([.. byDay.Where(d => d.Date >= Today.AddDays(-ProjectionDays))], Today);
    }

    // The chart: one bar per day (storage below, estimated downloads above), drawn by the server as SVG.
    public const int ChartWidth = 720, ChartHeight = 220, PlotLeft = 56, PlotTop = 12, PlotBottom = 28;
    public int PlotHeight => ChartHeight - PlotTop - PlotBottom;
    public double BarWidth => (ChartWidth - PlotLeft - 8) / (double)ChartDays;
    public decimal Scale => Days.Count == 0 ? 1 : Math.Max(0.0001m, Days.Max(d => d.Total)) * 1.1m;

    public double X(int index) => PlotLeft + (ChartDays - Days.Count + index) * BarWidth;
    public double Height(decimal cost) => (double)(cost / Scale) * PlotHeight;
    public double Y(decimal top) => PlotTop + PlotHeight - Height(top);

    public static string N(double value) => value.ToString("0.##", Invariant);
    public static string Usd(decimal value) => "$" + value.ToString(value < 1 ? "0.0000" : "#,##0.00", Invariant);
    public static string Gb(decimal value) => value.ToString("#,##0.00", Invariant) + " GB";
    public static string Date(DateOnly date) => date.ToString("d MMM", Invariant);
}
