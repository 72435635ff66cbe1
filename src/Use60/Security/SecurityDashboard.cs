using Microsoft.EntityFrameworkCore;
using Use60.Data;

namespace Use60.Security;

/// <summary>One part of the health score: the points it earns of its maximum, and why.</summary>
/// <param name="Unavailable">Points no setting can earn yet, because the feature behind them does not exist.</param>
public sealed record HealthFactor(string Key, string Name, int Points, int MaxPoints, string Explanation, int Unavailable = 0);

public sealed record HealthScore(IReadOnlyList<HealthFactor> Factors)
{
    public int Score => Factors.Sum(f => f.Points);
    public int Max => Factors.Sum(f => f.MaxPoints);
    public int BestPossibleToday => Max - Factors.Sum(f => f.Unavailable);
    public string Rating => Score >= 80 ? "good" : Score >= 50 ? "fair" : "poor";
}

public enum ComplianceStatus { InPlace, NotInPlace }

public sealed record ComplianceItem(string Key, string Requirement, ComplianceStatus Status, string Explanation);

/// <summary>An incident as the dashboard lists it: with the names of whom it is about and who resolved it.</summary>
public sealed record IncidentLine(SecurityIncident Incident, string? Subject, string? ResolvedByName);

/// <summary>
/// The security dashboard's figures, read in the viewer's tenant scope: row-level security lets owners and admins read their org's
/// audit log and incidents (and the system-wide incidents), and anyone read the catalog that says which tables row-level security
/// covers. Resolving an incident is audited.
/// </summary>
public sealed class SecurityDashboard(Use60Db db, SecurityAudit audit, TimeProvider clock)
{
    /// <summary>What one open incident costs the score, by severity.</summary>
    public static readonly IReadOnlyDictionary<AuditSeverity, int> IncidentCost = new Dictionary<AuditSeverity, int>
    {
        [AuditSeverity.Critical] = 30, [AuditSeverity.High] = 15, [AuditSeverity.Medium] = 8, [AuditSeverity.Low] = 3,
    };

    /// <summary>What one medium-or-worse audit event of the last <see cref="SuspiciousWindow"/> costs the score.</summary>
    public const int SuspiciousEventCost = 2;

    public static readonly TimeSpan SuspiciousWindow = TimeSpan.FromHours(24);
    public static readonly TimeSpan ResolvedShownFor = TimeSpan.FromDays(30);
    static readonly TimeSpan AccessLogPeriod = TimeSpan.FromDays(30);
    public const int MaxNote = 500;

    /// <summary>The triggers of migration 0001 that make the audit log append-only.</summary>
    static readonly string[] AppendOnlyTriggers = ["security_audit_log_no_update_or_delete", "security_audit_log_no_truncate"];

    /// <summary>The org's retention policy in words, and whether it is enforced (auto-delete on): Settings → Data retention.</summary>
    async Task<(bool Enforced, string Policy, string Words)> RetentionAsync(CancellationToken cancellationToken)
    {
        var settings = await db.OrgSettings.AsNoTracking().SingleAsync(cancellationToken);
        var policy = $"Prospects' data is kept {settings.RetentionDays} days after their last activity ({settings.EuRetentionDays} for EU residents).";
        return settings.AutoDelete
            ? (true, policy, $"Enforced: {policy} The privacy-retention job deletes what is past its date every night.")
            : (false, policy, $"Set but not enforced: {policy} Auto-delete is off, so nothing is deleted (Settings → Data retention).");
    }

    sealed record SeverityCount(AuditSeverity Severity, int Count);

    public sealed record TableCoverage(string Table, bool Enabled, bool Forced, bool HasPolicy)
    {
        public bool Covered => Enabled && Forced && HasPolicy;

        public string Gap => string.Join(", ", new[] { Enabled ? null : "not enabled", Forced ? null : "not forced", HasPolicy ? null : "no policy" }
            .OfType<string>());
    }

