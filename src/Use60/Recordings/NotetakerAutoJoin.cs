using Microsoft.EntityFrameworkCore;
using Quartz;
using Use60.Calendar;
using Use60.Data;

namespace Use60.Recordings;

/// <summary>An org's notetaker policy as it applies to one rep.</summary>
public sealed record NotetakerPolicy(bool AutoJoin, bool RepChose, string BotName, string ChatNotice, IReadOnlyList<string> BlockedDomains)
{
    public ConsentBasis ConsentBasis => RepChose ? ConsentBasis.RepChoice : ConsentBasis.OrgPolicy;

    /// <summary>The org's settings and the rep's own choice, read in the rep's tenant scope.</summary>
    public static async Task<NotetakerPolicy> ReadAsync(Use60Db db, Guid userId, CancellationToken cancellationToken)
    {
        var org = await db.OrgSettings.AsNoTracking().SingleAsync(cancellationToken);
        var own = await db.UserPreferences.AsNoTracking().Where(p => p.UserId == userId).Select(p => p.NotetakerAutoJoin).SingleOrDefaultAsync(cancellationToken);
        return new NotetakerPolicy(own ?? org.NotetakerAutoJoin, own == true, org.NotetakerBotName, org.NotetakerChatNotice, org.NotetakerBlockedDomains);
    }

    /// <summary>The first attendee domain on the org's do-not-record list (a listed domain covers its subdomains), if any.</summary>
    public string? BlockedDomainOf(IEnumerable<Attendee> attendees) =>
        attendees.Select(a => a.Email.Split('@').LastOrDefault()?.Trim().ToLowerInvariant() ?? "")
            .SelectMany(domain => BlockedDomains.Where(blocked => domain == blocked || domain.EndsWith("." + blocked, StringComparison.Ordinal)))
            .FirstOrDefault();
}

