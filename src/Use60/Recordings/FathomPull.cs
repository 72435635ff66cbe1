using Microsoft.EntityFrameworkCore;
using Quartz;
using Use60.Data;

using static Use60.Recordings.FathomJson;
using static Use60.Slack.SlackJson;

namespace Use60.Recordings;

/// <summary>What one pull did: pages read, and how the recordings on them ended; <paramref name="Complete"/> when it read to the last page.</summary>
public sealed record FathomPullRun(int Pages, int Landed, int AlreadyLanded, int Unmatched, int NotReady, int Failed, int UnmatchedLanded, bool Complete);

/// <summary>
/// The periodic pull (<c>fathom-pull</c>, every 15 minutes), for recordings whose webhook never came (or with no webhook set up): every
/// recording Fathom created after the high-water mark in <c>fathom_sync</c> (less a small overlap), page by page through Fathom's
/// cursor, each handed to <see cref="FathomRecordings.LandAsync"/>, which lands it once however often it is seen. The mark moves only
/// when a run has read to the last page, and never past a recording that could not land yet (no transcript, an error) unless that
/// one is older than <see cref="GiveUpAfter"/>: a Fathom that is down, rate-limiting or failing leaves the mark where it was, and the
/// next run reads the same recordings again. A backlog longer than <see cref="MaxPages"/> is a scan over several runs: each run saves
/// Fathom's cursor (with the filter and what the scan has seen) and the next goes on from it, so the scan reaches the end and the mark moves.
/// </summary>
public sealed class FathomPull(SystemDb system, FathomClient fathom, FathomRecordings recordings, TimeProvider clock, ILogger<FathomPull> logger)
{
    /// <summary>The first run takes in the last day's recordings, not the account's whole history.</summary>
    public static readonly TimeSpan FirstLookback = TimeSpan.FromDays(1);

    /// <summary>Each run reads again from a little before the mark: recordings created in the same second as it are not missed.</summary>
    public static readonly TimeSpan Overlap = TimeSpan.FromMinutes(1);

    /// <summary>A recording still without a transcript this long after Fathom created it no longer holds the mark back.</summary>
    public static readonly TimeSpan GiveUpAfter = TimeSpan.FromDays(2);

    /// <summary>Unmatched recordings are tried again for this long (then an admin finds them in fathom_recordings).</summary>
    public static readonly TimeSpan RetryUnmatchedFor = TimeSpan.FromDays(30);

    /// <summary>Bounds one run; the next run goes on from where this one stopped (the mark moves once a scan has read to the end).</summary>
    public const int MaxPages = 200;

    sealed record Sync(DateTimeOffset? CreatedAfter, string? ScanCursor, DateTimeOffset? ScanSince, DateTimeOffset? ScanNewest, DateTimeOffset? ScanHold);

    /// <summary>A scan that is not finished: the page to read next, the filter it belongs to, the newest recording seen, the oldest held back.</summary>
    sealed record Scan(string Cursor, DateTimeOffset Since, DateTimeOffset Newest, DateTimeOffset? Hold);

