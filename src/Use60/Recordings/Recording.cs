using System.ComponentModel.DataAnnotations.Schema;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Use60.Calendar;
using Use60.Data;
using Use60.Orgs;

namespace Use60.Recordings;

/// <summary>
/// Where a notetaker bot is: scheduled (waiting to join, at MeetingBaaS or still being sent), joining, joined (in the call),
/// completed (media ready), failed, or cancelled (by the rep, or because the meeting changed).
/// </summary>
public enum RecordingStatus { Scheduled, Joining, Joined, Completed, Failed, Cancelled }

/// <summary>Why the bot may record: the org's auto-join policy, or the rep's own choice (their auto-join, or <c>/sixty record</c>).</summary>
public enum ConsentBasis { OrgPolicy, RepChoice }

public enum RecordingSource { Calendar, Command }

/// <summary>The copy of the provider's media into the recording store (S3 or its local fallback).</summary>
public enum S3UploadStatus { None, Pending, Uploading, Complete, Failed }

/// <summary>One notetaker bot in one meeting, with the consent it was sent under.</summary>
[Table("recordings")]
public sealed class Recording : IOrgOwned, ICreatedAt, IUpdatedAt
{
    public Guid Id { get; set; } = Guid.CreateVersion7();
    public Guid OrgId { get; set; }

    /// <summary>The rep whose meeting it is: they are told what happens to it, and they and the org's admins see it.</summary>
    public Guid UserId { get; set; }

    /// <summary>The calendar meeting it records (null for <c>/sixty record</c> of a link not in the calendar, or once the event is gone).</summary>
    public Guid? CalendarEventId { get; set; }

    public RecordingSource Source { get; set; }
    public string? Title { get; set; }
    public required string MeetingUrl { get; set; }

    /// <summary>The link without its query, lower case: one bot per link and org at a time.</summary>
    public required string MeetingKey { get; set; }

    public MeetingPlatform Platform { get; set; }

    /// <summary>MeetingBaaS's id of the bot; null until it has been sent.</summary>
    public string? BotId { get; set; }

    public required string BotName { get; set; }

    /// <summary>What the bot posted in the meeting chat when it joined.</summary>
    public required string ChatNotice { get; set; }

    public RecordingStatus Status { get; set; } = RecordingStatus.Scheduled;
    public ConsentBasis ConsentBasis { get; set; }
    public DateTimeOffset ConsentRecordedAt { get; set; }

    /// <summary>When the bot joins; null: at once.</summary>
    public DateTimeOffset? JoinAt { get; set; }

    public int DeployAttempts { get; set; }
    public DateTimeOffset? DeployLeaseUntil { get; set; }
    public DateTimeOffset? JoinedAt { get; set; }
    public DateTimeOffset? CompletedAt { get; set; }
    public string? CancelledReason { get; set; }
    public string? FailureReason { get; set; }

    /// <summary>When the rep was told it failed: they are told once.</summary>
    public DateTimeOffset? FailureNotifiedAt { get; set; }

    /// <summary>The provider's media links; they work for <see cref="Notetaker.SourceUrlLifetime"/> from <see cref="SourceUrlsReceivedAt"/>.</summary>
    public string? VideoSourceUrl { get; set; }
    public string? AudioSourceUrl { get; set; }
    public DateTimeOffset? SourceUrlsReceivedAt { get; set; }

    public S3UploadStatus S3UploadStatus { get; set; } = S3UploadStatus.None;
    public int UploadAttempts { get; set; }
    public DateTimeOffset? NextUploadAt { get; set; }
    public string? UploadError { get; set; }
    public string? VideoKey { get; set; }
    public string? AudioKey { get; set; }
    public long? VideoBytes { get; set; }
    public long? AudioBytes { get; set; }

    /// <summary>The JPEG made from the kept video (migration 0018); null until made, or when it could not be (<see cref="ThumbnailError"/>).</summary>
    public string? ThumbnailKey { get; set; }

    /// <summary>Why no thumbnail could be made: ffmpeg's or the thumbnail service's words, never a signed link.</summary>
    public string? ThumbnailError { get; set; }

    /// <summary>Who transcribes it: MeetingBaaS (in the bot) or Gladia (the stored audio, when GLADIA_API_KEY is set).</summary>
    public string? TranscriptionProvider { get; set; }

    /// <summary>The provider's job id (Gladia's pre-recorded job), which its callback names.</summary>
    public string? TranscriptionJobId { get; set; }

    public DateTimeOffset? TranscriptionRequestedAt { get; set; }
    public string? TranscriptionError { get; set; }

    /// <summary>How many times a transcription was asked for (Gladia): the retries stop after <see cref="RecordingTranscription.GladiaRetries"/>.</summary>
    public int TranscriptionAttempts { get; set; }

    /// <summary>When the transcription-retries job next looks at it: a request to make again, or a job whose callback has not come.</summary>
    public DateTimeOffset? TranscriptionCheckAt { get; set; }

    /// <summary>The meeting its transcript landed on.</summary>
    public Guid? TranscriptMeetingId { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }

    /// <summary>A bot that is on its way or in the call: what a cancellation has to stop.</summary>
    public bool IsLive => Status is RecordingStatus.Scheduled or RecordingStatus.Joining or RecordingStatus.Joined;
}

sealed class RecordingConfiguration : IEntityTypeConfiguration<Recording>
{
    public void Configure(EntityTypeBuilder<Recording> recording)
    {
        recording.Ignore(r => r.IsLive);
        recording.References<Recording, AppUser>(r => r.UserId);
        recording.References<Recording, CalendarEvent>(r => r.CalendarEventId);
        recording.References<Recording, Crm.Meeting>(r => r.TranscriptMeetingId);
    }
}
