using Microsoft.EntityFrameworkCore;
using Quartz;
using Use60.Data;

namespace Use60.Recordings;

/// <summary>What an org's recordings take up in a store, in bytes. The recording store (S3 or its local fallback) provides one.</summary>
public interface IStorageMeter
{
    string Store { get; }

    Task<IReadOnlyDictionary<Guid, long>> BytesByOrgAsync(CancellationToken cancellationToken);
}

/// <summary>
/// The daily storage metrics: at 00:00 UTC, for the day that just ended, each org's stored GB (from every registered
/// <see cref="IStorageMeter"/>), the GB uploaded that day (growth), and the estimated downloads, each with its cost at
/// <see cref="StorageCosts"/>' rates. Re-running a day overwrites it, so a repeated or second-replica firing changes nothing.
/// </summary>
public sealed class StorageMetrics(SystemDb system, IEnumerable<IStorageMeter> meters, TimeProvider clock, ILogger<StorageMetrics> logger)
{
    const decimal BytesPerGb = 1024m * 1024m * 1024m;

    /// <summary>Records the day before today (UTC); returns how many orgs were recorded.</summary>
    public async Task<int> RecordAsync(CancellationToken cancellationToken)
    {
        var day = DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime).AddDays(-1);
        var stores = meters.ToList();
        if (stores.Count == 0)
        {
            logger.LogInformation("No recording store is metered in this build; no storage metrics recorded for {Day}", day);
            return 0;
        }
        var bytes = new Dictionary<Guid, long>();
        foreach (var meter in stores)
            foreach (var (org, size) in await meter.BytesByOrgAsync(cancellationToken))
                bytes[org] = bytes.GetValueOrDefault(org) + size;

