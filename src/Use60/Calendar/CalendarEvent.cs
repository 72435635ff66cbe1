using System.ComponentModel.DataAnnotations.Schema;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Use60.Crm;
using Use60.Data;
using Use60.Orgs;

namespace Use60.Calendar;

public enum CalendarEventStatus { Confirmed, Tentative, Cancelled }

/// <summary>An entry of a rep's calendar. A real meeting has more than one attendee; solo blocks are not meetings.</summary>
[Table("calendar_events")]
public sealed class CalendarEvent : IOrgOwned, ICreatedAt, IUpdatedAt
{
    public Guid Id { get; set; } = Guid.CreateVersion7();
    public Guid OrgId { get; set; }
    public Guid UserId { get; set; }

    /// <summary>The calendar provider's id of the event, unique per rep.</summary>
    public required string ExternalId { get; set; }

    /// <summary>Which of the rep's calendars it came from (Google's calendar id; the rep's own calendar is "primary").</summary>
    public string CalendarId { get; set; } = CalendarConnection.PrimaryCalendar;

    public required string Title { get; set; }
    public string? Description { get; set; }
    public string? Location { get; set; }
    public string? ConferenceUrl { get; set; }
    public DateTimeOffset StartTime { get; set; }
    public DateTimeOffset EndTime { get; set; }
    public List<Attendee> Attendees { get; set; } = [];

    /// <summary>
    /// The blind index (Privacy.OrgKeys.BlindIndex) of each attendee's email, set on save: how a brief matches attendees to contacts,
    /// whose emails are stored sealed, inside one SQL statement.
    /// </summary>
    public string[]? AttendeeEmailHashes { get; set; }

    /// <summary>Computed by the database from the attendee list.</summary>
    public int AttendeesCount { get; private set; }

    public CalendarEventStatus Status { get; set; } = CalendarEventStatus.Confirmed;

    /// <summary>The rep said "Don't record" (the meeting brief's button): no notetaker joins it.</summary>
    public bool DoNotRecord { get; set; }

    public Guid? DealId { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }

    public const int MinimumAttendeesForMeeting = 2;

    public bool IsRealMeeting => Attendees.Count >= MinimumAttendeesForMeeting;
}

public sealed class Attendee
{
    public required string Email { get; set; }
    public string? Name { get; set; }

    /// <summary>accepted, declined, tentative or needsAction, as calendar providers say it.</summary>
    public string ResponseStatus { get; set; } = "needsAction";

    /// <summary>The rep whose calendar this is.</summary>
    public bool Self { get; set; }
}

sealed class CalendarEventConfiguration : IEntityTypeConfiguration<CalendarEvent>
{
    public void Configure(EntityTypeBuilder<CalendarEvent> calendarEvent)
    {
        calendarEvent.Property(e => e.AttendeesCount).HasComputedColumnSql("jsonb_array_length(attendees)", stored: true);
        calendarEvent.OwnsMany(e => e.Attendees, a => a.ToJson("attendees"));
        calendarEvent.Ignore(e => e.IsRealMeeting);
        calendarEvent.References<CalendarEvent, AppUser>(e => e.UserId);
        calendarEvent.References<CalendarEvent, Deal>(e => e.DealId);
    }
}
