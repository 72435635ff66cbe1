using System.Globalization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Use60.Admin;
using Use60.Data;

namespace Use60.Security.Pages;

/// <summary>
/// The security dashboard (/admin/security): the health score with each factor's points, the incidents the security monitor opened
/// (an admin resolves the org's own, audited), the monitor's rules, and the GDPR compliance report.
/// </summary>
public sealed class SecurityModel(SecurityDashboard dashboard) : PageModel
{
    public const string PagePath = "/admin/security";

    public HealthScore Health { get; private set; } = new([]);
    public IReadOnlyList<IncidentLine> Open { get; private set; } = [];
    public IReadOnlyList<IncidentLine> Resolved { get; private set; } = [];
    public IReadOnlyList<ComplianceItem> Gdpr { get; private set; } = [];

    /// <summary>What the last Resolve did, shown once after the redirect.</summary>
    [TempData]
    public string? Notice { get; set; }

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        Health = await dashboard.HealthAsync(cancellationToken);
        (Open, Resolved) = await dashboard.IncidentsAsync(cancellationToken);
        Gdpr = await dashboard.GdprAsync(cancellationToken);
    }

    /// <summary>The GDPR report as a self-contained HTML file, to keep or send on (an auditor, a customer's DPO).</summary>
    public async Task<IActionResult> OnGetGdprReportAsync([FromServices] Use60Db db, [FromServices] TimeProvider clock, CancellationToken cancellationToken)
    {
        var org = await db.Orgs.AsNoTracking().SingleAsync(cancellationToken);
        var now = clock.GetUtcNow();
        var html = GdprReport.Html(org.Name, now, await dashboard.GdprAsync(cancellationToken));
        return File(System.Text.Encoding.UTF8.GetBytes(html), "text/html; charset=utf-8", $"gdpr-report-{now:yyyy-MM-dd}.html");
    }

    public async Task<IActionResult> OnPostResolveAsync([FromForm] long incident, [FromForm] string? note, CancellationToken cancellationToken)
    {
        if (AdminClaims.Read(User) is not (var orgId, var userId, _)) return Forbid();
        Notice = await dashboard.ResolveAsync(incident, note, orgId, userId, HttpContext, cancellationToken)
            ? "The incident is resolved."
            : "That incident is not open any more, or it is a system-wide one, which use60 resolves itself.";
        return RedirectToPage();
    }

    public static string When(DateTimeOffset? at) => at is null ? "—" : at.Value.ToString("d MMM yyyy HH:mm 'UTC'", CultureInfo.InvariantCulture);

    public static string KindName(IncidentKind kind) => kind switch
    {
        IncidentKind.CredentialHarvesting => "Credential harvesting",
        IncidentKind.ConversationExfiltration => "Conversation exfiltration",
        IncidentKind.SlackSignatureFailures => "Bad Slack signatures",
        _ => kind.ToString(),
    };

    public static string SeverityName(AuditSeverity severity) => SnakeCase.ValueOf(severity);

    /// <summary>A rule of the monitor in words: "more than 50 copilot.contacts_read events by one person within an hour".</summary>
    public static string RuleText(AnomalyRule rule) =>
        $"more than {rule.MoreThan} {string.Join(" or ", rule.EventTypes)} events {(rule.SystemWide ? "across use60 (no org)" : "by one person")} " +
        $"within {SecurityMonitor.Within(rule.Window)}";
}
