using System.ComponentModel.DataAnnotations.Schema;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Use60.Security;

public enum IncidentKind { CredentialHarvesting, ConversationExfiltration, SlackSignatureFailures }

public enum IncidentStatus { Open, Resolved }

/// <summary>
/// Something the security monitor found in the audit log: one per rule, org, user and window (a unique key), so the same burst
/// never makes two incidents. <see cref="OrgId"/> is null for a system-wide incident, which every org's owners and admins see.
/// </summary>
[Table("security_incidents")]
public sealed class SecurityIncident
{
    public long Id { get; set; }
    public Guid? OrgId { get; set; }
    public IncidentKind Kind { get; set; }
    public AuditSeverity Severity { get; set; }

    /// <summary>Whose activity it is (null for a system-wide incident).</summary>
    public Guid? SubjectUserId { get; set; }

    /// <summary>From the burst's first event, one rule window long.</summary>
    public DateTimeOffset WindowStart { get; set; }

    public DateTimeOffset WindowEnd { get; set; }
    public required string Summary { get; set; }

    /// <summary>A JSON object: the counts and the rule that matched; never message contents.</summary>
    public string Details { get; set; } = "{}";

    public DateTimeOffset DetectedAt { get; set; }
    public IncidentStatus Status { get; set; }

    /// <summary>The admin who resolved it; null while open, or when the monitor resolved a system-wide one itself.</summary>
    public Guid? ResolvedBy { get; set; }

    public DateTimeOffset? ResolvedAt { get; set; }
    public string? ResolutionNote { get; set; }

    public bool IsSystemWide => OrgId is null;
}

sealed class SecurityIncidentConfiguration : IEntityTypeConfiguration<SecurityIncident>
{
    public void Configure(EntityTypeBuilder<SecurityIncident> incident)
    {
        incident.Property(i => i.Id).UseIdentityAlwaysColumn();
        incident.Property(i => i.Details).HasColumnType("jsonb");
    }
}
