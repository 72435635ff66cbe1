using System.Globalization;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Quartz;
using Use60.Data;
using Use60.Hosting;
using Use60.Proactive;
using Use60.Slack;

namespace Use60.Security;

/// <summary>
/// A pattern in the audit log that makes an incident: more than <see cref="MoreThan"/> events of <see cref="EventTypes"/> within
/// <see cref="Window"/>, by one user of an org or, when <see cref="SystemWide"/>, among the events no org can be named for.
/// </summary>
public sealed record AnomalyRule(IncidentKind Kind, IReadOnlyList<string> EventTypes, int MoreThan, TimeSpan Window, AuditSeverity Severity,
    bool SystemWide);

/// <summary>
/// The security monitor, every 10 minutes: finds bursts in the audit log (one narrow cross-tenant query per rule), opens each as an
/// incident in its org's own tenant scope, and DMs each owner once about a critical one. A burst's window starts at its first
/// event, and the incidents table holds one incident per rule, org, user and window start, so re-runs, a missed firing caught up
/// later and a second replica never open the same incident twice. Bad Slack signatures name no org (the request was not
/// Slack's, so its team id cannot be trusted): they make system-wide incidents, which every org's admins see and which close by
/// themselves once the bad requests stop.
/// </summary>
public sealed class SecurityMonitor(SystemDb system, IServiceScopeFactory scopes, SlackOutbox outbox, IOptions<Use60Options> options,
    TimeProvider clock, ILogger<SecurityMonitor> logger)
{
    public static readonly IReadOnlyList<AnomalyRule> Rules =
    [
        new(IncidentKind.CredentialHarvesting, AuditEvents.SensitiveReads, 50, TimeSpan.FromHours(1), AuditSeverity.Critical, SystemWide: false),
        new(IncidentKind.ConversationExfiltration, [AuditEvents.ConversationExported], 5, TimeSpan.FromMinutes(10), AuditSeverity.Critical,
            SystemWide: false),
        new(IncidentKind.SlackSignatureFailures, [AuditEvents.SlackRequestRejected], 10, TimeSpan.FromMinutes(10), AuditSeverity.High,
            SystemWide: true),
    ];

    /// <summary>How far back, beyond a rule's own window, each run looks: runs missed while the app was down are caught up.</summary>
    static readonly TimeSpan CatchUp = TimeSpan.FromHours(1);

    /// <summary>A system-wide incident is resolved by the monitor once none of its events came for this long.</summary>
    public static readonly TimeSpan QuietPeriod = TimeSpan.FromHours(1);

    /// <summary>Owners hear of critical incidents this recent only: someone made an owner later is not sent old news.</summary>
    static readonly TimeSpan AlertWithin = TimeSpan.FromDays(1);

    /// <summary>A burst found in the audit log: the window that starts at its first event, and how many events it holds.</summary>
    public sealed record Finding(AnomalyRule Rule, Guid? OrgId, Guid? UserId, DateTimeOffset WindowStart, int Events);

    public sealed record DueAlert(long IncidentId, Guid OrgId, Guid OwnerId);

    /// <summary>An event of a rule's kinds that has more than the rule's count in the window starting with it.</summary>
    sealed record Burst(Guid? OrgId, Guid? UserId, DateTimeOffset At, int Events);

    sealed record OrgAdmin(Guid OrgId, Guid UserId);

    /// <summary>One run: opens the incidents found, resolves quiet system-wide ones, alerts owners. Returns how many incidents it opened.</summary>
    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        var opened = await OpenAsync(await FindAsync(cancellationToken), cancellationToken);
        await ResolveQuietAsync(cancellationToken);
        await ProactiveRuns.SendEachAsync(await DueAlertsAsync(cancellationToken), AlertAsync, "security alert",
            alert => $"incident {alert.IncidentId} to user {alert.OwnerId}", logger, cancellationToken);
        return opened;
    }

    /// <summary>
    /// The narrow cross-tenant query: per rule, events whose window holds more than the rule allows and that no incident covers
    /// yet. Each group's first such event starts a window; the next window starts after that one ends.
    /// </summary>
    public async Task<IReadOnlyList<Finding>> FindAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        await using var db = system.Open("find bursts of suspicious events in the security audit log");
        var findings = new List<Finding>();
        foreach (var rule in Rules)
        {
            var (kind, types, since) = (SnakeCase.ValueOf(rule.Kind), rule.EventTypes.ToArray(), now - rule.Window - CatchUp);
            // The frame ends a microsecond before the window does: an event exactly one window later starts the next window.
            var frame = rule.Window - TimeSpan.FromMicroseconds(1);
            var bursts = await db.Database.SqlQuery<Burst>($"""
                SELECT e.org_id AS "OrgId", e.user_id AS "UserId", e.occurred_at AS "At", e.in_window::int AS "Events"
                FROM (SELECT org_id, user_id, occurred_at,
                             count(*) OVER (PARTITION BY org_id, user_id ORDER BY occurred_at RANGE BETWEEN CURRENT ROW AND {frame} FOLLOWING) AS in_window
                      FROM security_audit_log
                      WHERE event_type = ANY ({types}) AND occurred_at >= {since} AND occurred_at <= {now}
                        AND (org_id IS NULL) = {rule.SystemWide} AND (user_id IS NOT NULL OR {rule.SystemWide})) e
                WHERE e.in_window > {rule.MoreThan}
                  AND NOT EXISTS (SELECT 1 FROM security_incidents i
                                  WHERE i.kind = {kind} AND i.org_id IS NOT DISTINCT FROM e.org_id AND i.subject_user_id IS NOT DISTINCT FROM e.user_id
                                    AND e.occurred_at >= i.window_start AND e.occurred_at < i.window_end)
                ORDER BY e.org_id, e.user_id, e.occurred_at
                """).ToListAsync(cancellationToken);
            foreach (var group in bursts.GroupBy(b => (b.OrgId, b.UserId)))
            {
                DateTimeOffset? windowEnd = null;
                foreach (var burst in group)
                {
                    if (burst.At < windowEnd) continue;
                    findings.Add(new Finding(rule, burst.OrgId, burst.UserId, burst.At, burst.Events));
                    windowEnd = burst.At + rule.Window;
                }
            }
        }
        return findings;
    }

    /// <summary>
    /// Opens each finding as an incident: an org's in the scope of one of its owners or admins (its own tenant, so row-level security
    /// checks the row like any other write), a system-wide one through the system path. Returns how many were new.
    /// </summary>
    async Task<int> OpenAsync(IReadOnlyList<Finding> findings, CancellationToken cancellationToken)
    {
        if (findings.Count == 0) return 0;
        var admins = await AdminsAsync([.. findings.Where(f => f.OrgId is not null).Select(f => f.OrgId!.Value).Distinct()], cancellationToken);
        var opened = 0;
        foreach (var finding in findings)
        {
            try
            {
                if (finding.OrgId is not { } orgId)
                {
                    await using var db = system.Open("open a system-wide security incident");
                    opened += await InsertAsync(db, finding, who: null, cancellationToken);
                }
                else if (admins.TryGetValue(orgId, out var admin))
                {
                    await using var scope = scopes.CreateTenantScope(orgId, admin);
                    var db = scope.ServiceProvider.GetRequiredService<Use60Db>();
                    var who = await db.Users.AsNoTracking().Where(u => u.Id == finding.UserId).Select(u => u.Name).SingleOrDefaultAsync(cancellationToken);
                    opened += await InsertAsync(db, finding, who ?? "A former member", cancellationToken);
                }
                else
                {
                    // Nobody could see or resolve it; the next run finds it again once the org has an owner or admin.
                    logger.LogWarning("Org {OrgId} has no owner or admin to hold a {Kind} incident", orgId, finding.Rule.Kind);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogError(e, "Could not open a {Kind} incident for org {OrgId}; the next run tries again", finding.Rule.Kind, finding.OrgId);
            }
        }
        if (opened > 0) logger.LogWarning("The security monitor opened {Count} incident(s)", opened);
        return opened;
    }

    async Task<IReadOnlyDictionary<Guid, Guid>> AdminsAsync(Guid[] orgIds, CancellationToken cancellationToken)
    {
        await using var db = system.Open("find an owner or admin of each org with a security finding");
        var admins = await db.Database.SqlQuery<OrgAdmin>($"""
            SELECT DISTINCT ON (org_id) org_id AS "OrgId", id AS "UserId" FROM users
            WHERE org_id = ANY ({orgIds}) AND role IN ('owner', 'admin')
            ORDER BY org_id, role = 'owner' DESC, created_at, id
            """).ToListAsync(cancellationToken);
        return admins.ToDictionary(a => a.OrgId, a => a.UserId);
    }

    /// <summary>Inserts the incident unless its window already has one (the unique key); returns 1 when it is new.</summary>
    async Task<int> InsertAsync(Use60Db db, Finding finding, string? who, CancellationToken cancellationToken)
    {
        var rule = finding.Rule;
        var (kind, severity) = (SnakeCase.ValueOf(rule.Kind), SnakeCase.ValueOf(rule.Severity));
        var windowEnd = finding.WindowStart + rule.Window;
        var summary = Summary(rule, who, finding.Events, finding.WindowStart);
        var details = JsonSerializer.Serialize(new
        {
            events = finding.Events, more_than = rule.MoreThan, window_minutes = (int)rule.Window.TotalMinutes, event_types = rule.EventTypes,
        });
        return await db.Database.ExecuteSqlAsync($"""
            INSERT INTO security_incidents (org_id, kind, severity, subject_user_id, window_start, window_end, summary, details, detected_at)
            VALUES ({finding.OrgId}, {kind}, {severity}, {finding.UserId}, {finding.WindowStart}, {windowEnd}, {summary}, {details}::jsonb, {clock.GetUtcNow()})
            ON CONFLICT DO NOTHING
            """, cancellationToken);
    }

    /// <summary>What happened, in a line for the dashboard and the owners' DM.</summary>
    static string Summary(AnomalyRule rule, string? who, int events, DateTimeOffset start)
    {
        var from = start.ToString("d MMM HH:mm 'UTC'", CultureInfo.InvariantCulture);
        var within = Within(rule.Window);
        return rule.Kind switch
        {
            IncidentKind.CredentialHarvesting =>
                $"{who} read contact data {events} times within {within} from {from} (more than {rule.MoreThan} is unusual).",
            IncidentKind.ConversationExfiltration =>
                $"{who} exported {events} copilot conversations within {within} from {from} (more than {rule.MoreThan} is unusual).",
            IncidentKind.SlackSignatureFailures =>
                $"{events} requests to the Slack endpoints had a bad or missing signature within {within} from {from}: someone may be " +
                "probing them, or SLACK_SIGNING_SECRET may not match the Slack app's signing secret.",
            _ => throw new ArgumentOutOfRangeException(nameof(rule), rule.Kind, null),
        };
    }

    /// <summary>"an hour", "10 minutes".</summary>
    public static string Within(TimeSpan window) =>
        window == TimeSpan.FromHours(1) ? "an hour" : window.TotalHours >= 1 ? $"{window.TotalHours:0} hours" : $"{window.TotalMinutes:0} minutes";

    /// <summary>Closes system-wide incidents whose events stopped a <see cref="QuietPeriod"/> ago: no org's admin can resolve them.</summary>
    async Task ResolveQuietAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var quietSince = now - QuietPeriod;
        await using var db = system.Open("resolve system-wide security incidents that went quiet");
        foreach (var rule in Rules.Where(r => r.SystemWide))
        {
            var (kind, types) = (SnakeCase.ValueOf(rule.Kind), rule.EventTypes.ToArray());
            var note = $"Resolved by use60: none for {Within(QuietPeriod)}.";
            var resolved = await db.Database.ExecuteSqlAsync($"""
                UPDATE security_incidents SET status = 'resolved', resolved_at = {now}, resolution_note = {note}
                WHERE org_id IS NULL AND kind = {kind} AND status = 'open' AND window_end <= {now}
                  AND NOT EXISTS (SELECT 1 FROM security_audit_log WHERE org_id IS NULL AND event_type = ANY ({types}) AND occurred_at > {quietSince})
                """, cancellationToken);
            if (resolved > 0) logger.LogInformation("Resolved {Count} quiet system-wide {Kind} incident(s)", resolved, rule.Kind);
        }
    }

    /// <summary>The narrow cross-tenant query: owners (with a Slack user) not yet alerted about a recent open critical incident of their org.</summary>
    public async Task<IReadOnlyList<DueAlert>> DueAlertsAsync(CancellationToken cancellationToken)
    {
        var since = clock.GetUtcNow() - AlertWithin;
        await using var db = system.Open("find owners to alert about critical security incidents");
        return await db.Database.SqlQuery<DueAlert>($"""
            SELECT i.id AS "IncidentId", i.org_id AS "OrgId", u.id AS "OwnerId"
            FROM security_incidents i
            JOIN orgs o ON o.id = i.org_id
            JOIN users u ON u.org_id = i.org_id AND u.role = 'owner'
            WHERE i.severity = 'critical' AND i.status = 'open' AND i.detected_at >= {since}
              AND u.slack_user_id IS NOT NULL AND o.slack_disabled_at IS NULL
              AND NOT EXISTS (SELECT 1 FROM security_incident_alerts a WHERE a.incident_id = i.id AND a.user_id = u.id)
            ORDER BY i.id, u.id
            """).ToListAsync(cancellationToken);
    }

    /// <summary>In the owner's own tenant scope: claims the alert and queues the DM in one transaction; false when already alerted.</summary>
    public async Task<bool> AlertAsync(DueAlert due, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateTenantScope(due.OrgId, due.OwnerId);
        var db = scope.ServiceProvider.GetRequiredService<Use60Db>();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var claimed = await db.Database.ExecuteSqlAsync($"""
            INSERT INTO security_incident_alerts (incident_id, org_id, user_id, alerted_at)
            VALUES ({due.IncidentId}, {due.OrgId}, {due.OwnerId}, {clock.GetUtcNow()})
            ON CONFLICT DO NOTHING
            """, cancellationToken);
        if (claimed == 0) return false;
        var incident = await db.SecurityIncidents.AsNoTracking().SingleAsync(i => i.Id == due.IncidentId, cancellationToken);
        var org = await db.Orgs.AsNoTracking().Where(o => o.Id == due.OrgId).Select(o => o.Name).SingleAsync(cancellationToken);
        var dashboard = new Uri(options.Value.PublicUri, Pages.SecurityModel.PagePath.TrimStart('/'));
        outbox.Add(db, OutboxDraft.Dm(due.OrgId, due.OwnerId, AlertMessage(incident, org, dashboard), $"security incident {incident.Id}"));
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        outbox.Notify();
        return true;
    }

    public static SlackMessage AlertMessage(SecurityIncident incident, string org, Uri dashboard) =>
        new($"Critical security incident in {org}: {incident.Summary}", [
            new HeaderBlock("Critical security incident"),
            new SectionBlock(incident.Summary, [
                $"*Org*\n{org}", $"*Detected*\n{incident.DetectedAt.ToString("d MMM yyyy HH:mm 'UTC'", CultureInfo.InvariantCulture)}",
            ]),
            new SectionBlock($"Review it, and resolve it once it is dealt with, on the <{dashboard}|security dashboard>."),
            new ContextBlock([$"Every owner of {org} gets this once per critical incident."]),
        ]);
}

/// <summary>Quartz's handle on the security monitor: every 10 minutes, on whichever replica the cluster picks.</summary>
[DisallowConcurrentExecution]
public sealed class SecurityMonitorJob(SecurityMonitor monitor) : IJob
{
    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken) => await monitor.RunAsync(cancellationToken);
}
