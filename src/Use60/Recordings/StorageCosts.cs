namespace Use60.Recordings;

/// <summary>
/// The storage price list of the seed product (S3 Standard): storage $0.023 per GB-month, charged per day as a share of
/// the month; downloads $0.09 per GB, not metered but estimated as half of what is stored being downloaded each month
/// (1.7% of it a day); uploads free.
/// </summary>
public static class StorageCosts
{
    public const decimal StoragePerGbMonth = 0.023m;
    public const decimal DownloadPerGb = 0.09m;
    public const decimal UploadPerGb = 0m;

    /// <summary>S3 Standard's price of PUT, COPY, POST and LIST requests: $0.005 per 1,000 (the seeds name the metric, not its rate).</summary>
    public const decimal PerThousandRequests = 0.005m;

    /// <summary>The S3 requests one stored file took: one PUT, or a multipart upload's parts plus its start and completion.</summary>
    public static int RequestsFor(long bytes) =>
        bytes <= RecordingUpload.PartSize ? 1 : (int)((bytes + RecordingUpload.PartSize - 1) / RecordingUpload.PartSize) + 2;

    /// <summary>Half of the stored bytes downloaded a month is 1.7% a day.</summary>
    public const decimal DailyDownloadShare = 0.017m;

    public sealed record Day(DateOnly Date, decimal StorageGb, decimal StorageCost, decimal DownloadGb, decimal DownloadCost)
    {
        public decimal Total => StorageCost + DownloadCost;
    }

    /// <summary>What one day of keeping <paramref name="storageGb"/> costs.</summary>
    public static Day ForDay(DateOnly date, decimal storageGb)
    {
        var daysInMonth = DateTime.DaysInMonth(date.Year, date.Month);
        var downloadGb = storageGb * DailyDownloadShare;
        return new Day(date, storageGb, storageGb * StoragePerGbMonth / daysInMonth, downloadGb, downloadGb * DownloadPerGb);
    }

    /// <summary>
    /// Next month's cost if storage keeps growing as it did over the days given (their average daily growth, from the last
    /// day's size): each day of next month priced as <see cref="ForDay"/> prices it.
    /// </summary>
    public static decimal ProjectNextMonth(IReadOnlyList<Day> history, DateOnly today)
    {
        if (history.Count == 0) return 0m;
        var ordered = history.OrderBy(d => d.Date).ToList();
        var last = ordered[^1];
        var span = last.Date.DayNumber - ordered[0].Date.DayNumber;
        var growthPerDay = span > 0 ? (last.StorageGb - ordered[0].StorageGb) / span : 0m;
        var first = new DateOnly(today.Year, today.Month, 1).AddMonths(1);
        var total = 0m;
        for (var date = first; date.Month == first.Month; date = date.AddDays(1))
            total += ForDay(date, Math.Max(0m, last.StorageGb + growthPerDay * (date.DayNumber - last.Date.DayNumber))).Total;
        return total;
    }
}
