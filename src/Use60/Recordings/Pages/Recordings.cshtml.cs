using System.Globalization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Use60.Admin;
using Use60.Data;
using Use60.Security;

namespace Use60.Recordings.Pages;

/// <summary>
/// Recordings (/admin/recordings): the org's notetaker recordings, newest first — the meeting, the rep, the bot's status, the
/// consent it was sent under, and whether its media is kept in the store — with "Retry now" for a copy that failed (audited).
/// Row-level security: the org's owners and admins see every rep's recordings.
/// </summary>
public sealed class RecordingsModel(Use60Db db, SystemDb system, SecurityAudit audit, IRecordingUploadKick uploads, RecordingLinks links, TimeProvider clock)
    : PageModel
{
    public const string PagePath = "/admin/recordings";
    public const int Shown = 100;

    /// <summary>A recording, its rep, and its 15-minute playback links when its media is kept.</summary>
    public sealed record Line(Recording Recording, string Rep, RecordingPlayback? Playback = null);

    public IReadOnlyList<Line> Lines { get; private set; } = [];

    [TempData]
    public string? Notice { get; set; }

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        Lines = await (from r in db.Recordings.AsNoTracking()
                       join u in db.Users.AsNoTracking() on r.UserId equals u.Id
                       orderby r.CreatedAt descending
                       select new Line(r, u.Name, null)).Take(Shown).ToListAsync(cancellationToken);
        // Links only for what the tenant-scoped query above returned (row-level security: this org, an owner or admin), made
        // now and good for 15 minutes; the bucket itself stays private.
        Lines = [.. Lines.Select(line => line with { Playback = links.For(line.Recording) })];
        AllowImagesFrom(Lines.Select(line => line.Playback?.Thumbnail));
    }

    /// <summary>The thumbnails come from the store (a bucket's own address, usually): the page's CSP lets images come from there too.</summary>
    void AllowImagesFrom(IEnumerable<Uri?> images)
    {
        var origins = images.OfType<Uri>().Select(uri => uri.GetLeftPart(UriPartial.Authority)).Distinct()
            .Where(origin => origin != $"{Request.Scheme}://{Request.Host}").ToList();
        var policy = Response.Headers.ContentSecurityPolicy.ToString();
        if (origins.Count == 0 || policy.Length == 0) return;
        Response.Headers.ContentSecurityPolicy = string.Join("; ", policy.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(directive => directive.StartsWith("img-src ", StringComparison.Ordinal) ? $"{directive} {string.Join(' ', origins)}" : directive));
    }

    public async Task<IActionResult> OnPostRetryAsync([FromForm] Guid recordingId, CancellationToken cancellationToken)
    {
        var (orgId, userId) = AdminClaims.Signed(User);
        // Seen through the admin's own tenant scope first: a recording of another org is "not found", whatever id is posted.
        var recording = await db.Recordings.AsNoTracking().SingleOrDefaultAsync(r => r.Id == recordingId, cancellationToken);
        if (recording is null)
        {
            Notice = "There is no such recording.";
            return RedirectToPage();
        }
        // Only the rep writes their recordings (row-level security); the retry is the system's, on the admin's word, and audited.
        bool retried;
        await using (var writes = system.Open("retry a recording's copy into the store for an admin"))
            retried = await RecordingUploads.RetryNowAsync(writes, recording.Id, clock.GetUtcNow(), cancellationToken);
        if (!retried)
        {
            Notice = $"The recording of {Title(recording)} is not waiting for a copy (it is {Describe(recording.S3UploadStatus)}).";
            return RedirectToPage();
        }
        audit.Record(db, AuditEvents.RecordingUploadRetried, AuditSeverity.Low, orgId, userId,
            new { recording = recording.Id, before = SnakeCase.ValueOf(recording.S3UploadStatus), error = recording.UploadError }, HttpContext);
        await db.SaveChangesAsync(cancellationToken);
        uploads.Kick(recording.Id);
        Notice = $"The recording of {Title(recording)} will be copied again in a moment; reload to see how it went.";
        return RedirectToPage();
    }

    public static string Title(Recording recording) => recording.Title is { Length: > 0 } title ? title : recording.MeetingUrl;

    public static string Describe(S3UploadStatus status) => status switch
    {
        S3UploadStatus.None => "not ready yet",
        S3UploadStatus.Pending => "waiting to be copied",
        S3UploadStatus.Uploading => "being copied",
        S3UploadStatus.Complete => "kept",
        _ => "not kept",
    };

    public static string When(DateTimeOffset? at) => at?.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture) ?? "—";

    public static string Size(long? bytes) => bytes is { } b ? (b / 1024d / 1024d).ToString("0.0 'MB'", CultureInfo.InvariantCulture) : "—";
}
