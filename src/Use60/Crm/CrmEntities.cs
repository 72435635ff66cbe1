using System.ComponentModel.DataAnnotations.Schema;
using System.Runtime.Serialization;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Use60.Calendar;
using Use60.Data;
using Use60.Orgs;

namespace Use60.Crm;

// The sales data. Each row belongs to an org and to the rep who owns it (user_id; owner_user_id on meetings,
// as in the seeds). Colleagues see it only where the org's sharing toggle for that kind of data is on.

/// <summary>Pipeline stages, in order, with the win probability a new deal in that stage gets.</summary>
public enum DealStage { Lead, Qualified, Demo, Proposal, Negotiation, ClosedWon, ClosedLost }

public enum ActivityType { Email, Call, Meeting, Note, Linkedin }

/// <summary>Where a contact's consent came from.</summary>
public enum ConsentSource { CsvUpload, CrmSync, Manual, Meeting }

public enum CrmTaskStatus { Open, Done, Cancelled }

public enum MeetingSource
{
    Fathom,
    [EnumMember(Value = "60_notetaker")] Notetaker,
    Manual,
}

public static class DealStages
{
    /// <summary>An open deal with no activity for this many days is stalled (the seeds' 7+ days), unless the org chose otherwise.</summary>
    public const int DefaultStallDays = 7;

    public static int DefaultProbability(DealStage stage) => stage switch
    {
        DealStage.Lead => 10,
        DealStage.Qualified => 25,
        DealStage.Demo => 40,
        DealStage.Proposal => 60,
        DealStage.Negotiation => 80,
        DealStage.ClosedWon => 100,
        _ => 0,
    };

    public static bool IsOpen(this DealStage stage) => stage is not (DealStage.ClosedWon or DealStage.ClosedLost);
}

[Table("companies")]
public sealed class Company : IOrgOwned, ICreatedAt, IUpdatedAt
{
    public Guid Id { get; set; } = Guid.CreateVersion7();
    public Guid OrgId { get; set; }
    public Guid UserId { get; set; }
    public required string Name { get; set; }
    public string? Domain { get; set; }
    public string? Industry { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
}

[Table("contacts")]
public sealed class Contact : IOrgOwned, ICreatedAt, IUpdatedAt
{
    public Guid Id { get; set; } = Guid.CreateVersion7();
    public Guid OrgId { get; set; }
    public Guid UserId { get; set; }
    public Guid? CompanyId { get; set; }
    public required string FirstName { get; set; }
    public string LastName { get; set; } = "";
    public string? Title { get; set; }

    // Email, phone and LinkedIn URL are plaintext in memory only: the database holds them sealed with the org's data key
    // (Privacy.PiiSealing seals on save and opens on read), and the email's blind index (an HMAC) to find a contact by it.
    [NotMapped] public string? Email { get; set; }
    [NotMapped] public string? Phone { get; set; }
    [NotMapped] public string? LinkedinUrl { get; set; }

    public byte[]? EmailSealed { get; set; }
    public string? EmailHash { get; set; }
    public byte[]? PhoneSealed { get; set; }
    public byte[]? LinkedinUrlSealed { get; set; }

    /// <summary>The org data key the sealed fields are under (reencrypt moves rows to a fresh one, by this column).</summary>
    public int? PiiKeyId { get; set; }

    /// <summary>The plaintext the sealed fields hold (as opened or last sealed): a save reseals only what changed.</summary>
    internal (string? Email, string? Phone, string? LinkedinUrl)? SealedFrom;

    /// <summary>Whether they agreed to be contacted, when and how (migration 0024).</summary>
    public bool ConsentObtained { get; set; }
    public DateTimeOffset? ConsentAt { get; set; }
    public ConsentSource? ConsentSource { get; set; }

    /// <summary>A withdrawn consent makes them due for deletion at once (the view contact_retention, <see cref="Privacy.RetentionPolicy"/>).</summary>
    public DateTimeOffset? ConsentWithdrawnAt { get; set; }

    /// <summary>EU residents' data is kept for the org's shorter EU period.</summary>
    public bool EuResident { get; set; }

    /// <summary>0–100, kept by <see cref="Privacy.ContactValidation"/> on every write (<see cref="Privacy.ContactQuality"/> says how).</summary>
    public int DataQualityScore { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }

    public string FullName => $"{FirstName} {LastName}".Trim();
}

[Table("deals")]
public sealed class Deal : IOrgOwned, ICreatedAt, IUpdatedAt
{
    public Guid Id { get; set; } = Guid.CreateVersion7();
    public Guid OrgId { get; set; }

    /// <summary>The rep who owns the deal.</summary>
    public Guid UserId { get; set; }

    public Guid? CompanyId { get; set; }
    public Guid? PrimaryContactId { get; set; }
    public required string Name { get; set; }
    public DealStage Stage { get; set; } = DealStage.Lead;
    public decimal Amount { get; set; }
    public string Currency { get; set; } = "USD";

    /// <summary>Win probability 0-100: the weighted pipeline is amount × probability.</summary>
    public int Probability { get; set; }

    public DateOnly? CloseDate { get; set; }
    public string? NextStep { get; set; }

