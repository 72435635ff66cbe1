using Microsoft.EntityFrameworkCore;
using Quartz;
using Use60.Crm;
using Use60.Data;
using Use60.Privacy;
using Use60.Proactive;
using Use60.Security;
using Use60.Slack;

namespace Use60.Calendar;

/// <summary>What one sync of a rep's calendar did, or why it did not.</summary>
public sealed record CalendarSyncResult(CalendarSyncStatus Status, int Added = 0, int Changed = 0, int Removed = 0, bool Full = false,
    DateTimeOffset? RetryAt = null, string? Error = null);

public enum CalendarSyncStatus { Synced, NotConnected, Revoked, BackingOff, Failed }

/// <summary>
/// Incremental Google Calendar sync: every 10 minutes (and when the rep asks) each connected rep's primary calendar is
/// read from its stored sync token: what changed is upserted, cancelled events are removed, and a meeting that moved keeps
/// its row with the new time, so its brief follows it. An expired token (410) means a full sync; a busy or failing Google
/// (429, 5xx) backs off, per rep, in the database, so no job thread ever sleeps.
/// </summary>
public sealed class CalendarSync(SystemDb system, IServiceScopeFactory scopes, TimeProvider clock, ILogger<CalendarSync> logger)
{
    /// <summary>A full sync reads events from this long ago on: older ones change nothing use60 does.</summary>
    public static readonly TimeSpan FullSyncLookBack = TimeSpan.FromDays(30);

    static readonly TimeSpan FirstBackoff = TimeSpan.FromMinutes(5), MaxBackoff = TimeSpan.FromHours(2);
    const int MaxErrorLength = 500;

    public sealed record DueConnection(Guid OrgId, Guid UserId);

