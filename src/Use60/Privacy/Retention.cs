using Microsoft.EntityFrameworkCore;
using Quartz;
using Use60.Data;
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
public sealed record RetentionRun(int ContactsDeleted, int ActivitiesDeleted, int EmailsDeleted, int TranscriptsRemoved, int ConversationsArchived,
    int ConversationsDeleted);

/// <summary>What deleting some contacts removed.</summary>
public sealed record ContactsDeleted(int Contacts, int Activities, int Emails, int TranscriptsRemoved);

/// <summary>
/// Deletes contacts and what hangs off them: their activities and the emails sent to them go; tasks and deals stay, without the
/// reference; a meeting whose only outside person was one of them keeps its title and time but loses its transcript, summary and video link.
/// Shared by the retention job and erasure requests; runs in the caller's system scope and transaction (the caller names the org).
/// </summary>
public sealed class ContactDeletion(OrgKeyring keyring, TimeProvider clock)
{
    public async Task<ContactsDeleted> DeleteAsync(Use60Db db, Guid orgId, IReadOnlyCollection<Guid> contactIds, CancellationToken cancellationToken)
    {
        if (contactIds.Count == 0) return new ContactsDeleted(0, 0, 0, 0);
        var ids = contactIds.ToArray();
        var now = clock.GetUtcNow();
        // The contacts' emails, opened with the org's keys (sealed at rest), to find the meetings only they were in.
        await keyring.GetAsync(orgId, create: false, cancellationToken);
        var emails = (await db.Contacts.AsNoTracking().Where(c => c.OrgId == orgId && ids.Contains(c.Id)).ToListAsync(cancellationToken))
            .Select(c => c.Email).OfType<string>().Select(OrgKeys.Normalise).Distinct().ToArray();
        var transcripts = emails.Length == 0 ? 0 : await db.Database.ExecuteSqlAsync($"""
            UPDATE meetings m SET transcript = NULL, transcript_text = NULL, summary = NULL, video_url = NULL, transcript_removed_at = {now}, updated_at = {now}
            FROM calendar_events e
            WHERE m.org_id = {orgId} AND e.id = m.calendar_event_id AND (m.transcript IS NOT NULL OR m.transcript_text IS NOT NULL)
              AND EXISTS (SELECT 1 FROM jsonb_array_elements(e.attendees) a WHERE lower(a ->> 'email') = ANY({emails}))
              AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(e.attendees) a
                              WHERE NOT coalesce((a ->> 'self')::boolean, false) AND lower(a ->> 'email') <> ALL({emails})
                                AND lower(a ->> 'email') NOT IN (SELECT lower(u.email) FROM users u WHERE u.org_id = {orgId} AND u.email IS NOT NULL))
            """, cancellationToken);
        var activities = await db.Database.ExecuteSqlAsync($"DELETE FROM activities WHERE org_id = {orgId} AND contact_id = ANY({ids})", cancellationToken);
        var sent = await db.Database.ExecuteSqlAsync($"DELETE FROM outbound_emails WHERE org_id = {orgId} AND contact_id = ANY({ids})", cancellationToken);
        var contacts = await db.Database.ExecuteSqlAsync($"DELETE FROM contacts WHERE org_id = {orgId} AND id = ANY({ids})", cancellationToken);
        return new ContactsDeleted(contacts, activities, sent, transcripts);
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
        var (contacts, activities, emails, transcripts) = (0, 0, 0, 0);
        List<Guid> orgs;
        await using (var db = system.Open("find orgs whose retention deletes contacts"))
            orgs = await db.OrgSettings.Where(s => s.AutoDelete).Select(s => s.OrgId).ToListAsync(cancellationToken);
        foreach (var orgId in orgs)
        {
            var deleted = new ContactsDeleted(0, 0, 0, 0);
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
                    batch = await deletion.DeleteAsync(db, orgId, due, cancellationToken);
                    await transaction.CommitAsync(cancellationToken);
                }
                deleted = new ContactsDeleted(deleted.Contacts + batch.Contacts, deleted.Activities + batch.Activities, deleted.Emails + batch.Emails,
                    deleted.TranscriptsRemoved + batch.TranscriptsRemoved);
                if (due.Count < Batch) break;
            }
            if (deleted.Contacts == 0) continue;
            await using (var db = system.Open("audit what retention deleted"))
            {
                audit.Record(db, AuditEvents.RetentionDeleted, AuditSeverity.Info, orgId, null, new
                {
                    contacts = deleted.Contacts, activities = deleted.Activities, emails = deleted.Emails, transcripts_removed = deleted.TranscriptsRemoved,
                });
                await db.SaveChangesAsync(cancellationToken);
            }
            logger.LogInformation("Retention in org {OrgId}: deleted {Contacts} contacts past their date, {Activities} activities, {Emails} sent emails; " +
                                  "removed {Transcripts} transcripts", orgId, deleted.Contacts, deleted.Activities, deleted.Emails, deleted.TranscriptsRemoved);
            (contacts, activities, emails, transcripts) = (contacts + deleted.Contacts, activities + deleted.Activities, emails + deleted.Emails,
                transcripts + deleted.TranscriptsRemoved);
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
        return new RetentionRun(contacts, activities, emails, transcripts, archived, removed);
    }
}

[DisallowConcurrentExecution]
public sealed class PrivacyRetentionJob(PrivacyRetention retention) : IJob
{
    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken) => await retention.RunAsync(cancellationToken);
}
