using Microsoft.EntityFrameworkCore;
using Quartz;
using Use60.Data;
using Use60.Recordings;
using Use60.Security;

namespace Use60.Privacy;

/// <summary>
/// The seeds' retention numbers. A contact's deletion date is computed by the view <c>contact_retention</c> (migration 0024): their last
/// activity (or, with none, when they were added) plus the org's period for them (EU residents: the shorter one); a withdrawn consent: then.
/// </summary>
public static class RetentionPolicy
{
    public const int DefaultDays = 730, DefaultEuDays = 365, MinDays = 30, MaxDays = 3650;

    /// <summary>A conversation nobody wrote in for this long is archived; it is deleted after the org's retention period.</summary>
    public static readonly TimeSpan ConversationArchiveAfter = TimeSpan.FromDays(365);
}

/// <summary>What one run of the retention job did, over every org (counts only: the audit log never holds the data).</summary>
public sealed record RetentionRun(ContactsDeleted Deleted, int ConversationsArchived, int ConversationsDeleted);

/// <summary>What deleting some people removed.</summary>
public sealed record ContactsDeleted(int Contacts, int Activities, int Emails, int TranscriptsRemoved, int Recordings, int StoredObjects)
{
    public static readonly ContactsDeleted None = new(0, 0, 0, 0, 0, 0);

    public ContactsDeleted Plus(ContactsDeleted other) => new(Contacts + other.Contacts, Activities + other.Activities, Emails + other.Emails,
        TranscriptsRemoved + other.TranscriptsRemoved, Recordings + other.Recordings, StoredObjects + other.StoredObjects);
}

/// <summary>
/// Deletes people (contacts, and addresses that may have no contact row: a meeting's attendee) and what hangs off them: their activities
/// and the emails sent to them go; tasks and deals stay, without the reference. A meeting whose only outside people were among them
/// (<c>only_outside_attendees</c>, migration 0028: by its calendar event, or its recording's) keeps its title and time but loses its
/// transcript, summary and video link, and the notetaker recordings of such meetings go with their stored files. Shared by the retention
/// job and erasure requests; runs in the caller's system scope and transaction (the caller names the org). The stored files are deleted
/// first: if the transaction then fails, the rows stay and the next run deletes them (a file already gone is fine).
/// </summary>
public sealed class ContactDeletion(OrgKeyring keyring, IRecordingStore store, TimeProvider clock)
{
    sealed record RecordingFiles(Guid Id, string? VideoKey, string? AudioKey, string? ThumbnailKey);

    public async Task<ContactsDeleted> DeleteAsync(Use60Db db, Guid orgId, IReadOnlyCollection<Guid> contactIds, IReadOnlyCollection<string> alsoEmails,
        CancellationToken cancellationToken)
    {
        var ids = contactIds.ToArray();
        var now = clock.GetUtcNow();
        // The contacts' emails, opened with the org's keys (sealed at rest), to find the meetings only they were in.
        var contactEmails = new List<string>();
        if (ids.Length > 0)
        {
            await keyring.GetAsync(orgId, create: false, cancellationToken);
            contactEmails = (await db.Contacts.AsNoTracking().Where(c => c.OrgId == orgId && ids.Contains(c.Id)).ToListAsync(cancellationToken))
                .Select(c => c.Email).OfType<string>().ToList();
        }
        var emails = contactEmails.Concat(alsoEmails).Select(OrgKeys.Normalise).Distinct().ToArray();
        if (ids.Length == 0 && emails.Length == 0) return ContactsDeleted.None;

        var transcripts = 0;
        var recordings = new List<RecordingFiles>();
        if (emails.Length > 0)
        {
            transcripts = await db.Database.ExecuteSqlAsync($"""
                UPDATE meetings m SET transcript = NULL, transcript_text = NULL, summary = NULL, video_url = NULL, transcript_removed_at = {now}, updated_at = {now}
                FROM calendar_events e
                WHERE m.org_id = {orgId} AND e.org_id = {orgId}
                  AND e.id = coalesce(m.calendar_event_id, (SELECT r.calendar_event_id FROM recordings r WHERE r.id = m.recording_id))
                  AND (m.transcript IS NOT NULL OR m.transcript_text IS NOT NULL OR m.summary IS NOT NULL OR m.video_url IS NOT NULL)
                  AND only_outside_attendees(e.attendees, {orgId}, {emails})
                """, cancellationToken);
            recordings = await db.Database.SqlQuery<RecordingFiles>($"""
                SELECT r.id AS "Id", r.video_key AS "VideoKey", r.audio_key AS "AudioKey", r.thumbnail_key AS "ThumbnailKey"
                FROM recordings r JOIN calendar_events e ON e.id = r.calendar_event_id
                WHERE r.org_id = {orgId} AND only_outside_attendees(e.attendees, {orgId}, {emails})
                """).ToListAsync(cancellationToken);
        }
        var files = recordings.SelectMany(r => new[] { r.VideoKey, r.AudioKey, r.ThumbnailKey }).OfType<string>().ToList();
        foreach (var key in files) await store.DeleteAsync(key, cancellationToken);
        var recordingIds = recordings.Select(r => r.Id).ToArray();
        var recordingRows = recordingIds.Length == 0 ? 0
            : await db.Database.ExecuteSqlAsync($"DELETE FROM recordings WHERE org_id = {orgId} AND id = ANY({recordingIds})", cancellationToken);
        var activities = await db.Database.ExecuteSqlAsync($"DELETE FROM activities WHERE org_id = {orgId} AND contact_id = ANY({ids})", cancellationToken);
        var sent = await db.Database.ExecuteSqlAsync($"DELETE FROM outbound_emails WHERE org_id = {orgId} AND contact_id = ANY({ids})", cancellationToken);
        var contacts = await db.Database.ExecuteSqlAsync($"DELETE FROM contacts WHERE org_id = {orgId} AND id = ANY({ids})", cancellationToken);
        return new ContactsDeleted(contacts, activities, sent, transcripts, recordingRows, files.Count);
    }
}

