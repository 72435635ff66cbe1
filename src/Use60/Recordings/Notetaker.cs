using Microsoft.EntityFrameworkCore;
using Use60.Data;
using Use60.Security;
using Use60.Slack;

namespace Use60.Recordings;

/// <summary>Told when a recording's media is ready to copy into the store, so the upload queue can start now rather than on its next run.</summary>
public interface IRecordingUploadKick
{
    void Kick(Guid recordingId);
}

public enum DeployOutcome { Sent, Retrying, Failed, Cancelled, NotMine }

public enum DontRecordOutcome { NotFound, Marked, BotCalledBack, BotStillOut }

/// <summary>
/// One rep's notetaker bots, in their own tenant scope: claiming a meeting (one bot per meeting, whatever replicas do), sending
/// the bot, moving or cancelling it, what MeetingBaaS reports back, and telling the rep once when it fails. Each recording's
/// consent basis is written to the audit log with it.
/// </summary>
public sealed class Notetaker(Use60Db db, MeetingBaasClient baas, SecurityAudit audit, SlackOutbox outbox, IRecordingUploadKick uploads,
    ILogger<Notetaker> logger)
{
    /// <summary>The provider's media links expire this long after they arrive.</summary>
    public static readonly TimeSpan SourceUrlLifetime = TimeSpan.FromHours(4);

    /// <summary>How long one replica has a bot to itself while it sends it (MeetingBaaS answers within the HTTP client's 30 s).</summary>
    static readonly TimeSpan DeployLease = TimeSpan.FromMinutes(1);

    /// <summary>A MeetingBaaS that is down or busy is asked again on the next run, this many times in all.</summary>
    public const int MaxDeployAttempts = 3;

    const int MaxReason = 500;

    static readonly RecordingStatus[] Live = [RecordingStatus.Scheduled, RecordingStatus.Joining, RecordingStatus.Joined];

    /// <summary>
    /// Claims the meeting for a bot: one statement that inserts the recording unless the meeting (or its link) already has a live bot,
    /// with its consent in the audit log. Null when another run, replica or rep got there first.
    /// </summary>
    public async Task<Recording?> ClaimAsync(Recording claim, CancellationToken cancellationToken)
    {
        var c = claim;
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var inserted = await db.Database.SqlQuery<Guid>($"""
            INSERT INTO recordings (id, org_id, user_id, calendar_event_id, source, title, meeting_url, meeting_key, platform, bot_name, chat_notice,
                                    status, consent_basis, consent_recorded_at, join_at, created_at, updated_at)
            VALUES ({c.Id}, {c.OrgId}, {c.UserId}, {c.CalendarEventId}, {SnakeCase.ValueOf(c.Source)}, {c.Title}, {c.MeetingUrl}, {c.MeetingKey},
                    {SnakeCase.ValueOf(c.Platform)}, {c.BotName}, {c.ChatNotice}, 'scheduled', {SnakeCase.ValueOf(c.ConsentBasis)}, {c.ConsentRecordedAt},
                    {c.JoinAt}, {c.ConsentRecordedAt}, {c.ConsentRecordedAt})
            ON CONFLICT DO NOTHING
            RETURNING id AS "Value"
            """).ToListAsync(cancellationToken);
        if (inserted.Count == 0) return null;
        audit.Record(db, AuditEvents.RecordingConsent, AuditSeverity.Info, c.OrgId, c.UserId, new
        {
            recording_id = c.Id, consent_basis = SnakeCase.ValueOf(c.ConsentBasis), source = SnakeCase.ValueOf(c.Source), calendar_event_id = c.CalendarEventId,
            platform = SnakeCase.ValueOf(c.Platform), bot_name = c.BotName,
        });
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        logger.LogInformation("Recording {RecordingId} claimed for user {UserId} ({Source}, consent {Consent})", c.Id, c.UserId, c.Source, c.ConsentBasis);
        return c;
    }

    /// <summary>
    /// Sends the bot of a claimed recording, if no other replica is already sending it. A MeetingBaaS that is down or busy is asked again
    /// on the next run (<paramref name="retryLater"/>), up to <see cref="MaxDeployAttempts"/> times; otherwise the recording fails and the
    /// rep is told (by DM, unless <paramref name="tellRep"/> is false because the caller answers them itself).
    /// </summary>
    public async Task<(DeployOutcome Outcome, string? Reason)> DeployAsync(Guid recordingId, DateTimeOffset now, bool retryLater, bool tellRep,
        CancellationToken cancellationToken)
    {
        var leased = await db.Recordings.FromSql($"""
            UPDATE recordings SET deploy_lease_until = {now + DeployLease}, deploy_attempts = deploy_attempts + 1, updated_at = {now}
            WHERE id = {recordingId} AND status = 'scheduled' AND bot_id IS NULL AND (deploy_lease_until IS NULL OR deploy_lease_until <= {now})
            RETURNING *
            """).AsNoTracking().ToListAsync(cancellationToken);
        if (leased is not [var recording]) return (DeployOutcome.NotMine, null);

        string botId;
        bool scheduled;
        try
        {
            (botId, scheduled) = await baas.DeployAsync(new BotOrder(recording.MeetingUrl, recording.BotName, recording.ChatNotice, recording.JoinAt, recording.Id),
                now, cancellationToken);
        }
        catch (MeetingBaasException e)
        {
            if (retryLater && e.IsTransient && recording.DeployAttempts < MaxDeployAttempts)
            {
                await db.Recordings.Where(r => r.Id == recordingId && r.BotId == null).ExecuteUpdateAsync(s => s
                    .SetProperty(r => r.FailureReason, Bounded(e.Message)).SetProperty(r => r.UpdatedAt, now), cancellationToken);
                logger.LogWarning("Recording {RecordingId}: the bot could not be sent (attempt {Attempt}); trying again on the next run: {Reason}",
                    recordingId, recording.DeployAttempts, e.Message);
                return (DeployOutcome.Retrying, e.Message);
            }
            await FailAsync(recordingId, e.Message, now, tellRep, cancellationToken);
            return (DeployOutcome.Failed, e.Message);
        }

        var status = scheduled ? RecordingStatus.Scheduled : RecordingStatus.Joining;
        var stored = await db.Recordings.Where(r => r.Id == recordingId && r.Status == RecordingStatus.Scheduled && r.BotId == null)
            .ExecuteUpdateAsync(s => s.SetProperty(r => r.BotId, botId).SetProperty(r => r.Status, status).SetProperty(r => r.DeployLeaseUntil, (DateTimeOffset?)null)
                .SetProperty(r => r.FailureReason, (string?)null).SetProperty(r => r.UpdatedAt, now), cancellationToken);
        if (stored == 0)
        {
            // Cancelled (the rep said don't record) while MeetingBaaS was being asked: take the bot straight back.
            await baas.RemoveAsync(botId, scheduled, cancellationToken);
            logger.LogInformation("Recording {RecordingId} was cancelled while its bot was being sent; bot {BotId} called back", recordingId, botId);
            return (DeployOutcome.Cancelled, recording.CancelledReason);
        }
        logger.LogInformation("Recording {RecordingId}: bot {BotId} sent ({When})", recordingId, botId, scheduled ? $"joins at {recording.JoinAt:o}" : "joining now");
        return (DeployOutcome.Sent, null);
    }

    /// <summary>
    /// Takes a live bot back and marks the recording cancelled (audited with the reason). MeetingBaaS is asked first, so a bot that
    /// could not be called back stays on the books, and is tried again, rather than being forgotten while it records.
    /// </summary>
    public async Task<bool> CancelAsync(Recording recording, string reason, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (recording.BotId is { } botId) await baas.RemoveAsync(botId, recording.Status == RecordingStatus.Scheduled, cancellationToken);
        var cancelled = await db.Recordings.Where(r => r.Id == recording.Id && Live.Contains(r.Status)).ExecuteUpdateAsync(s => s
            .SetProperty(r => r.Status, RecordingStatus.Cancelled).SetProperty(r => r.CancelledReason, Bounded(reason))
            .SetProperty(r => r.DeployLeaseUntil, (DateTimeOffset?)null).SetProperty(r => r.UpdatedAt, now), cancellationToken);
        if (cancelled == 0) return false;
        audit.Record(db, AuditEvents.RecordingCancelled, AuditSeverity.Info, recording.OrgId, recording.UserId,
            new { recording_id = recording.Id, calendar_event_id = recording.CalendarEventId, bot_id = recording.BotId, reason });
        await db.SaveChangesAsync(cancellationToken);
        logger.LogInformation("Recording {RecordingId} cancelled: {Reason}", recording.Id, reason);
        return true;
    }

    /// <summary>
    /// A meeting moved: a bot not yet sent just takes the new time; a scheduled one is moved at MeetingBaaS while both times are outside
    /// its lock window. Otherwise the bot is cancelled (false), and the meeting is claimed afresh at its new time.
    /// </summary>
    public async Task<bool> MoveAsync(Recording recording, DateTimeOffset joinAt, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (recording.BotId is { } botId)
        {
            var movable = recording.JoinAt - now >= MeetingBaasClient.RescheduleLockWindow && joinAt - now >= MeetingBaasClient.RescheduleLockWindow;
            if (!movable)
            {
                await CancelAsync(recording, "the meeting moved too close to its start to change the bot's time", now, cancellationToken);
                return false;
            }
            await baas.RescheduleAsync(botId, joinAt, cancellationToken);
        }
        await db.Recordings.Where(r => r.Id == recording.Id && r.Status == RecordingStatus.Scheduled).ExecuteUpdateAsync(s => s
            .SetProperty(r => r.JoinAt, joinAt).SetProperty(r => r.UpdatedAt, now), cancellationToken);
        logger.LogInformation("Recording {RecordingId}: the meeting moved; the bot now joins at {JoinAt:o}", recording.Id, joinAt);
        return true;
    }

    /// <summary>What MeetingBaaS says the bot is doing: joining, then in the call. Never backwards, and never for a cancelled bot.</summary>
    public async Task<bool> ReportedAsync(Guid recordingId, string botId, RecordingStatus status, DateTimeOffset now, CancellationToken cancellationToken)
    {
        RecordingStatus[] from = status == RecordingStatus.Joining ? [RecordingStatus.Scheduled] : [RecordingStatus.Scheduled, RecordingStatus.Joining];
        return await db.Recordings.Where(r => r.Id == recordingId && from.Contains(r.Status)).ExecuteUpdateAsync(s => s
            .SetProperty(r => r.Status, status).SetProperty(r => r.BotId, r => r.BotId ?? botId)
            .SetProperty(r => r.JoinedAt, r => status == RecordingStatus.Joined ? now : r.JoinedAt).SetProperty(r => r.UpdatedAt, now), cancellationToken) > 0;
    }

    /// <summary>
    /// The bot finished: the provider's media links are kept with the time they arrived (they work for 4 hours) and the recording
    /// joins the upload queue.
    /// </summary>
    public async Task<bool> CompletedAsync(Guid recordingId, string botId, string? videoUrl, string? audioUrl, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var completed = await db.Recordings.Where(r => r.Id == recordingId && Live.Contains(r.Status)).ExecuteUpdateAsync(s => s
            .SetProperty(r => r.Status, RecordingStatus.Completed).SetProperty(r => r.BotId, r => r.BotId ?? botId).SetProperty(r => r.CompletedAt, now)
            .SetProperty(r => r.VideoSourceUrl, videoUrl).SetProperty(r => r.AudioSourceUrl, audioUrl).SetProperty(r => r.SourceUrlsReceivedAt, now)
            .SetProperty(r => r.S3UploadStatus, S3UploadStatus.Pending).SetProperty(r => r.NextUploadAt, now).SetProperty(r => r.UpdatedAt, now),
            cancellationToken) > 0;
        if (completed) uploads.Kick(recordingId);
        return completed;
    }

    /// <summary>The recording failed: kept with its reason, and the rep is told once (unless <paramref name="tellRep"/> is false).</summary>
    public async Task<bool> FailAsync(Guid recordingId, string reason, DateTimeOffset now, bool tellRep, CancellationToken cancellationToken)
    {
        var failed = await db.Recordings.Where(r => r.Id == recordingId && Live.Contains(r.Status)).ExecuteUpdateAsync(s => s
            .SetProperty(r => r.Status, RecordingStatus.Failed).SetProperty(r => r.FailureReason, Bounded(reason))
            .SetProperty(r => r.DeployLeaseUntil, (DateTimeOffset?)null).SetProperty(r => r.UpdatedAt, now), cancellationToken) > 0;
        if (!failed) return false;
        logger.LogWarning("Recording {RecordingId} failed: {Reason}", recordingId, reason);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        // Told once, however often MeetingBaaS reports it: the first to set failure_notified_at queues the DM in the same transaction.
        var told = await db.Recordings.FromSql($"""
            UPDATE recordings SET failure_notified_at = {now} WHERE id = {recordingId} AND failure_notified_at IS NULL RETURNING *
            """).AsNoTracking().ToListAsync(cancellationToken);
        if (told is [var recording] && tellRep)
            outbox.Add(db, OutboxDraft.Dm(recording.OrgId, recording.UserId, NotetakerMessages.Failed(recording, reason), "notetaker failed " + recordingId));
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        if (told.Count > 0 && tellRep) outbox.Notify();
        return true;
    }

    /// <summary>
    /// The rep's "Don't record" on a meeting: the meeting is marked (audited) so it never gets a bot, and a bot already on its way or
    /// in the call is called back.
    /// </summary>
    public async Task<DontRecordOutcome> DontRecordAsync(Guid eventId, Guid userId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var calendarEvent = await db.CalendarEvents.SingleOrDefaultAsync(e => e.Id == eventId && e.UserId == userId, cancellationToken);
        if (calendarEvent is null) return DontRecordOutcome.NotFound;
        if (!calendarEvent.DoNotRecord)
        {
            calendarEvent.DoNotRecord = true;
            audit.Record(db, AuditEvents.DoNotRecord, AuditSeverity.Info, calendarEvent.OrgId, userId, new { calendar_event_id = eventId });
            await db.SaveChangesAsync(cancellationToken);
        }
        var live = await db.Recordings.AsNoTracking().Where(r => r.CalendarEventId == eventId && r.UserId == userId && Live.Contains(r.Status))
            .ToListAsync(cancellationToken);
        var outcome = DontRecordOutcome.Marked;
        foreach (var recording in live)
        {
            try
            {
                await CancelAsync(recording, "the rep marked the meeting \"don't record\"", now, cancellationToken);
                outcome = outcome == DontRecordOutcome.BotStillOut ? outcome : DontRecordOutcome.BotCalledBack;
            }
            catch (MeetingBaasException e)
            {
                // The meeting stays marked: the next auto-join run calls the bot back.
                logger.LogWarning("Recording {RecordingId}: the bot could not be called back yet: {Reason}", recording.Id, e.Message);
                outcome = DontRecordOutcome.BotStillOut;
            }
        }
        return outcome;
    }

    static string Bounded(string text) => text.Length <= MaxReason ? text : text[..MaxReason];
}