    /// <summary>Kept current by the database: logging an activity on the deal moves it forward.</summary>
    public DateTimeOffset? LastActivityAt { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
}

[Table("activities")]
public sealed class Activity : IOrgOwned, ICreatedAt
{
    public Guid Id { get; set; } = Guid.CreateVersion7();
    public Guid OrgId { get; set; }
    public Guid UserId { get; set; }
    public Guid? DealId { get; set; }
    public Guid? ContactId { get; set; }
    public ActivityType Type { get; set; }
    public required string Subject { get; set; }
    public string? Details { get; set; }
    public DateTimeOffset OccurredAt { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

[Table("tasks")]
public sealed class CrmTask : IOrgOwned, ICreatedAt, IUpdatedAt
{
    public Guid Id { get; set; } = Guid.CreateVersion7();
    public Guid OrgId { get; set; }
    public Guid UserId { get; set; }
    public Guid? DealId { get; set; }
    public Guid? ContactId { get; set; }
    public required string Title { get; set; }
    public string? Notes { get; set; }

    /// <summary>A date in the rep's own calendar: overdue means before their local today.</summary>
    public DateOnly DueDate { get; set; }

    public CrmTaskStatus Status { get; set; } = CrmTaskStatus.Open;
    public DateTimeOffset? CompletedAt { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>A meeting that happened (recorded, transcribed or written up), as opposed to a calendar entry.</summary>
[Table("meetings")]
public sealed class Meeting : IOrgOwned, ICreatedAt, IUpdatedAt
{
    public Guid Id { get; set; } = Guid.CreateVersion7();
    public Guid OrgId { get; set; }
    public Guid OwnerUserId { get; set; }
    public Guid? CalendarEventId { get; set; }
    public Guid? DealId { get; set; }
    public required string Title { get; set; }
    public DateTimeOffset StartTime { get; set; }
    public DateTimeOffset? EndTime { get; set; }
    public MeetingSource SourceType { get; set; } = MeetingSource.Manual;
    public string? Summary { get; set; }
    public string? Notes { get; set; }
    /// <summary>The transcript as plain text, one "Speaker: words" line per segment (what search and the copilot read).</summary>
    public string? TranscriptText { get; set; }

    /// <summary>The transcript as it came: who spoke when (seconds from the start).</summary>
    public List<TranscriptSegment>? Transcript { get; set; }

    public string? TranscriptProvider { get; set; }
    public DateTimeOffset? TranscriptAt { get; set; }

    /// <summary>The transcript was removed because the only outside person in it was deleted (retention or erasure).</summary>
    public DateTimeOffset? TranscriptRemovedAt { get; set; }

    /// <summary>The recording's id at its source (a notetaker bot, a Fathom recording).</summary>
    public string? SourceRef { get; set; }

    /// <summary>The notetaker recording of the meeting (its media stays on the recording; links are signed per request).</summary>
    public Guid? RecordingId { get; set; }

    /// <summary>The source's own link to the recording, for a source that keeps the video itself (Fathom's share link).</summary>
    public string? VideoUrl { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>One stretch of a transcript: who spoke, from when to when (seconds from the start), and what they said.</summary>
public sealed class TranscriptSegment
{
    public required string Speaker { get; set; }
    public double Start { get; set; }
    public double End { get; set; }
    public required string Text { get; set; }
}

sealed class CrmConfiguration : IEntityTypeConfiguration<Company>, IEntityTypeConfiguration<Contact>, IEntityTypeConfiguration<Deal>,
    IEntityTypeConfiguration<Activity>, IEntityTypeConfiguration<CrmTask>, IEntityTypeConfiguration<Meeting>
{
    public void Configure(EntityTypeBuilder<Company> company) => company.References<Company, AppUser>(c => c.UserId);

    public void Configure(EntityTypeBuilder<Contact> contact)
    {
        contact.Ignore(c => c.FullName);
        contact.References<Contact, AppUser>(c => c.UserId);
        contact.References<Contact, Company>(c => c.CompanyId);
    }

    public void Configure(EntityTypeBuilder<Deal> deal)
    {
        deal.Property(d => d.Amount).HasPrecision(14, 2);
        deal.References<Deal, AppUser>(d => d.UserId);
        deal.References<Deal, Company>(d => d.CompanyId);
        deal.References<Deal, Contact>(d => d.PrimaryContactId);
    }

    public void Configure(EntityTypeBuilder<Activity> activity)
    {
        activity.References<Activity, AppUser>(a => a.UserId);
        activity.References<Activity, Deal>(a => a.DealId);
        activity.References<Activity, Contact>(a => a.ContactId);
    }

    public void Configure(EntityTypeBuilder<CrmTask> task)
    {
        task.References<CrmTask, AppUser>(t => t.UserId);
        task.References<CrmTask, Deal>(t => t.DealId);
        task.References<CrmTask, Contact>(t => t.ContactId);
    }

    public void Configure(EntityTypeBuilder<Meeting> meeting)
    {
        meeting.References<Meeting, AppUser>(m => m.OwnerUserId);
        meeting.References<Meeting, CalendarEvent>(m => m.CalendarEventId);
        meeting.References<Meeting, Deal>(m => m.DealId);
        meeting.References<Meeting, Recordings.Recording>(m => m.RecordingId);
        meeting.OwnsMany(m => m.Transcript, t => t.ToJson("transcript"));
    }
}