    public async Task<HealthScore> HealthAsync(CancellationToken cancellationToken)
    {
        var appendOnly = await AuditLogAppendOnlyAsync(cancellationToken);
        var retention = await RetentionAsync(cancellationToken);
        return new HealthScore([
            await IncidentsFactorAsync(cancellationToken),
            await SuspiciousFactorAsync(cancellationToken),
            CoverageFactor(await CoverageAsync(cancellationToken)),
            new HealthFactor("retention-audit", "Retention and audit settings", (appendOnly ? 10 : 0) + (retention.Enforced ? 10 : 0), 20,
                (appendOnly
                    ? "The audit log is on and append-only (10 of 10): PostgreSQL refuses to change or delete its entries. "
                    : "The audit log's append-only protection is missing (0 of 10): its entries could be changed or deleted. ") +
                $"Retention policy ({(retention.Enforced ? 10 : 0)} of 10): {retention.Words}"),
        ]);
    }

    async Task<HealthFactor> IncidentsFactorAsync(CancellationToken cancellationToken)
    {
        var open = await db.SecurityIncidents.AsNoTracking().Where(i => i.Status == IncidentStatus.Open)
            .GroupBy(i => i.Severity).Select(g => new SeverityCount(g.Key, g.Count())).ToListAsync(cancellationToken);
        var cost = open.Sum(o => IncidentCost.GetValueOrDefault(o.Severity) * o.Count);
        const int max = 30;
        return new HealthFactor("incidents", "Open incidents", Math.Max(0, max - cost), max, open.Count == 0
            ? "No open incidents."
            : $"{Counted(open, "open incident")}: −{cost}. Resolve an incident below once it is dealt with.");
    }

    async Task<HealthFactor> SuspiciousFactorAsync(CancellationToken cancellationToken)
    {
        var since = clock.GetUtcNow() - SuspiciousWindow;
        var events = await db.SecurityAuditLog.AsNoTracking()
            .Where(a => a.OccurredAt >= since && (a.Severity == AuditSeverity.Medium || a.Severity == AuditSeverity.High || a.Severity == AuditSeverity.Critical))
            .GroupBy(a => a.Severity).Select(g => new SeverityCount(g.Key, g.Count())).ToListAsync(cancellationToken);
        var cost = events.Sum(e => e.Count) * SuspiciousEventCost;
        const int max = 20;
        return new HealthFactor("suspicious", "Suspicious activity", Math.Max(0, max - cost), max, events.Count == 0
            ? "No medium, high or critical audit events in the last 24 hours."
            : $"{Counted(events, "audit event")} in the last 24 hours, {SuspiciousEventCost} points each: −{cost}. See them in the audit log.");
    }

    static HealthFactor CoverageFactor(IReadOnlyList<TableCoverage> tables)
    {
        const int max = 30;
        var covered = tables.Count(t => t.Covered);
        var points = tables.Count == 0 ? max : max * covered / tables.Count;
        var gaps = tables.Where(t => !t.Covered).Select(t => $"{t.Table} ({t.Gap})").ToList();
        return new HealthFactor("rls", "Row-level security coverage", points, max,
            $"{covered} of {tables.Count} tables holding tenant data (those with an org_id column) have row-level security enabled, forced and " +
            "a policy for the app's connections" + (gaps.Count == 0 ? "." : ". Not covered: " + string.Join("; ", gaps) + "."));
    }

    /// <summary>Every table with an org_id column, and whether row-level security binds the app's role on it, from the catalog.</summary>
    public async Task<IReadOnlyList<TableCoverage>> CoverageAsync(CancellationToken cancellationToken) =>
        await db.Database.SqlQuery<TableCoverage>($"""
            SELECT c.relname::text AS "Table", c.relrowsecurity AS "Enabled", c.relforcerowsecurity AS "Forced",
                   EXISTS (SELECT 1 FROM pg_policies p WHERE p.schemaname = 'public' AND p.tablename = c.relname AND 'public' = ANY (p.roles)) AS "HasPolicy"
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
              AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'org_id' AND a.attnum > 0 AND NOT a.attisdropped)
            ORDER BY c.relname
            """).ToListAsync(cancellationToken);

    async Task<bool> AuditLogAppendOnlyAsync(CancellationToken cancellationToken) =>
        await db.Database.SqlQuery<int>($"""
            SELECT count(*)::int AS "Value" FROM pg_trigger
            WHERE tgrelid = 'security_audit_log'::regclass AND tgname = ANY ({AppendOnlyTriggers}) AND tgenabled <> 'D'
            """).SingleAsync(cancellationToken) == AppendOnlyTriggers.Length;

