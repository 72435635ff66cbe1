using System.ComponentModel.DataAnnotations.Schema;
using System.Net;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Use60.Admin;
using Use60.Data;

namespace Use60.Security;

public enum AuditSeverity { Info, Low, Medium, High, Critical }

/// <summary>
/// One line of the security audit log. The table is append-only: PostgreSQL refuses UPDATE, DELETE and
/// TRUNCATE on it for every role, the app's included.
/// </summary>
[Table("security_audit_log")]
public sealed class SecurityAuditEvent
{
    public Guid Id { get; set; } = Guid.CreateVersion7();
    public DateTimeOffset OccurredAt { get; set; }

    /// <summary>Null for events no org can be named for yet, such as a request with a bad Slack signature.</summary>
    public Guid? OrgId { get; set; }

    public Guid? UserId { get; set; }
    public required string EventType { get; set; }
    public AuditSeverity Severity { get; set; }
    public IPAddress? IpAddress { get; set; }
    public string? UserAgent { get; set; }

    /// <summary>A JSON object; never secrets, tokens or message contents.</summary>
    public string Details { get; set; } = "{}";
}

public static class AuditEvents
{
    public const string AdminLinkCreated = "admin.link_created";
    public const string AdminSignIn = "admin.sign_in";
    public const string AdminSignInFailed = "admin.sign_in_failed";
    public const string AdminSignOut = "admin.sign_out";
    public const string SecondFactorEnrolled = "admin.second_factor_enrolled";
    public const string SecondFactorPassed = "admin.second_factor_passed";
    public const string SecondFactorFailed = "admin.second_factor_failed";
    public const string AdminAccessDenied = "admin.access_denied";
    public const string SlackRequestRejected = "slack.request_rejected";
    public const string SlackInstalled = "slack.installed";
    public const string SlackInstallRefused = "slack.install_refused";
    public const string SlackTokensDisabled = "slack.tokens_disabled";
    public const string CalendarConnected = "calendar.connected";
    public const string CalendarConnectRefused = "calendar.connect_refused";
    public const string CalendarDisconnected = "calendar.disconnected";
    public const string CalendarAccessRevoked = "calendar.access_revoked";
    public const string JobRunRequested = "admin.job_run_requested";
    public const string RoleChanged = "admin.role_changed";
    public const string SettingsChanged = "admin.settings_changed";
    public const string ProfileRestored = "admin.profile_restored";
    public const string SkillChanged = "admin.skill_changed";
    public const string SkillRestored = "admin.skill_restored";
    public const string RecordingUploadRetried = "admin.recording_upload_retried";

    /// <summary>
    /// Contact data was read: by the copilot for a rep (a search by name — resolve_entity, or a name in an action — or one contact's details),
    /// or in the admin site where contacts' PII is opened (<c>via</c> says which).
    /// </summary>
    public const string ContactsRead = "copilot.contacts_read";

    /// <summary>
    /// A user's copilot conversations were exported (/sixty export, at most 10 an hour); the security monitor watches for bursts.
    /// </summary>
    public const string ConversationExported = "copilot.conversation_exported";

    public const string IncidentResolved = "security.incident_resolved";

    /// <summary>A signed Slack interaction named another org's row (a pending action, deal, task, user…): refused, nothing done.</summary>
    public const string CrossTenantReference = "security.cross_tenant_reference";

    /// <summary>The retention job deleted an org's contacts past their date: counts of what went, never the data.</summary>
    public const string RetentionDeleted = "privacy.retention_deleted";

    public const string PrivacyRequestCreated = "privacy.request_created";
    public const string PrivacyRequestApproved = "privacy.request_approved";
    public const string PrivacyRequestRejected = "privacy.request_rejected";

    /// <summary>An export was asked for (person, org or conversations): who, which, never the person's address.</summary>
    public const string ExportCreated = "privacy.export_created";

    /// <summary>A conversation export over the limit of 10 an hour was refused.</summary>
    public const string ExportRefused = "privacy.export_refused";

    /// <summary>An export's one-time link was used: the ZIP left use60 and was then deleted from the store.</summary>
    public const string ExportDownloaded = "privacy.export_downloaded";

