using System.ComponentModel.DataAnnotations.Schema;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Use60.Data;
using Use60.Orgs;

namespace Use60.Calendar;

public enum CalendarConnectionStatus { Active, Revoked }

/// <summary>A rep's connected Google Calendar: the sealed refresh token, and how its sync is going.</summary>
[Table("calendar_connections")]
public sealed class CalendarConnection : IOrgOwned, IUpdatedAt
{
    /// <summary>The rep's own calendar, the one whose meetings they go to.</summary>
    public const string PrimaryCalendar = "primary";

    public Guid OrgId { get; set; }
    public Guid UserId { get; set; }
    public string Provider { get; set; } = "google";

    /// <summary>The Google account, as Google names the primary calendar; shown to the rep and the admin.</summary>
    public string? AccountEmail { get; set; }

    /// <summary>AES-256-GCM (<see cref="Privacy.SecretBox"/>), bound to the rep: never readable from the table alone.</summary>
    public required byte[] RefreshTokenEncrypted { get; set; }

    public CalendarConnectionStatus Status { get; set; } = CalendarConnectionStatus.Active;
    public DateTimeOffset ConnectedAt { get; set; }
    public DateTimeOffset? LastSyncedAt { get; set; }
    public string? LastError { get; set; }

    /// <summary>Syncs in a row that failed; the backoff grows with it.</summary>
    public int Failures { get; set; }

    /// <summary>Backing off: no scheduled sync before this instant.</summary>
    public DateTimeOffset? NextSyncAt { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }
}

sealed class CalendarConnectionConfiguration : IEntityTypeConfiguration<CalendarConnection>
{
    public void Configure(EntityTypeBuilder<CalendarConnection> connection)
    {
        connection.HasKey(c => new { c.OrgId, c.UserId });
        connection.References<CalendarConnection, AppUser>(c => c.UserId);
    }
}
