using Microsoft.EntityFrameworkCore;
using Use60.Crm;
using Use60.Data;

namespace Use60.Recordings;

/// <summary>
/// A transcript as a provider delivered it, for one recording of one rep's meeting; <paramref name="RecordingId"/> is the notetaker
/// recording it is of (null for sources with no recording of ours, such as Fathom), <paramref name="VideoUrl"/> the source's own link
/// to the video when the source keeps it (Fathom).
/// </summary>
public sealed record TranscriptArrival(Guid OrgId, Guid UserId, MeetingSource Source, string SourceRef, string Provider, string Title,
    DateTimeOffset StartTime, DateTimeOffset? EndTime, Guid? CalendarEventId, Guid? DealId, IReadOnlyList<TranscriptSegment> Segments,
    Guid? RecordingId = null, string? VideoUrl = null);

/// <summary>Where a transcript was kept, and whether it is the meeting's first (a repeat delivery replaces it and is not new).</summary>
public sealed record TranscriptStored(Guid MeetingId, bool IsFirst);

/// <summary>Told after a transcript is stored (the follow-up pack). A listener's failure is logged; the transcript stays stored.</summary>
public interface ITranscriptLanded
{
    Task LandedAsync(TranscriptArrival arrival, TranscriptStored stored, CancellationToken cancellationToken);
}

/// <summary>
/// The one provider-agnostic step every transcription path ends in (MeetingBaaS, Gladia, Fathom): in the rep's own tenant scope,
/// the meeting for that recording (made on first arrival, found again by its source id after) gets the transcript — who spoke when,
/// and its text for search and the copilot. A notetaker meeting is linked to its recording both ways in the same transaction
/// (<c>meetings.recording_id</c>, <c>recordings.transcript_meeting_id</c>), whether or not the recording's copy into the store has
/// finished; <see cref="RecordingTranscription"/> links them too when the copy finishes first.
/// </summary>
public sealed class MeetingTranscripts(IServiceScopeFactory scopes, IEnumerable<ITranscriptLanded> listeners, TimeProvider clock,
    ILogger<MeetingTranscripts> logger)
{
    /// <summary>Bounds on what one transcript may hold, far above a long meeting's (a 3-hour call is some 30,000 words).</summary>
    public const int MaxSegments = 20_000, MaxTextLength = 2_000_000;

    public async Task<TranscriptStored> StoreAsync(TranscriptArrival arrival, CancellationToken cancellationToken)
    {
        var segments = arrival.Segments
            .Where(s => !string.IsNullOrWhiteSpace(s.Text))
            .Select(s => new TranscriptSegment
            {
                Speaker = string.IsNullOrWhiteSpace(s.Speaker) ? "Speaker" : s.Speaker.Trim(), Start = Math.Max(0, s.Start),
                End = Math.Max(s.Start, s.End), Text = s.Text.Trim(),
            })
            .OrderBy(s => s.Start).Take(MaxSegments).ToList();
        // The segments and text are saved through EF, where CardNumberRedactionInterceptor removes card numbers from them.
        var text = string.Join('\n', segments.Select(s => $"{s.Speaker}: {s.Text}"));
        if (text.Length > MaxTextLength) text = text[..MaxTextLength];

        // One row per recording, claimed without a race, then locked while its transcript is written: two deliveries at once
        // (a webhook retried while the first is still here) store it once, and only one of them is the first.
        await using var scope = scopes.CreateTenantScope(arrival.OrgId, arrival.UserId);
        var db = scope.ServiceProvider.GetRequiredService<Use60Db>();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var now = clock.GetUtcNow();
        var source = SnakeCase.ValueOf(arrival.Source);
        await db.Database.ExecuteSqlAsync($"""
            INSERT INTO meetings (id, org_id, owner_user_id, source_type, source_ref, title, start_time, end_time, calendar_event_id, deal_id,
                                  recording_id, video_url, created_at, updated_at)
            VALUES ({Guid.CreateVersion7()}, {arrival.OrgId}, {arrival.UserId}, {source}, {arrival.SourceRef}, {Privacy.CardNumbers.Redact(arrival.Title)}, {arrival.StartTime},
                    {arrival.EndTime}, {arrival.CalendarEventId}, {arrival.DealId}, {arrival.RecordingId}, {arrival.VideoUrl}, {now}, {now})
            ON CONFLICT (org_id, source_type, source_ref) WHERE source_ref IS NOT NULL DO NOTHING
            """, cancellationToken);
        var meeting = await db.Meetings.FromSql($"""
            SELECT * FROM meetings WHERE org_id = {arrival.OrgId} AND source_type = {source} AND source_ref = {arrival.SourceRef} FOR UPDATE
            """).SingleAsync(cancellationToken);
        var first = meeting.TranscriptAt is null;
        (meeting.Transcript, meeting.TranscriptText, meeting.TranscriptProvider, meeting.TranscriptAt) = (segments, text, arrival.Provider, now);
        meeting.DealId ??= arrival.DealId;
        meeting.CalendarEventId ??= arrival.CalendarEventId;
        meeting.RecordingId ??= arrival.RecordingId;
        meeting.VideoUrl = arrival.VideoUrl ?? meeting.VideoUrl;
        await db.SaveChangesAsync(cancellationToken);
        if (arrival.RecordingId is { } recordingId)
            await db.Recordings.Where(r => r.Id == recordingId && r.TranscriptMeetingId == null)
                .ExecuteUpdateAsync(r => r.SetProperty(x => x.TranscriptMeetingId, meeting.Id).SetProperty(x => x.UpdatedAt, now), cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        logger.LogInformation("Stored the {Provider} transcript of meeting {MeetingId} ({Segments} segments){Repeat}", arrival.Provider, meeting.Id,
            segments.Count, first ? "" : ", replacing an earlier one");
        var stored = new TranscriptStored(meeting.Id, first);
        foreach (var listener in listeners)
        {
            try
            {
                await listener.LandedAsync(arrival, stored, cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogError(e, "After storing the transcript of meeting {MeetingId}, {Listener} failed", meeting.Id, listener.GetType().Name);
            }
        }
        return stored;
    }
}
