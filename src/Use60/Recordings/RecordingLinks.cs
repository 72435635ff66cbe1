using Microsoft.EntityFrameworkCore;
using Use60.Data;

namespace Use60.Recordings;

/// <summary>A kept recording's links, each good for <see cref="RecordingLinks.Lifetime"/>: the video, the audio and the thumbnail, where kept.</summary>
public sealed record RecordingPlayback(Guid RecordingId, Uri? Video, Uri? Audio, Uri? Thumbnail, DateTimeOffset ExpiresAt);

/// <summary>
/// Playback links to kept recordings: presigned GETs (or the local store's signed links), made per request and good for 15
/// minutes, so the bucket stays private and a link in a chat or a browser history soon stops working. A link is only made for
/// a recording the caller has just read through row-level security: its rep, or the org's owners and admins.
/// </summary>
public sealed class RecordingLinks(IRecordingStore store, TimeProvider clock)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(15);

    /// <summary>
    /// For the copilot and anything else holding a tenant-scoped <paramref name="db"/>: the recording's links, or null when
    /// the signed-in rep may not see it (row-level security hides it), there is no such recording, or nothing of it is kept.
    /// </summary>
    public async Task<RecordingPlayback?> ForAsync(Use60Db db, Guid recordingId, CancellationToken cancellationToken = default)
    {
        var recording = await db.Recordings.AsNoTracking().SingleOrDefaultAsync(r => r.Id == recordingId, cancellationToken);
        return recording is null ? null : For(recording);
    }

    /// <summary>Links for a recording already read through row-level security; null unless its media is kept.</summary>
    public RecordingPlayback? For(Recording recording)
    {
        if (recording.S3UploadStatus != S3UploadStatus.Complete || (recording.VideoKey is null && recording.AudioKey is null)) return null;
        Uri? Link(string? key) => key is null ? null : store.PresignGet(key, Lifetime);
        return new RecordingPlayback(recording.Id, Link(recording.VideoKey), Link(recording.AudioKey), Link(recording.ThumbnailKey),
            clock.GetUtcNow() + Lifetime);
    }
}