/// <summary>
/// The privacy-retention job (02:00 UTC): in each org with auto-delete on, contacts past their deletion date are deleted with what
/// hangs off them (<see cref="ContactDeletion"/>), and the org's audit log says how many; in every org, conversations with no
/// message for a year are archived and those older than the org's retention period deleted.
/// </summary>
public sealed class PrivacyRetention(SystemDb system, ContactDeletion deletion, SecurityAudit audit, TimeProvider clock, ILogger<PrivacyRetention> logger)
{
    /// <summary>Contacts deleted per transaction: a large backlog goes in several, each complete.</summary>
    const int Batch = 500;

    public async Task<RetentionRun> RunAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var total = ContactsDeleted.None;
        List<Guid> orgs;
        await using (var db = system.Open("find orgs whose retention deletes contacts"))
            orgs = await db.OrgSettings.Where(s => s.AutoDelete).Select(s => s.OrgId).ToListAsync(cancellationToken);
        foreach (var orgId in orgs)
        {
            var deleted = ContactsDeleted.None;
            while (true)
            {
                List<Guid> due;
                await using (var db = system.Open("find contacts past their retention date"))
                    due = await db.Database.SqlQuery<Guid>($"""
                        SELECT contact_id AS "Value" FROM contact_retention WHERE org_id = {orgId} AND deletion_due_at <= {now} LIMIT {Batch}
                        """).ToListAsync(cancellationToken);
                if (due.Count == 0) break;
                ContactsDeleted batch;
                await using (var db = system.Open("delete contacts past their retention date"))
                await using (var transaction = await db.Database.BeginTransactionAsync(cancellationToken))
                {
                    batch = await deletion.DeleteAsync(db, orgId, due, [], cancellationToken);
                    await transaction.CommitAsync(cancellationToken);
                }
                deleted = deleted.Plus(batch);
                if (due.Count < Batch) break;
            }
            if (deleted.Contacts == 0) continue;
            await using (var db = system.Open("audit what retention deleted"))
            {
                audit.Record(db, AuditEvents.RetentionDeleted, AuditSeverity.Info, orgId, null, new
                {
                    contacts = deleted.Contacts, activities = deleted.Activities, emails = deleted.Emails, transcripts_removed = deleted.TranscriptsRemoved,
                    recordings = deleted.Recordings, stored_objects = deleted.StoredObjects,
                });
                await db.SaveChangesAsync(cancellationToken);
            }
            logger.LogInformation("Retention in org {OrgId}: deleted {Contacts} contacts past their date, {Activities} activities, {Emails} sent emails, " +
                                  "{Recordings} recordings ({Objects} stored files); removed {Transcripts} transcripts", orgId, deleted.Contacts, deleted.Activities,
                deleted.Emails, deleted.Recordings, deleted.StoredObjects, deleted.TranscriptsRemoved);
            total = total.Plus(deleted);
        }

        int archived, removed;
        await using (var db = system.Open("archive and delete old copilot conversations"))
        {
            archived = await db.Conversations.Where(c => c.ArchivedAt == null && c.LastMessageAt <= now - RetentionPolicy.ConversationArchiveAfter)
                .ExecuteUpdateAsync(c => c.SetProperty(x => x.ArchivedAt, now), cancellationToken);
            removed = await db.Database.ExecuteSqlAsync($"""
                DELETE FROM copilot_conversations c USING org_settings s
                WHERE s.org_id = c.org_id AND c.last_message_at <= {now} - make_interval(days => s.retention_days)
                """, cancellationToken);
        }
        if (archived + removed > 0)
            logger.LogInformation("Retention: archived {Archived} copilot conversations idle for a year, deleted {Deleted} past their org's retention period",
                archived, removed);
        return new RetentionRun(total, archived, removed);
    }
}

[DisallowConcurrentExecution]
public sealed class PrivacyRetentionJob(PrivacyRetention retention) : IJob
{
    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken) => await retention.RunAsync(cancellationToken);
}