    /// <summary>"1 critical and 2 high open incidents".</summary>
    static string Counted(IReadOnlyList<SeverityCount> counts, string noun)
    {
        var total = counts.Sum(c => c.Count);
        var parts = counts.OrderByDescending(c => c.Severity).Select(c => $"{c.Count} {SnakeCase.ValueOf(c.Severity)}").ToList();
        var list = parts.Count == 1 ? parts[0] : string.Join(", ", parts[..^1]) + " and " + parts[^1];
        return $"{list} {noun}{(total == 1 ? "" : "s")}";
    }

    /// <summary>The open incidents (the org's and the system-wide ones), and those resolved in the last 30 days; newest first.</summary>
    public async Task<(IReadOnlyList<IncidentLine> Open, IReadOnlyList<IncidentLine> Resolved)> IncidentsAsync(CancellationToken cancellationToken)
    {
        var since = clock.GetUtcNow() - ResolvedShownFor;
        var incidents = await db.SecurityIncidents.AsNoTracking()
            .Where(i => i.Status == IncidentStatus.Open || i.ResolvedAt >= since)
            .OrderByDescending(i => i.DetectedAt).ThenByDescending(i => i.Id).ToListAsync(cancellationToken);
        var names = await db.Users.AsNoTracking().ToDictionaryAsync(u => u.Id, u => u.Name, cancellationToken);
        var lines = incidents.Select(i => new IncidentLine(i,
            i.SubjectUserId is { } subject ? names.GetValueOrDefault(subject, "a former member") : null,
            i.ResolvedBy is { } by ? names.GetValueOrDefault(by, "a former member") : null)).ToList();
        return ([.. lines.Where(l => l.Incident.Status == IncidentStatus.Open)], [.. lines.Where(l => l.Incident.Status == IncidentStatus.Resolved)]);
    }