        await using var db = system.Open("record the daily storage metrics");
        // A store may hold files of an org that no longer exists (awaiting erasure) or a stray folder: not an org to record.
        var known = (await db.Database.SqlQuery<Guid>($"SELECT id AS \"Value\" FROM orgs WHERE id = ANY({bytes.Keys.ToArray()})")
            .ToListAsync(cancellationToken)).ToHashSet();
        foreach (var unknown in bytes.Keys.Where(org => !known.Contains(org)).ToList())
        {
            logger.LogWarning("Storage metrics for {Day}: {Bytes} bytes stored for {Org}, which is not an org here; not recorded", day, bytes[unknown], unknown);
            bytes.Remove(unknown);
        }
        foreach (var mismatch in await CheckAsync(db, bytes, cancellationToken))
            logger.LogWarning("Storage check for {Day}: org {Org} has {Listed} bytes in the store but its kept recordings add up to {Recorded}; " +
                              "the store's figure is recorded (it is what is billed)", day, mismatch.OrgId, mismatch.Listed, mismatch.Recorded);
        var previous = (await db.Database.SqlQuery<OrgGb>($"""
                SELECT org_id AS "OrgId", value AS "Gb" FROM s3_usage_metrics WHERE metric_date = {day.AddDays(-1)} AND metric_type = 'storage_gb'
                """).ToListAsync(cancellationToken)).ToDictionary(r => r.OrgId, r => r.Gb);
        var now = clock.GetUtcNow();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        foreach (var (org, size) in bytes)
        {
            var gb = Math.Round(size / BytesPerGb, 6);
            var cost = StorageCosts.ForDay(day, gb);
            var uploaded = Math.Max(0m, gb - previous.GetValueOrDefault(org, 0m));
            await UpsertAsync(db, org, day, "storage_gb", gb, cost.StorageCost, estimated: false, now, cancellationToken);
            await UpsertAsync(db, org, day, "upload_gb", uploaded, uploaded * StorageCosts.UploadPerGb, estimated: false, now, cancellationToken);
            await UpsertAsync(db, org, day, "download_gb", cost.DownloadGb, cost.DownloadCost, estimated: true, now, cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        logger.LogInformation("Storage metrics for {Day}: {Orgs} org(s), {Gb:0.###} GB in all", day, bytes.Count, bytes.Values.Sum() / BytesPerGb);
        return bytes.Count;
    }

    sealed record OrgGb(Guid OrgId, decimal Gb);

    /// <summary>An org whose bytes in the store are not what its kept recordings say they are.</summary>
    public sealed record StorageMismatch(Guid OrgId, long Listed, long Recorded);

    sealed record OrgBytes(Guid OrgId, long Bytes, int Recordings);

    /// <summary>
    /// The store's listing checked against the recordings' own sizes: a recording whose files are missing, or files no recording
    /// accounts for. Thumbnails are not in the recordings' sizes, so each recording may have up to 1 MiB more in the store.
    /// </summary>
    public static async Task<IReadOnlyList<StorageMismatch>> CheckAsync(Use60Db db, IReadOnlyDictionary<Guid, long> listed, CancellationToken cancellationToken)
    {
        const long ThumbnailAllowance = 1024 * 1024;
        var recorded = (await db.Database.SqlQuery<OrgBytes>($"""
                SELECT org_id AS "OrgId", sum(coalesce(video_bytes, 0) + coalesce(audio_bytes, 0))::bigint AS "Bytes", count(*)::int AS "Recordings"
                FROM recordings WHERE s3_upload_status = 'complete' GROUP BY org_id
                """).ToListAsync(cancellationToken)).ToDictionary(r => r.OrgId);
        return [.. listed.Keys.Union(recorded.Keys).Select(org => (org, Listed: listed.GetValueOrDefault(org), Recorded: recorded.GetValueOrDefault(org)))
            .Where(o => o.Listed < (o.Recorded?.Bytes ?? 0) || o.Listed > (o.Recorded?.Bytes ?? 0) + ThumbnailAllowance * (o.Recorded?.Recordings ?? 0))
            .Select(o => new StorageMismatch(o.org, o.Listed, o.Recorded?.Bytes ?? 0))];
    }

    /// <summary>Adds <paramref name="requests"/> S3 requests to the org's count for the day they were made (the upload queue's copies).</summary>
    public static Task CountRequestsAsync(Use60Db db, Guid orgId, DateTimeOffset at, int requests, CancellationToken cancellationToken)
    {
        var day = DateOnly.FromDateTime(at.UtcDateTime);
        return db.Database.ExecuteSqlAsync($"""
            INSERT INTO s3_usage_metrics (org_id, metric_date, metric_type, value, cost_usd, estimated, recorded_at)
            VALUES ({orgId}, {day}, 'api_requests', {requests}, {Math.Round(requests * StorageCosts.PerThousandRequests / 1000m, 6)}, false, {at})
            ON CONFLICT (org_id, metric_date, metric_type)
            DO UPDATE SET value = s3_usage_metrics.value + excluded.value, cost_usd = s3_usage_metrics.cost_usd + excluded.cost_usd,
                          recorded_at = excluded.recorded_at
            """, cancellationToken);
    }

    public static Task UpsertAsync(Use60Db db, Guid orgId, DateOnly day, string type, decimal value, decimal cost, bool estimated, DateTimeOffset now,
        CancellationToken cancellationToken) =>
        db.Database.ExecuteSqlAsync($"""
            INSERT INTO s3_usage_metrics (org_id, metric_date, metric_type, value, cost_usd, estimated, recorded_at)
            VALUES ({orgId}, {day}, {type}, {value}, {Math.Round(cost, 6)}, {estimated}, {now})
            ON CONFLICT (org_id, metric_date, metric_type)
            DO UPDATE SET value = excluded.value, cost_usd = excluded.cost_usd, estimated = excluded.estimated, recorded_at = excluded.recorded_at
            """, cancellationToken);
}

/// <summary>Quartz's handle on the metrics: daily at 00:00 UTC.</summary>
[DisallowConcurrentExecution]
public sealed class StorageMetricsJob(StorageMetrics metrics) : IJob
{
    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken) => await metrics.RecordAsync(cancellationToken);
}