/// <summary>
/// The auto-join scheduler, every 2 minutes: a calendar meeting starting within the next <see cref="Window"/> (or that began less
/// than <see cref="LateGrace"/> ago) that has a Zoom, Meet or Teams link and more than one attendee, whose rep (or org) has auto-join
/// on, that the rep did not mark "don't record", and with nobody from a do-not-record domain, gets one bot, which joins a minute
/// before the start (<see cref="Lead"/>). Each run first re-checks the bots already scheduled from the calendar: a cancelled meeting,
/// or one that no longer qualifies, loses its bot; a moved one has its bot moved (or sent afresh). The meetings due are found through
/// the narrow system path; each rep's are claimed and sent in that rep's own tenant scope.
/// </summary>
public sealed class NotetakerAutoJoin(SystemDb system, IServiceScopeFactory scopes, MeetingBaasClient baas, TimeProvider clock,
    ILogger<NotetakerAutoJoin> logger)
{
    /// <summary>How far ahead meetings are claimed: five runs of the job, so a late run or a slow MeetingBaaS still leaves time.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(10);

    /// <summary>A meeting that began this recently still gets a bot (the app was down when it started).</summary>
    public static readonly TimeSpan LateGrace = TimeSpan.FromMinutes(5);

    /// <summary>The bot joins this long before the start, so it is in (or in the waiting room) when people arrive.</summary>
    public static readonly TimeSpan Lead = TimeSpan.FromMinutes(1);

    /// <summary>A bot MeetingBaaS has said nothing about for this long after its join time is given up as failed.</summary>
    public static readonly TimeSpan StaleAfter = TimeSpan.FromHours(6);

    public sealed record Run(int Claimed, int Sent, int Moved, int Cancelled, int Failed);

    sealed record Due(Guid OrgId, Guid UserId, Guid Id);

    public static DateTimeOffset JoinAtFor(DateTimeOffset start) => start - Lead;

    public async Task<Run> RunAsync(CancellationToken cancellationToken)
    {
        if (!baas.IsConfigured) return new Run(0, 0, 0, 0, 0);
        var now = clock.GetUtcNow();
        var checks = await EachAsync(await ScheduledAsync(now, cancellationToken), "re-check", (notetaker, db, due) => ReconcileAsync(notetaker, db, due.Id, now,
            cancellationToken), cancellationToken);
        var claims = await EachAsync(await DueEventsAsync(now, cancellationToken), "claim", (notetaker, db, due) => ClaimAsync(notetaker, db, due, now,
            cancellationToken), cancellationToken);
        var sends = await EachAsync(await UnsentAsync(now, cancellationToken), "send", async (notetaker, _, due) =>
            (await notetaker.DeployAsync(due.Id, now, retryLater: true, tellRep: true, cancellationToken)).Outcome.ToString(), cancellationToken);
        var run = new Run(claims.GetValueOrDefault("claimed"), sends.GetValueOrDefault(nameof(DeployOutcome.Sent)), checks.GetValueOrDefault("moved"),
            checks.GetValueOrDefault("cancelled") + sends.GetValueOrDefault(nameof(DeployOutcome.Cancelled)),
            checks.GetValueOrDefault("failed") + sends.GetValueOrDefault(nameof(DeployOutcome.Failed)));
        if (run != new Run(0, 0, 0, 0, 0)) logger.LogInformation("Notetaker auto-join: {Run}", run);
        return run;
    }

    /// <summary>Live bots to re-check: scheduled from the calendar, in a call the rep has since marked "don't record", or gone quiet.</summary>
    async Task<IReadOnlyList<Due>> ScheduledAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var db = system.Open("find notetaker bots to re-check");
        return await db.Database.SqlQuery<Due>($"""
            SELECT r.org_id AS "OrgId", r.user_id AS "UserId", r.id AS "Id"
            FROM recordings r LEFT JOIN calendar_events e ON e.org_id = r.org_id AND e.id = r.calendar_event_id
            WHERE r.status IN ('scheduled', 'joining', 'joined')
              AND ((r.source = 'calendar' AND (r.status = 'scheduled' OR e.do_not_record)) OR coalesce(r.join_at, r.created_at) < {now - StaleAfter})
            ORDER BY r.created_at
            """).ToListAsync(cancellationToken);
    }

    /// <summary>Real meetings starting soon, in calendars whose rep or org has auto-join on, with no bot yet (one cancelled does not count).</summary>
    async Task<IReadOnlyList<Due>> DueEventsAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var db = system.Open("find meetings the notetaker should join");
        return await db.Database.SqlQuery<Due>($"""
            SELECT e.org_id AS "OrgId", e.user_id AS "UserId", e.id AS "Id"
            FROM calendar_events e
            JOIN orgs o ON o.id = e.org_id
            JOIN org_settings s ON s.org_id = e.org_id
            LEFT JOIN user_preferences p ON p.org_id = e.org_id AND p.user_id = e.user_id
            WHERE e.status <> 'cancelled' AND e.attendees_count >= {CalendarEvent.MinimumAttendeesForMeeting} AND NOT e.do_not_record
              AND e.start_time > {now - LateGrace} AND e.start_time <= {now + Window}
              AND coalesce(p.notetaker_auto_join, s.notetaker_auto_join) AND o.slack_disabled_at IS NULL
              AND NOT EXISTS (SELECT FROM recordings r WHERE r.org_id = e.org_id AND r.calendar_event_id = e.id AND r.status <> 'cancelled')
            ORDER BY e.start_time
            """).ToListAsync(cancellationToken);
    }

    /// <summary>Claimed recordings whose bot is not sent yet and that no replica is sending right now.</summary>
    async Task<IReadOnlyList<Due>> UnsentAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var db = system.Open("find notetaker bots to send");
        return await db.Database.SqlQuery<Due>($"""
            SELECT org_id AS "OrgId", user_id AS "UserId", id AS "Id" FROM recordings
            WHERE status = 'scheduled' AND bot_id IS NULL AND (deploy_lease_until IS NULL OR deploy_lease_until <= {now})
            ORDER BY created_at
            """).ToListAsync(cancellationToken);
    }

    /// <summary>Each item in its rep's own tenant scope; one item's failure does not stop the others. Returns how many ended how.</summary>
    async Task<Dictionary<string, int>> EachAsync(IReadOnlyList<Due> due, string what, Func<Notetaker, Use60Db, Due, Task<string>> work,
        CancellationToken cancellationToken)
    {
        var outcomes = new Dictionary<string, int>();
        foreach (var item in due)
        {
            try
            {
                await using var scope = scopes.CreateTenantScope(item.OrgId, item.UserId);
                var outcome = await work(scope.ServiceProvider.GetRequiredService<Notetaker>(), scope.ServiceProvider.GetRequiredService<Use60Db>(), item);
                outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogError(e, "Notetaker auto-join could not {What} {Id} of user {UserId}; it is tried again on the next run", what, item.Id, item.UserId);
            }
        }
        return outcomes;
    }

    async Task<string> ClaimAsync(Notetaker notetaker, Use60Db db, Due due, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var calendarEvent = await db.CalendarEvents.AsNoTracking().SingleOrDefaultAsync(e => e.Id == due.Id, cancellationToken);
        var policy = await NotetakerPolicy.ReadAsync(db, due.UserId, cancellationToken);
        if (WhyNot(calendarEvent, policy, out var link) is { } reason)
        {
            logger.LogDebug("Event {EventId} gets no notetaker: {Reason}", due.Id, reason);
            return "skipped";
        }
        var claimed = await notetaker.ClaimAsync(new Recording
        {
            OrgId = due.OrgId, UserId = due.UserId, CalendarEventId = due.Id, Source = RecordingSource.Calendar, Title = calendarEvent!.Title,
            MeetingUrl = link!.Url, MeetingKey = link.Key, Platform = link.Platform, BotName = policy.BotName, ChatNotice = policy.ChatNotice,
            ConsentBasis = policy.ConsentBasis, ConsentRecordedAt = now, JoinAt = JoinAtFor(calendarEvent.StartTime),
        }, cancellationToken);
        return claimed is null ? "taken" : "claimed";
    }

    /// <summary>A bot scheduled from the calendar, against its meeting as it is now.</summary>
    async Task<string> ReconcileAsync(Notetaker notetaker, Use60Db db, Guid recordingId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var recording = await db.Recordings.AsNoTracking().SingleOrDefaultAsync(r => r.Id == recordingId, cancellationToken);
        if (recording is not { IsLive: true }) return "gone";
        if ((recording.JoinAt ?? recording.CreatedAt) < now - StaleAfter)
            return await notetaker.FailAsync(recording.Id, "MeetingBaaS never said how the recording ended.", now, tellRep: true, cancellationToken) ? "failed" : "gone";
        if (recording.Source != RecordingSource.Calendar) return "kept";
        var calendarEvent = recording.CalendarEventId is { } eventId
            ? await db.CalendarEvents.AsNoTracking().SingleOrDefaultAsync(e => e.Id == eventId, cancellationToken)
            : null;
        // In the call already: only the rep's own "don't record" calls it back.
        if (recording.Status != RecordingStatus.Scheduled)
            return calendarEvent?.DoNotRecord == true && await notetaker.CancelAsync(recording, "the rep marked the meeting \"don't record\"", now, cancellationToken)
                ? "cancelled" : "kept";

        var policy = await NotetakerPolicy.ReadAsync(db, recording.UserId, cancellationToken);
        var reason = WhyNot(calendarEvent, policy, out var link) ?? (link!.Key != recording.MeetingKey ? "the meeting's link changed" : null);
        if (reason is not null) return await notetaker.CancelAsync(recording, reason, now, cancellationToken) ? "cancelled" : "gone";
        var joinAt = JoinAtFor(calendarEvent!.StartTime);
        if (recording.JoinAt is { } planned && (planned - joinAt).Duration() < TimeSpan.FromSeconds(30)) return "kept";
        return await notetaker.MoveAsync(recording, joinAt, now, cancellationToken) ? "moved" : "cancelled";
    }

    /// <summary>Why a meeting gets no bot (null: it gets one), and its link.</summary>
    public static string? WhyNot(CalendarEvent? calendarEvent, NotetakerPolicy policy, out MeetingLink? link)
    {
        link = calendarEvent is null ? null : MeetingLinks.Of(calendarEvent);
        if (calendarEvent is null) return "the meeting is no longer in the calendar";
        if (calendarEvent.Status == CalendarEventStatus.Cancelled) return "the meeting was cancelled";
        if (calendarEvent.DoNotRecord) return "the rep marked the meeting \"don't record\"";
        if (!policy.AutoJoin) return "auto-join is off";
        if (calendarEvent.Attendees.Count < CalendarEvent.MinimumAttendeesForMeeting) return "nobody else is invited";
        if (link is null) return "the meeting has no Zoom, Google Meet or Teams link";
        if (policy.BlockedDomainOf(calendarEvent.Attendees) is { } domain) return $"someone from {domain}, a do-not-record domain, is invited";
        return null;
    }
}

/// <summary>Quartz's handle on the auto-join scheduler: every 2 minutes, on whichever replica the cluster picks.</summary>
[DisallowConcurrentExecution]
public sealed class NotetakerAutoJoinJob(NotetakerAutoJoin autoJoin) : IJob
{
    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken) => await autoJoin.RunAsync(cancellationToken);
}