    /// <summary>Syncs every connection that is due; returns how many synced.</summary>
    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        var synced = 0;
        foreach (var due in await DueAsync(cancellationToken))
        {
            try
            {
                if ((await SyncAsync(due.OrgId, due.UserId, force: false, cancellationToken)).Status == CalendarSyncStatus.Synced) synced++;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogError(e, "Calendar sync of user {UserId} failed; it is retried on the next run", due.UserId);
            }
        }
        return synced;
    }

    /// <summary>The narrow cross-tenant query: active connections not backing off, of orgs whose Slack works.</summary>
    public async Task<IReadOnlyList<DueConnection>> DueAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        await using var db = system.Open("find calendars to sync");
        return await db.Database.SqlQuery<DueConnection>($"""
            SELECT c.org_id AS "OrgId", c.user_id AS "UserId"
            FROM calendar_connections c JOIN orgs o ON o.id = c.org_id
            WHERE c.status = 'active' AND (c.next_sync_at IS NULL OR c.next_sync_at <= {now}) AND o.slack_disabled_at IS NULL
            ORDER BY c.last_synced_at NULLS FIRST
            """).ToListAsync(cancellationToken);
    }

    /// <summary>
    /// Syncs one rep's calendar in their own tenant scope. <paramref name="force"/> (the rep asked) skips our own backoff, but
    /// not a wait Google asked for.
    /// </summary>
    public async Task<CalendarSyncResult> SyncAsync(Guid orgId, Guid userId, bool force, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateTenantScope(orgId, userId);
        var services = scope.ServiceProvider;
        var db = services.GetRequiredService<Use60Db>();
        var connection = await db.CalendarConnections.SingleOrDefaultAsync(c => c.UserId == userId, cancellationToken);
        if (connection is null) return new(CalendarSyncStatus.NotConnected);
        if (connection.Status == CalendarConnectionStatus.Revoked) return new(CalendarSyncStatus.Revoked, Error: connection.LastError);
        var now = clock.GetUtcNow();
        if (connection.NextSyncAt > now && (!force || connection.LastError?.StartsWith(RetryAfterMarker, StringComparison.Ordinal) == true))
            return new(CalendarSyncStatus.BackingOff, RetryAt: connection.NextSyncAt, Error: connection.LastError);

        var auth = services.GetRequiredService<GoogleCalendarAuth>();
        try
        {
            var token = await auth.AccessTokenAsync(connection, cancellationToken);
            var result = await SyncCalendarAsync(db, services.GetRequiredService<GoogleCalendarClient>(), token, connection, CalendarConnection.PrimaryCalendar,
                cancellationToken);
            connection.LastSyncedAt = clock.GetUtcNow();
            connection.Failures = 0;
            connection.NextSyncAt = null;
            connection.LastError = null;
            await db.SaveChangesAsync(cancellationToken);
            logger.LogInformation("Calendar of user {UserId} synced ({Kind}): {Added} added, {Changed} changed, {Removed} removed", userId,
                result.Full ? "full" : "incremental", result.Added, result.Changed, result.Removed);
            return result;
        }
        catch (GoogleCalendarException e) when (e.Failure == GoogleFailure.AccessRevoked)
        {
            db.ChangeTracker.Clear();
            await RevokedAsync(services, db, orgId, userId, e.Message, cancellationToken);
            return new(CalendarSyncStatus.Revoked, Error: e.Message);
        }
        catch (GoogleCalendarException e)
        {
            if (e.Failure == GoogleFailure.Unauthorized) auth.Forget(userId);
            db.ChangeTracker.Clear();
            var failures = connection.Failures + 1;
            var backoff = TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, FirstBackoff.Ticks << Math.Min(failures - 1, 10)));
            var googleAsked = e.RetryAfter > backoff;
            var retryAt = clock.GetUtcNow() + (googleAsked ? e.RetryAfter!.Value : backoff);
            var error = (googleAsked ? RetryAfterMarker : "") + e.Message;
            error = error[..Math.Min(error.Length, MaxErrorLength)];
            await db.CalendarConnections.Where(c => c.UserId == userId).ExecuteUpdateAsync(s => s
                .SetProperty(c => c.Failures, failures).SetProperty(c => c.NextSyncAt, retryAt)
                .SetProperty(c => c.LastError, error).SetProperty(c => c.UpdatedAt, clock.GetUtcNow()), cancellationToken);
            logger.LogWarning("Calendar sync of user {UserId} failed ({Failure}, {Failures} in a row); next try at {RetryAt:o}: {Reason}", userId,
                e.Failure, failures, retryAt, e.Message);
            return new(CalendarSyncStatus.Failed, RetryAt: retryAt, Error: e.Message);
        }
    }

    /// <summary>Marks a backoff that Google itself asked for (Retry-After): a rep's "Sync now" does not override it.</summary>
    const string RetryAfterMarker = "Google asked to wait: ";

    async Task<CalendarSyncResult> SyncCalendarAsync(Use60Db db, GoogleCalendarClient google, string token, CalendarConnection connection, string calendarId,
        CancellationToken cancellationToken)
    {
        var syncToken = await db.Database.SqlQuery<string>($"""
            SELECT sync_token AS "Value" FROM calendar_sync_tokens WHERE user_id = {connection.UserId} AND calendar_id = {calendarId}
            """).SingleOrDefaultAsync(cancellationToken);
        var timeMin = clock.GetUtcNow() - FullSyncLookBack;
        while (true)
        {
            var full = syncToken is null;
            var changes = new Changes();
            var kept = new HashSet<string>(StringComparer.Ordinal);
            string? pageToken = null, nextSyncToken = null;
            try
            {
                do
                {
                    var page = await google.ListEventsAsync(token, calendarId, syncToken, timeMin, pageToken, cancellationToken);
                    await ApplyAsync(db, connection, calendarId, page.Items ?? [], changes, kept, cancellationToken);
                    pageToken = page.NextPageToken;
                    nextSyncToken = page.NextSyncToken ?? nextSyncToken;
                } while (pageToken is not null);
            }
            catch (GoogleCalendarException e) when (e.Failure == GoogleFailure.SyncTokenExpired && !full)
            {
                logger.LogInformation("The calendar sync token of user {UserId} expired (410); starting a full sync", connection.UserId);
                syncToken = null;
                continue;
            }

            // A full sync lists what exists, not what was deleted: whatever it did not list is gone from the calendar.
            if (full)
                changes.Removed += await db.CalendarEvents
                    .Where(e => e.CalendarId == calendarId && e.StartTime >= timeMin && !kept.Contains(e.ExternalId))
                    .ExecuteDeleteAsync(cancellationToken);
            if (nextSyncToken is not null)
            {
                var now = clock.GetUtcNow();
                await db.Database.ExecuteSqlAsync($"""
                    INSERT INTO calendar_sync_tokens (org_id, user_id, calendar_id, sync_token, updated_at)
                    VALUES ({connection.OrgId}, {connection.UserId}, {calendarId}, {nextSyncToken}, {now})
                    ON CONFLICT (org_id, user_id, calendar_id) DO UPDATE SET sync_token = excluded.sync_token, updated_at = excluded.updated_at
                    """, cancellationToken);
            }
            return new(CalendarSyncStatus.Synced, changes.Added, changes.Changed, changes.Removed, full);
        }
    }

    sealed class Changes
    {
        public int Added, Changed, Removed;
    }

    /// <summary>One page: cancelled, declined and all-day entries leave (or never enter); everything else is upserted.</summary>
    async Task ApplyAsync(Use60Db db, CalendarConnection connection, string calendarId, IReadOnlyList<GoogleEvent> items, Changes changes,
        HashSet<string> kept, CancellationToken cancellationToken)
    {
        if (items.Count == 0) return;
        var ids = items.Select(i => i.Id).ToList();
        var existing = await db.CalendarEvents.Where(e => e.CalendarId == calendarId && ids.Contains(e.ExternalId))
            .ToDictionaryAsync(e => e.ExternalId, StringComparer.Ordinal, cancellationToken);
        var deals = await DealsByAttendeeAsync(db, connection.UserId, items, cancellationToken);
        foreach (var item in items)
        {
            existing.TryGetValue(item.Id, out var row);
            if (item.IsCancelled || item.IsAllDay || item.DeclinedByRep || item.Start?.DateTime is null || item.End?.DateTime is null)
            {
                if (row is not null)
                {
                    db.CalendarEvents.Remove(row);
                    existing.Remove(item.Id);
                    changes.Removed++;
                }
                continue;
            }
            kept.Add(item.Id);
            if (row is null)
            {
                row = new CalendarEvent { OrgId = connection.OrgId, UserId = connection.UserId, ExternalId = item.Id, CalendarId = calendarId, Title = "" };
                db.CalendarEvents.Add(row);
                existing[item.Id] = row;
                changes.Added++;
            }
            else changes.Changed++;
            Fill(row, item, deals);
        }
        await db.SaveChangesAsync(cancellationToken);
    }

    const int MaxTitle = 500, MaxText = 8000;

    static void Fill(CalendarEvent row, GoogleEvent item, IReadOnlyDictionary<string, Guid> dealByEmail)
    {
        row.Title = Bounded(item.Summary, MaxTitle) ?? "(no title)";
        row.Description = Bounded(item.Description, MaxText);
        row.Location = Bounded(item.Location, MaxTitle);
        row.ConferenceUrl = Bounded(item.VideoLink, MaxTitle);
        row.StartTime = item.Start!.DateTime!.Value;
        row.EndTime = item.End!.DateTime!.Value < row.StartTime ? row.StartTime : item.End.DateTime.Value;
        row.Status = item.Status == "tentative" ? CalendarEventStatus.Tentative : CalendarEventStatus.Confirmed;
        // Meeting rooms and other resources are on the invite but are not people: a focus block with a room is still solo.
        row.Attendees = [.. (item.Attendees ?? []).Where(a => a.Resource != true && !string.IsNullOrWhiteSpace(a.Email)).Select(a => new Attendee
        {
            Email = a.Email!.Trim(),
            Name = Bounded(a.DisplayName, 200),
            ResponseStatus = a.ResponseStatus ?? "needsAction",
            Self = a.Self == true,
        })];
        row.DealId ??= row.Attendees.Where(a => !a.Self)
            .Select(a => dealByEmail.TryGetValue(a.Email.ToLowerInvariant(), out var deal) ? deal : (Guid?)null)
            .FirstOrDefault(deal => deal is not null);
    }

    /// <summary>The rep's open deal for each external attendee: the deal whose primary contact they are, or their company's (most recently active).</summary>
    static async Task<IReadOnlyDictionary<string, Guid>> DealsByAttendeeAsync(Use60Db db, Guid userId, IReadOnlyList<GoogleEvent> items,
        CancellationToken cancellationToken)
    {
        var emails = items.SelectMany(i => i.Attendees ?? []).Where(a => a.Self != true && a.Resource != true && !string.IsNullOrWhiteSpace(a.Email))
            .Select(a => a.Email!.Trim().ToLowerInvariant()).Distinct().ToList();
        if (emails.Count == 0) return new Dictionary<string, Guid>();
        // Contacts' emails are sealed: they are found by blind index (the org has no keys yet: it has no contacts with an email either).
        await PiiSealing.LoadTenantKeysAsync(db, cancellationToken);
        if (PiiSealing.TenantKeys(db) is not { } keys) return new Dictionary<string, Guid>();
        var byHash = emails.GroupBy(keys.BlindIndex).ToDictionary(g => g.Key, g => g.First());
        var hashes = byHash.Keys.ToList();
        var matches = await (from c in db.Contacts
                             where c.EmailHash != null && hashes.Contains(c.EmailHash)
                             from d in db.Deals
                             where d.UserId == userId && d.Stage != DealStage.ClosedWon && d.Stage != DealStage.ClosedLost
                                   && (d.PrimaryContactId == c.Id || (c.CompanyId != null && d.CompanyId == c.CompanyId))
                             orderby d.PrimaryContactId == c.Id descending, d.LastActivityAt descending
                             select new { c.EmailHash, DealId = d.Id }).ToListAsync(cancellationToken);
        return matches.GroupBy(m => byHash[m.EmailHash!]).ToDictionary(g => g.Key, g => g.First().DealId);
    }

    static string? Bounded(string? text, int max) => string.IsNullOrWhiteSpace(text) ? null : text.Trim()[..Math.Min(text.Trim().Length, max)];

    /// <summary>Google no longer accepts the grant: stop syncing, and tell the rep once how to reconnect.</summary>
    async Task RevokedAsync(IServiceProvider services, Use60Db db, Guid orgId, Guid userId, string reason, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var changed = await db.CalendarConnections.Where(c => c.UserId == userId && c.Status == CalendarConnectionStatus.Active)
            .ExecuteUpdateAsync(s => s.SetProperty(c => c.Status, CalendarConnectionStatus.Revoked).SetProperty(c => c.LastError, reason)
                .SetProperty(c => c.UpdatedAt, now), cancellationToken);
        if (changed == 0) return;
        services.GetRequiredService<SecurityAudit>().Record(db, AuditEvents.CalendarAccessRevoked, AuditSeverity.Low, orgId, userId, new { provider = "google" });
        await services.GetRequiredService<SlackOutbox>().SendAsync(db, OutboxDraft.Dm(orgId, userId, CalendarMessages.Revoked(), "calendar access revoked"),
            cancellationToken);
        logger.LogWarning("Google revoked the calendar access of user {UserId}; sync stopped until they connect again", userId);
    }
}

/// <summary>Quartz's handle on the sync: every 10 minutes, on whichever replica the cluster picks.</summary>
[DisallowConcurrentExecution]
public sealed class CalendarSyncJob(CalendarSync sync) : IJob
{
    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken) => await sync.RunAsync(cancellationToken);
}
