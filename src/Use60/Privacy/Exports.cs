using System.ComponentModel.DataAnnotations.Schema;
using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Quartz;
using Use60.Calendar;
using Use60.Copilot;
using Use60.Crm;
using Use60.Data;
using Use60.Hosting;
using Use60.Orgs;
using Use60.Recordings;
using Use60.Security;
using Use60.Slack;

namespace Use60.Privacy;

public enum ExportKind { Person, Org, Conversations }

public enum ExportStatus { Queued, Running, Ready, Downloaded, Expired, Failed }

/// <summary>An export (migration 0026): a ZIP of JSON and CSV in the store, downloaded once through a link within 24 hours of being ready.</summary>
[Table("privacy_exports")]
public sealed class PrivacyExport : IOrgOwned
{
    public Guid Id { get; set; } = Guid.CreateVersion7();
    public Guid OrgId { get; set; }
    public ExportKind Kind { get; set; }

    /// <summary>A person export's email; cleared once it is downloaded, expired or failed.</summary>
    public string? SubjectEmail { get; set; }

    public Guid? PrivacyRequestId { get; set; }
    public Guid RequestedBy { get; set; }
    public DateTimeOffset RequestedAt { get; set; }
    public ExportStatus Status { get; set; }
    public DateTimeOffset? LeaseUntil { get; set; }
    public DateTimeOffset? StartedAt { get; set; }
    public int RowsDone { get; set; }
    public int? RowsTotal { get; set; }
    public DateTimeOffset? ReadyAt { get; set; }
    public DateTimeOffset? ExpiresAt { get; set; }
    public string? ObjectKey { get; set; }
    public long? Bytes { get; set; }
    public byte[]? TokenHash { get; set; }
    public DateTimeOffset? DownloadedAt { get; set; }
    public string? Error { get; set; }
}

/// <summary>The 11th conversation export within an hour: refused until <see cref="RetryAt"/>.</summary>
public sealed class ExportRefusedException(DateTimeOffset retryAt, string message) : Exception(message)
{
    public DateTimeOffset RetryAt { get; } = retryAt;
}