    /// <summary>An erasure was executed: the tombstone (who asked, who approved, counts of what went; never the person's data).</summary>
    public const string ErasureExecuted = "privacy.erasure_executed";

    /// <summary>An erasure failed every time the job tried it; it waits for an admin (the error's kind and message, never the person's data).</summary>
    public const string ErasureFailed = "privacy.erasure_failed";

    /// <summary>An admin asked for an erasure the job gave up on to be tried again.</summary>
    public const string ErasureRetried = "privacy.erasure_retried";

    /// <summary>A notetaker bot was claimed for a meeting, with its consent basis (org policy or the rep's choice).</summary>
    public const string RecordingConsent = "notetaker.recording_consent";

    /// <summary>A notetaker bot was called back (the meeting was cancelled or changed, or the rep said don't record), with why.</summary>
    public const string RecordingCancelled = "notetaker.recording_cancelled";

    /// <summary>A rep marked a meeting "Don't record".</summary>
    public const string DoNotRecord = "notetaker.do_not_record";

    /// <summary>A request to /webhooks/meetingbaas without a valid signature.</summary>
    public const string NotetakerWebhookRejected = "notetaker.webhook_rejected";

    /// <summary>Events of read kinds that touch personal data: what credential-harvesting detection counts.</summary>
    public static readonly IReadOnlyList<string> SensitiveReads = [ContactsRead];
}

public sealed class SecurityAudit(TimeProvider clock)
{
    /// <summary>Adds an audit row to <paramref name="db"/>; it is written with the caller's SaveChangesAsync.</summary>
    public SecurityAuditEvent Record(Use60Db db, string eventType, AuditSeverity severity, Guid? orgId, Guid? userId,
        object? details = null, HttpContext? http = null)
    {
        var row = new SecurityAuditEvent
        {
            OccurredAt = clock.GetUtcNow(),
            OrgId = orgId,
            UserId = userId,
            EventType = eventType,
            Severity = severity,
            IpAddress = http?.Connection.RemoteIpAddress,
            UserAgent = HttpContextExtensions.UserAgentOf(http),
            Details = JsonSerializer.Serialize(details ?? new { }),
        };
        db.SecurityAuditLog.Add(row);
        return row;
    }

    /// <summary>
    /// Records that the scope's rep read contact data (<see cref="AuditEvents.ContactsRead"/>): how many contacts, and through what,
    /// never who. Written with the caller's SaveChangesAsync.
    /// </summary>
    public void RecordContactsRead(Use60Db db, string via, int contacts) =>
        Record(db, AuditEvents.ContactsRead, AuditSeverity.Info, db.Tenant.OrgId, db.Tenant.UserId, new { via, contacts });
}

public static class HttpContextExtensions
{
    const int MaxUserAgent = 512;

    /// <summary>The client's User-Agent, bounded in length (it is stored), or null when it sent none.</summary>
    public static string? UserAgentOf(HttpContext? http) =>
        http?.Request.Headers.UserAgent.ToString() is { Length: > 0 } agent ? agent[..Math.Min(agent.Length, MaxUserAgent)] : null;
}

sealed class SecurityAuditEventConfiguration : IEntityTypeConfiguration<SecurityAuditEvent>
{
    public void Configure(EntityTypeBuilder<SecurityAuditEvent> audit) => audit.Property(a => a.Details).HasColumnType("jsonb");
}

public static class SecurityFeature
{
    /// <summary>The audit log, the security monitor (scheduled with the other jobs in ProactiveFeature) and the dashboard's pages.</summary>
    public static IServiceCollection AddSecurity(this IServiceCollection services)
    {
        services.AddSingleton<SecurityAudit>();
        services.AddScoped<SecurityMonitor>();
        services.AddScoped<SecurityDashboard>();
        services.AddScoped<AuditLogSearch>();
        services.AddSingleton<CrossTenantGuard>();
        services.AddSingleton(new AdminNavItem("Security", Pages.SecurityModel.PagePath, 50));
        services.AddSingleton(new AdminNavItem("Audit log", Pages.AuditLogModel.PagePath, 51));
        return services;
    }
}