    public async Task<FathomPullRun> RunAsync(CancellationToken cancellationToken)
    {
        if (!fathom.IsConfigured) return new FathomPullRun(0, 0, 0, 0, 0, 0, 0, false);
        var now = clock.GetUtcNow();
        Sync? sync;
        await using (var db = system.Open("read the Fathom pull's mark"))
            sync = await db.Database.SqlQuery<Sync>($"""
                SELECT created_after AS "CreatedAfter", scan_cursor AS "ScanCursor", scan_since AS "ScanSince", scan_newest AS "ScanNewest", scan_hold AS "ScanHold"
                FROM fathom_sync WHERE id = 1
                """).FirstOrDefaultAsync(cancellationToken);
        var mark = sync?.CreatedAfter ?? now - FirstLookback;
        var resumed = sync is { ScanCursor: { } saved, ScanSince: { } savedSince } ? new Scan(saved, savedSince, sync.ScanNewest ?? mark, sync.ScanHold) : null;
        if (resumed is not null) logger.LogInformation("The Fathom pull goes on with the scan an earlier run left unfinished");

        var outcomes = Enum.GetValues<FathomLanding>().ToDictionary(o => o, _ => 0);
        var since = resumed?.Since ?? mark - Overlap;
        var (pages, failed, newest) = (0, 0, resumed?.Newest ?? mark);
        var holdAt = resumed?.Hold;
        var cursor = resumed?.Cursor;
        try
        {
            do
            {
                var page = await fathom.ListMeetingsAsync(since, cursor, cancellationToken);
                pages++;
                foreach (var recording in page.Items)
                {
                    var createdAt = DateOf(recording["created_at"]);
                    FathomLanding? landing;
                    try
                    {
                        landing = await recordings.LandAsync(recording, FathomVia.Pull, cancellationToken);
                        outcomes[landing.Value]++;
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        logger.LogError(e, "Fathom recording {RecordingId} could not land; the next pull tries it again", IdOf(recording["recording_id"]));
                        (landing, failed) = (null, failed + 1);
                    }
                    if (createdAt is not { } created) continue;
                    if (landing is null or FathomLanding.NotReady && created > now - GiveUpAfter)
                        holdAt = holdAt is { } held && held < created ? held : created;
                    if (created > newest) newest = created;
                }
                cursor = page.NextCursor;
            } while (cursor is not null && pages < MaxPages);
        }
        catch (FathomException e)
        {
            // Nothing taken in is lost (each landed recording is in fathom_recordings); the mark stays, so the next run reads them again, from
            // the page that failed. A saved cursor Fathom refuses (not a transient failure) may have expired: the next run starts again from the mark.
            var keep = cursor is null || (resumed is not null && pages == 0 && !e.IsTransient) ? null : new Scan(cursor, since, newest, holdAt);
            logger.LogWarning("The Fathom pull stopped after {Pages} page(s): {Reason} The mark stays at {Mark:O}; the next run (in 15 minutes) tries again " +
                              "{Where}", pages, e.Message, mark, keep is null ? "from the mark" : "from the page that failed");
            await SaveAsync(mark, keep, now, e.Message, cancellationToken);
            return Run(pages, outcomes, failed, 0, complete: false);
        }
        if (cursor is not null)
        {
            logger.LogWarning("The Fathom pull read its {MaxPages} pages and stopped with more to come; the next run goes on from there", MaxPages);
            await SaveAsync(mark, new Scan(cursor, since, newest, holdAt), now, null, cancellationToken);
            return Run(pages, outcomes, failed, 0, complete: false);
        }

        var moved = holdAt is { } hold && hold < newest ? hold : newest;
        await SaveAsync(moved > mark ? moved : mark, null, now, null, cancellationToken);
        var unmatchedLanded = await recordings.RetryUnmatchedAsync(RetryUnmatchedFor, cancellationToken);
        var run = Run(pages, outcomes, failed, unmatchedLanded, complete: true);
        logger.LogInformation("Fathom pull: {Run}", run);
        return run;
    }

    static FathomPullRun Run(int pages, Dictionary<FathomLanding, int> outcomes, int failed, int unmatchedLanded, bool complete) =>
        new(pages, outcomes[FathomLanding.Landed], outcomes[FathomLanding.AlreadyLanded], outcomes[FathomLanding.Unmatched], outcomes[FathomLanding.NotReady],
            failed, unmatchedLanded, complete);

    async Task SaveAsync(DateTimeOffset mark, Scan? scan, DateTimeOffset now, string? error, CancellationToken cancellationToken)
    {
        error = error?[..Math.Min(error.Length, 1000)];
        await using var db = system.Open("record the Fathom pull's mark");
        await db.Database.ExecuteSqlAsync($"""
            INSERT INTO fathom_sync (id, created_after, last_run_at, last_error, scan_cursor, scan_since, scan_newest, scan_hold)
            VALUES (1, {mark}, {now}, {error}, {scan?.Cursor}, {scan?.Since}, {scan?.Newest}, {scan?.Hold})
            ON CONFLICT (id) DO UPDATE SET created_after = excluded.created_after, last_run_at = excluded.last_run_at, last_error = excluded.last_error,
                scan_cursor = excluded.scan_cursor, scan_since = excluded.scan_since, scan_newest = excluded.scan_newest, scan_hold = excluded.scan_hold
            """, CancellationToken.None);
    }
}

/// <summary>Quartz's handle on the Fathom pull: every 15 minutes, on whichever replica the cluster picks, never two at once.</summary>
[DisallowConcurrentExecution]
public sealed class FathomPullJob(FathomPull pull) : IJob
{
    public const string Name = "fathom-pull";

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken) => await pull.RunAsync(cancellationToken);
}