/// <summary>
/// Exports (GDPR access and portability): made for a person's email (an access or portability request), for the whole org's CRM data
/// (an owner or admin), or of a user's own copilot conversations (/sixty export, at most 10 an hour). The privacy-exports job claims
/// each queued one and streams its ZIP into the store (<see cref="ExportArchive"/>); the download link's token is kept as its hash only,
/// works once, and expires 24 hours after the export is ready; the object is deleted once downloaded or expired. Every export made,
/// refused and downloaded is audited.
/// </summary>
public sealed class PrivacyExports(SystemDb system, IRecordingStore store, OrgKeyring keyring, SecurityAudit audit, SlackOutbox outbox,
    IOptions<Use60Options> host, IExportKick kick, TimeProvider clock, ILogger<PrivacyExports> logger)
{
    public static readonly TimeSpan LinkLifetime = TimeSpan.FromHours(24);

    /// <summary>The seeds' limit on conversation exports.</summary>
    public const int ConversationExportsPerHour = 10;

    /// <summary>How long a replica has a claimed export to itself before another may take it over.</summary>
    public static readonly TimeSpan Lease = TimeSpan.FromMinutes(30);

    public const string DownloadPath = "/exports/";

    public static string KeyFor(Guid orgId, Guid exportId) => $"exports/{orgId:D}/{exportId:D}.zip";

    /// <summary>A person export for an access or portability request (the caller saves, with the request, in one SaveChanges).</summary>
    public PrivacyExport AddForRequest(Use60Db db, PrivacyRequest request, HttpContext? http)
    {
        var export = new PrivacyExport
        {
            OrgId = request.OrgId, Kind = ExportKind.Person, SubjectEmail = request.SubjectEmail, PrivacyRequestId = request.Id,
            RequestedBy = request.RequestedBy, RequestedAt = clock.GetUtcNow(), Status = ExportStatus.Queued,
        };
        db.PrivacyExports.Add(export);
        audit.Record(db, AuditEvents.ExportCreated, AuditSeverity.Medium, export.OrgId, export.RequestedBy,
            new { export = export.Id, kind = SnakeCase.ValueOf(export.Kind), request = request.Id }, http);
        return export;
    }

    /// <summary>An export of the whole org's CRM data, by an owner or admin (row-level security refuses anyone else).</summary>
    public async Task<PrivacyExport> CreateOrgExportAsync(Use60Db db, HttpContext? http, CancellationToken cancellationToken)
    {
        var export = new PrivacyExport
        {
            OrgId = db.Tenant.OrgId!.Value, Kind = ExportKind.Org, RequestedBy = db.Tenant.UserId!.Value, RequestedAt = clock.GetUtcNow(),
            Status = ExportStatus.Queued,
        };
        db.PrivacyExports.Add(export);
        audit.Record(db, AuditEvents.ExportCreated, AuditSeverity.High, export.OrgId, export.RequestedBy,
            new { export = export.Id, kind = SnakeCase.ValueOf(export.Kind) }, http);
        await db.SaveChangesAsync(cancellationToken);
        kick.Kick(export.Id);
        return export;
    }

    /// <summary>
    /// An export of the caller's own copilot conversations. The 11th within an hour is refused (audited) with the time the oldest of the
    /// ten leaves the hour; an accepted one is recorded as <see cref="AuditEvents.ConversationExported"/>.
    /// </summary>
    public async Task<PrivacyExport> CreateConversationExportAsync(Use60Db db, HttpContext? http, CancellationToken cancellationToken)
    {
        var (orgId, me) = (db.Tenant.OrgId!.Value, db.Tenant.UserId!.Value);
        var now = clock.GetUtcNow();
        var recent = await db.PrivacyExports.Where(e => e.Kind == ExportKind.Conversations && e.RequestedBy == me && e.RequestedAt > now.AddHours(-1))
            .OrderByDescending(e => e.RequestedAt).Select(e => e.RequestedAt).Take(ConversationExportsPerHour).ToListAsync(cancellationToken);
        if (recent.Count >= ConversationExportsPerHour)
        {
            var retryAt = recent[^1].AddHours(1);
            audit.Record(db, AuditEvents.ExportRefused, AuditSeverity.Medium, orgId, me,
                new { kind = SnakeCase.ValueOf(ExportKind.Conversations), limit = ConversationExportsPerHour, retry_at = retryAt }, http);
            await db.SaveChangesAsync(cancellationToken);
            var zone = (await db.Users.AsNoTracking().Where(u => u.Id == me).Select(u => u.TimeZone).SingleOrDefaultAsync(cancellationToken)) ?? "UTC";
            var local = TimeZoneInfo.ConvertTime(retryAt, Use60.Orgs.TimeZones.Find(zone));
            throw new ExportRefusedException(retryAt,
                $"You've made {ConversationExportsPerHour} conversation exports in the last hour, the most allowed. You can try again at {local:HH:mm} ({zone}).");
        }
        var export = new PrivacyExport
        {
            OrgId = orgId, Kind = ExportKind.Conversations, RequestedBy = me, RequestedAt = now, Status = ExportStatus.Queued,
        };
        db.PrivacyExports.Add(export);
        audit.Record(db, AuditEvents.ExportCreated, AuditSeverity.Low, orgId, me, new { export = export.Id, kind = SnakeCase.ValueOf(export.Kind) }, http);
        audit.Record(db, AuditEvents.ConversationExported, AuditSeverity.Low, orgId, me, new { export = export.Id }, http);
        await db.SaveChangesAsync(cancellationToken);
        kick.Kick(export.Id);
        return export;
    }

    /// <summary>
    /// A fresh one-time link to a ready export (any earlier link stops working): the token is returned once and only its hash kept.
    /// Null when the export is not ready or no longer downloadable. Works on exports <paramref name="db"/>'s tenant may see.
    /// </summary>
    public async Task<Uri?> MakeLinkAsync(Use60Db db, Guid exportId, CancellationToken cancellationToken)
    {
        var token = NewToken();
        var now = clock.GetUtcNow();
        var changed = await db.PrivacyExports.Where(e => e.Id == exportId && e.Status == ExportStatus.Ready && e.ExpiresAt > now)
            .ExecuteUpdateAsync(e => e.SetProperty(x => x.TokenHash, Hash(token)), cancellationToken);
        return changed == 1 ? LinkFor(token) : null;
    }

    Uri LinkFor(string token) => new(host.Value.PublicUri, DownloadPath.TrimStart('/') + token);

    static string NewToken() => System.Buffers.Text.Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));

    static byte[] Hash(string token) => SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(token));

    /// <summary>The privacy-exports job: expired exports' objects deleted, then every queued export written, one at a time.</summary>
    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        await ExpireAsync(cancellationToken);
        var made = 0;
        while (await ClaimAsync(cancellationToken) is { } export)
            if (await MakeAsync(export, cancellationToken)) made++;
        return made;
    }

    async Task<PrivacyExport?> ClaimAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        await using var db = system.Open("claim an export to write");
        var claimed = await db.PrivacyExports.FromSql($"""
            UPDATE privacy_exports SET status = 'running', lease_until = {now + Lease}, started_at = {now}, rows_done = 0
            WHERE id = (SELECT id FROM privacy_exports
                        WHERE status = 'queued' OR (status = 'running' AND lease_until <= {now})
                        ORDER BY requested_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING *
            """).AsNoTracking().ToListAsync(cancellationToken);
        return claimed.SingleOrDefault();
    }

    async Task<bool> MakeAsync(PrivacyExport export, CancellationToken cancellationToken)
    {
        var key = KeyFor(export.OrgId, export.Id);
        try
        {
            // Contacts' email, phone and LinkedIn are sealed at rest: EF opens them with the org's keys once these are loaded.
            await keyring.GetAsync(export.OrgId, create: false, cancellationToken);
            var tables = await TablesAsync(export, cancellationToken);
            int total;
            await using (var db = system.Open("count an export's rows"))
            {
                total = 0;
                foreach (var table in tables) total += await table.CountAsync(db, cancellationToken);
                await db.PrivacyExports.Where(e => e.Id == export.Id).ExecuteUpdateAsync(e => e.SetProperty(x => x.RowsTotal, total), cancellationToken);
            }
            await using var progressDb = system.Open("record an export's progress");
            var bytes = await ExportArchive.UploadAsync(store, key, () => system.Open("read an export's rows"), tables,
                async done => await progressDb.PrivacyExports.Where(e => e.Id == export.Id)
                    .ExecuteUpdateAsync(e => e.SetProperty(x => x.RowsDone, done), cancellationToken), cancellationToken);
            await FinishAsync(export, key, bytes, total, cancellationToken);
            logger.LogInformation("Export {ExportId} ({Kind}) of org {OrgId} is ready: {Rows} rows, {Bytes} bytes", export.Id, export.Kind, export.OrgId, total, bytes);
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            logger.LogError(e, "Export {ExportId} of org {OrgId} failed", export.Id, export.OrgId);
            var error = RecordingUpload.Describe(e);
            await using var db = system.Open("record a failed export");
            await db.PrivacyExports.Where(x => x.Id == export.Id).ExecuteUpdateAsync(x => x.SetProperty(p => p.Status, ExportStatus.Failed)
                .SetProperty(p => p.SubjectEmail, (string?)null).SetProperty(p => p.LeaseUntil, (DateTimeOffset?)null)
                .SetProperty(p => p.Error, error[..Math.Min(error.Length, 500)]), cancellationToken);
            // The request is closed (it keeps no address), so a new one can be made for the person.
            if (export.PrivacyRequestId is { } requestId)
            {
                var result = System.Text.Json.JsonSerializer.Serialize(new { export = export.Id, failed = true }, DbJson.Options);
                var now = clock.GetUtcNow();
                await db.PrivacyRequests.Where(r => r.Id == requestId && r.Status == PrivacyRequestStatus.Pending).ExecuteUpdateAsync(r => r
                    .SetProperty(x => x.Status, PrivacyRequestStatus.Completed).SetProperty(x => x.CompletedAt, now)
                    .SetProperty(x => x.SubjectEmail, (string?)null).SetProperty(x => x.Result, result)
                    .SetProperty(x => x.Error, error[..Math.Min(error.Length, 500)]), cancellationToken);
            }
            return false;
        }
    }

    /// <summary>Ready: for a conversation export the rep is sent the link at once; a person export completes its privacy request.</summary>
    async Task FinishAsync(PrivacyExport export, string key, long bytes, int total, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var token = export.Kind == ExportKind.Conversations ? NewToken() : null;
        await using var db = system.Open("record a finished export");
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        await db.PrivacyExports.Where(e => e.Id == export.Id).ExecuteUpdateAsync(e => e.SetProperty(x => x.Status, ExportStatus.Ready)
            .SetProperty(x => x.ReadyAt, now).SetProperty(x => x.ExpiresAt, now + LinkLifetime).SetProperty(x => x.ObjectKey, key)
            .SetProperty(x => x.Bytes, bytes).SetProperty(x => x.RowsDone, total).SetProperty(x => x.LeaseUntil, (DateTimeOffset?)null)
            .SetProperty(x => x.Error, (string?)null).SetProperty(x => x.TokenHash, token is null ? null : Hash(token)), cancellationToken);
        if (export.PrivacyRequestId is { } requestId)
        {
            var result = System.Text.Json.JsonSerializer.Serialize(new { export = export.Id, rows = total }, DbJson.Options);
            await db.PrivacyRequests.Where(r => r.Id == requestId && r.Status == PrivacyRequestStatus.Pending).ExecuteUpdateAsync(r => r
                .SetProperty(x => x.Status, PrivacyRequestStatus.Completed).SetProperty(x => x.CompletedAt, now)
                .SetProperty(x => x.SubjectEmail, (string?)null).SetProperty(x => x.Result, result), cancellationToken);
        }
        if (token is not null)
        {
            var link = LinkFor(token);
            var text = $":package: Your copilot conversations are ready: <{link}|download the export> (a ZIP of JSON and CSV). " +
                       $"The link works once, until {(now + LinkLifetime):d MMM HH:mm} UTC.";
            outbox.Add(db, OutboxDraft.Dm(export.OrgId, export.RequestedBy, new SlackMessage(text), "conversation export " + export.Id));
            await db.SaveChangesAsync(cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>What goes in each kind of export, read as the system and limited to the export's org (and person, or user).</summary>
    async Task<IReadOnlyList<ExportTable>> TablesAsync(PrivacyExport export, CancellationToken cancellationToken)
    {
        var orgId = export.OrgId;
        switch (export.Kind)
        {
            case ExportKind.Org:
                return
                [
                    ExportTable.Of("companies", db => db.Companies.Where(x => x.OrgId == orgId), x => x.Id),
                    ExportTable.Of("contacts", db => db.Contacts.Where(x => x.OrgId == orgId), x => x.Id),
                    ExportTable.Of("deals", db => db.Deals.Where(x => x.OrgId == orgId), x => x.Id),
                    ExportTable.Of("activities", db => db.Activities.Where(x => x.OrgId == orgId), x => x.Id),
                    ExportTable.Of("tasks", db => db.Tasks.Where(x => x.OrgId == orgId), x => x.Id),
                    ExportTable.Of("meetings", db => db.Meetings.Where(x => x.OrgId == orgId), x => x.Id),
                    ExportTable.Of("calendar_events", db => db.CalendarEvents.Where(x => x.OrgId == orgId), x => x.Id),
                ];
            case ExportKind.Conversations:
                var userId = export.RequestedBy;
                return
                [
                    ExportTable.Of("conversations", db => db.Conversations.Where(x => x.OrgId == orgId && x.UserId == userId), x => x.Id),
                    ExportTable.Of("messages", db => db.ConversationMessages.Where(x => x.OrgId == orgId && x.UserId == userId), x => x.Id),
                ];
            default:
                var email = OrgKeys.Normalise(export.SubjectEmail!);
                Guid[] contacts, events;
                await using (var db = system.Open("find the person an export is about"))
                {
                    var hash = await keyring.BlindIndexAsync(orgId, email, cancellationToken);
                    contacts = hash is null ? [] : [.. await db.Contacts.Where(c => c.OrgId == orgId && c.EmailHash == hash).Select(c => c.Id).ToListAsync(cancellationToken)];
                    events = [.. await db.Database.SqlQuery<Guid>($"""
                        SELECT e.id AS "Value" FROM calendar_events e
                        WHERE e.org_id = {orgId} AND EXISTS (SELECT 1 FROM jsonb_array_elements(e.attendees) a WHERE lower(a ->> 'email') = {email})
                        """).ToListAsync(cancellationToken)];
                }
                return
                [
                    ExportTable.Of("contacts", db => db.Contacts.Where(x => x.OrgId == orgId && contacts.Contains(x.Id)), x => x.Id),
                    ExportTable.Of("activities", db => db.Activities.Where(x => x.OrgId == orgId && x.ContactId != null && contacts.Contains(x.ContactId.Value)), x => x.Id),
                    ExportTable.Of("tasks", db => db.Tasks.Where(x => x.OrgId == orgId && x.ContactId != null && contacts.Contains(x.ContactId.Value)), x => x.Id),
                    ExportTable.Of("deals", db => db.Deals.Where(x => x.OrgId == orgId && x.PrimaryContactId != null && contacts.Contains(x.PrimaryContactId.Value)), x => x.Id),
                    ExportTable.Of("calendar_events", db => db.CalendarEvents.Where(x => x.OrgId == orgId && events.Contains(x.Id)), x => x.Id),
                    ExportTable.Of("meetings", db => db.Meetings.Where(x => x.OrgId == orgId && x.CalendarEventId != null && events.Contains(x.CalendarEventId.Value)), x => x.Id),
                    ExportTable.Of("emails", db => db.OutboundEmails.Where(x => x.OrgId == orgId
                        && ((x.ContactId != null && contacts.Contains(x.ContactId.Value)) || x.ToAddress.ToLower() == email)), x => x.Id),
                ];
        }
    }

    /// <summary>Ready exports past their 24 hours: the object is deleted and the export says it expired.</summary>
    async Task ExpireAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        await using var db = system.Open("expire exports past their 24 hours");
        var expired = await db.PrivacyExports.AsNoTracking().Where(e => e.Status == ExportStatus.Ready && e.ExpiresAt <= now)
            .Select(e => new { e.Id, e.ObjectKey }).ToListAsync(cancellationToken);
        foreach (var export in expired)
        {
            if (export.ObjectKey is { } key) await store.DeleteAsync(key, cancellationToken);
            await db.PrivacyExports.Where(e => e.Id == export.Id && e.Status == ExportStatus.Ready).ExecuteUpdateAsync(e => e
                .SetProperty(x => x.Status, ExportStatus.Expired).SetProperty(x => x.TokenHash, (byte[]?)null)
                .SetProperty(x => x.SubjectEmail, (string?)null), cancellationToken);
        }
    }

    /// <summary>
    /// GET /exports/{token}: the export's ZIP, once. The token's hash is looked up and compared in constant time; the export is marked
    /// downloaded before the first byte goes out (so a second request gets nothing even while the first is still streaming), audited,
    /// streamed from the store, and the object deleted. A used, expired or unknown link gets a page that says so.
    /// </summary>
    public async Task<IResult> DownloadAsync(string token, HttpContext http, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        if (token.Length is < 20 or > 100) return Gone("This download link isn't valid.");
        var hash = Hash(token);
        await using var db = system.Open("download an export by its link");
        var export = await db.PrivacyExports.AsNoTracking().SingleOrDefaultAsync(e => e.TokenHash == hash, cancellationToken);
        if (export?.TokenHash is not { } stored || !CryptographicOperations.FixedTimeEquals(stored, hash))
        {
            return Gone("This download link isn't valid, or it was already used: each link works once. Ask for a new export.");
        }
        if (export.Status != ExportStatus.Ready || export.ExpiresAt <= now || export.ObjectKey is not { } key)
            return Gone(export.Status == ExportStatus.Downloaded
                ? "This export was already downloaded: each link works once. Ask for a new export."
                : $"This link expired: exports can be downloaded for {LinkLifetime.TotalHours:0} hours after they are ready. Ask for a new export.");
        // Claimed once: the token's hash goes with the claim, so the link can never work again.
        var claimed = await db.PrivacyExports.Where(e => e.Id == export.Id && e.Status == ExportStatus.Ready && e.TokenHash == hash && e.ExpiresAt > now)
            .ExecuteUpdateAsync(e => e.SetProperty(x => x.Status, ExportStatus.Downloaded).SetProperty(x => x.DownloadedAt, now)
                .SetProperty(x => x.TokenHash, (byte[]?)null).SetProperty(x => x.SubjectEmail, (string?)null), cancellationToken);
        if (claimed != 1) return Gone("This export was already downloaded: each link works once. Ask for a new export.");
        audit.Record(db, AuditEvents.ExportDownloaded, AuditSeverity.Medium, export.OrgId, export.RequestedBy,
            new { export = export.Id, kind = SnakeCase.ValueOf(export.Kind), bytes = export.Bytes }, http);
        await db.SaveChangesAsync(cancellationToken);
        var body = await store.OpenReadAsync(key, cancellationToken);
        if (body is null) return Gone("This export's file is no longer kept. Ask for a new export.");
        return new ExportDownloadResult(body, $"use60-{SnakeCase.ValueOf(export.Kind)}-export-{export.ReadyAt:yyyy-MM-dd}.zip", export.Bytes,
            async () =>
            {
                try { await store.DeleteAsync(key, CancellationToken.None); }
                catch (Exception e) { logger.LogWarning(e, "Export {ExportId} was downloaded but its object could not be deleted yet", export.Id); }
            });
    }

    static IResult Gone(string message) => Results.Content($"""
        <!doctype html><html lang="en"><head><meta charset="utf-8"><title>Export not available · use60</title></head>
        <body><main><h1>Export not available</h1><p data-field="reason">{System.Net.WebUtility.HtmlEncode(message)}</p></main></body></html>
        """, "text/html; charset=utf-8", statusCode: StatusCodes.Status410Gone);
}

/// <summary>Streams the ZIP to the browser, then deletes the stored object (downloaded once, kept no longer).</summary>
sealed class ExportDownloadResult(Stream body, string fileName, long? length, Func<Task> afterwards) : IResult
{
    public async Task ExecuteAsync(HttpContext http)
    {
        try
        {
            await using (body)
            {
                http.Response.ContentType = "application/zip";
                http.Response.Headers.ContentDisposition = $"attachment; filename=\"{fileName}\"";
                http.Response.Headers.CacheControl = "no-store";
                if (length is { } bytes) http.Response.ContentLength = bytes;
                await body.CopyToAsync(http.Response.Body, http.RequestAborted);
            }
        }
        finally
        {
            // Also when the download broke off: the link is spent, so nothing could fetch the file again.
            await afterwards();
        }
    }
}

public interface IExportKick
{
    void Kick(Guid exportId);
}

/// <summary>Every minute, and at once when an export is asked for (<see cref="IExportKick"/>).</summary>
[DisallowConcurrentExecution]
public sealed class PrivacyExportJob(PrivacyExports exports) : IJob
{
    public const string Name = "privacy-exports";

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken) => await exports.RunAsync(cancellationToken);
}

/// <summary>Starts the export job now rather than at its next firing (the every-minute schedule still makes the export if that fails).</summary>
sealed class ExportKick(Proactive.JobTrigger jobs) : IExportKick
{
    public void Kick(Guid exportId) => jobs.Now(PrivacyExportJob.Name, $"export {exportId}");
}

public static class PrivacyExportEndpoints
{
    /// <summary>GET /exports/{token}: the one-time download (the token is the credential, as with a signed link).</summary>
    public static IEndpointRouteBuilder MapPrivacyExports(this IEndpointRouteBuilder app)
    {
        app.MapGet(PrivacyExports.DownloadPath + "{token}", (string token, HttpContext http, PrivacyExports exports) =>
            exports.DownloadAsync(token, http, http.RequestAborted)).AllowAnonymous();
        return app;
    }
}