    /// <summary>
    /// Resolves one of the org's open incidents and audits it, in one transaction; false when it is not open or not the org's (a
    /// system-wide incident, which the monitor resolves itself).
    /// </summary>
    public async Task<bool> ResolveAsync(long incidentId, string? note, Guid orgId, Guid userId, HttpContext http, CancellationToken cancellationToken)
    {
        note = note?.Trim() is { Length: > 0 } text ? text[..Math.Min(text.Length, MaxNote)] : null;
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var resolved = await db.Database.SqlQuery<string>($"""
            UPDATE security_incidents SET status = 'resolved', resolved_by = {userId}, resolved_at = {clock.GetUtcNow()}, resolution_note = {note}
            WHERE id = {incidentId} AND org_id = {orgId} AND status = 'open'
            RETURNING kind AS "Value"
            """).ToListAsync(cancellationToken);
        if (resolved is not [var kind]) return false;
        audit.Record(db, AuditEvents.IncidentResolved, AuditSeverity.Info, orgId, userId, new { incident = incidentId, kind, note }, http);
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>The GDPR report: what is in place today, and plainly what is not yet.</summary>
    public async Task<IReadOnlyList<ComplianceItem>> GdprAsync(CancellationToken cancellationToken)
    {
        var since = clock.GetUtcNow() - AccessLogPeriod;
        var logged = await db.SecurityAuditLog.AsNoTracking().Where(a => a.OccurredAt >= since)
            .GroupBy(a => a.EventType == AuditEvents.ContactsRead).Select(g => new { ContactReads = g.Key, Count = g.Count() })
            .ToListAsync(cancellationToken);
        var (entries, contactReads) = (logged.Sum(l => l.Count), logged.Where(l => l.ContactReads).Sum(l => l.Count));
        var appendOnly = await AuditLogAppendOnlyAsync(cancellationToken);
        var retention = await RetentionAsync(cancellationToken);
        return
        [
            new ComplianceItem("retention", "Retention policy set", ComplianceStatus.InPlace, retention.Policy + " Settings → Data retention."),
            new ComplianceItem("auto-delete", "Auto-delete on", retention.Enforced ? ComplianceStatus.InPlace : ComplianceStatus.NotInPlace,
                retention.Enforced ? "On: contacts past their date are deleted every night at 02:00 UTC, and the audit log counts what went."
                    : "Off: contacts past their retention date are kept until someone deletes them (Settings → Data retention)."),
            new ComplianceItem("access-logging", "Access logging on", appendOnly ? ComplianceStatus.InPlace : ComplianceStatus.NotInPlace,
                (appendOnly ? "On. " : "On, but its append-only protection is missing, so entries could be changed or deleted. ") +
                "Admin sign-ins, refusals and admin actions, and every copilot lookup of contact data, go to the security audit log: " +
                $"{entries} entries in the last 30 days, {contactReads} of them contact lookups."),
            await ErasureItemAsync(cancellationToken),
            await ExportsItemAsync(cancellationToken),
        ];
    }

    /// <summary>Access and portability (Privacy page): the exports made this month (UTC), from the audit log, which every export is written to.</summary>
    async Task<ComplianceItem> ExportsItemAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var monthStart = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero);
        var made = await db.SecurityAuditLog.AsNoTracking().Where(a => a.EventType == AuditEvents.ExportCreated && a.OccurredAt >= monthStart)
            .CountAsync(cancellationToken);
        var downloaded = await db.SecurityAuditLog.AsNoTracking().Where(a => a.EventType == AuditEvents.ExportDownloaded && a.OccurredAt >= monthStart)
            .CountAsync(cancellationToken);
        return new ComplianceItem("exports", "Access and portability exports", ComplianceStatus.InPlace,
            $"{made} exports made this month, {downloaded} downloaded. A person's data (access or portability request) or the whole org's is " +
            "exported from the Privacy page, and a rep's own conversations with /sixty export; each link works once, for 24 hours.");
    }

    /// <summary>Erasure requests (Privacy page): in place while no approved one has gone past GDPR's month without being carried out.</summary>
    async Task<ComplianceItem> ErasureItemAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var open = await db.PrivacyRequests.AsNoTracking()
            .Where(r => r.Status == Privacy.PrivacyRequestStatus.Pending || r.Status == Privacy.PrivacyRequestStatus.Approved)
            .Select(r => new { r.Status, r.RequestedAt, r.DecidedAt }).ToListAsync(cancellationToken);
        var overdue = open.Count(r => r.Status == Privacy.PrivacyRequestStatus.Approved && r.DecidedAt + Privacy.PrivacyRequests.Deadline < now);
        var oldest = open.Count == 0 ? "" : $", the oldest made {(int)(now - open.Min(r => r.RequestedAt)).TotalDays} days ago";
        var words = open.Count == 0
            ? "No erasure requests are open. Requests are made and approved on the Privacy page and carried out after a 30-day grace period."
            : $"{open.Count} open ({open.Count(r => r.Status == Privacy.PrivacyRequestStatus.Pending)} waiting for approval{oldest})" +
              (overdue > 0 ? $"; {overdue} approved more than 30 days ago and not yet carried out." : "; none overdue.");
        return new ComplianceItem("erasure", "Erasure requests handled in time", overdue == 0 ? ComplianceStatus.InPlace : ComplianceStatus.NotInPlace, words);
    }
}

/// <summary>The GDPR report (<see cref="SecurityDashboard.GdprAsync"/>) as one HTML document with its own styles: it opens anywhere, offline.</summary>
public static class GdprReport
{
    public static string Html(string org, DateTimeOffset at, IReadOnlyList<ComplianceItem> items)
    {
        static string E(string text) => System.Net.WebUtility.HtmlEncode(text);
        var rows = string.Concat(items.Select(item =>
        {
            var inPlace = item.Status == ComplianceStatus.InPlace;
            return $"""<tr data-requirement="{E(item.Key)}"><th>{E(item.Requirement)}</th><td class="{(inPlace ? "ok" : "missing")}">{(inPlace ? "In place" : "Not in place")}</td><td>{E(item.Explanation)}</td></tr>""";
        }));
        return $$"""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>GDPR report · {{E(org)}}</title>
            <style>body{font:14px/1.5 system-ui,sans-serif;margin:2rem;max-width:60rem}table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;padding:.4rem .6rem;text-align:left;vertical-align:top}.ok{color:#1b6e2e}.missing{color:#a12a1a;font-weight:600}</style>
            </head><body>
            <h1>GDPR report: {{E(org)}}</h1>
            <p>Made by use60 on {{at.ToString("d MMMM yyyy 'at' HH:mm 'UTC'", System.Globalization.CultureInfo.InvariantCulture)}}.</p>
            <table><thead><tr><th>Requirement</th><th>Status</th><th>Details</th></tr></thead><tbody>{{rows}}</tbody></table>
            </body></html>
            """;
    }
}
