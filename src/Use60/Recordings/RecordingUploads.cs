using Microsoft.EntityFrameworkCore;
using Quartz;
using Use60.Data;
using Use60.Slack;

namespace Use60.Recordings;

/// <summary>What one run of the upload queue did.</summary>
public sealed record UploadRun(int Completed, int Retrying, int Failed);

/// <summary>
/// The upload queue: recordings whose media MeetingBaaS has finished are copied, video and audio, from the provider's links
/// (which work for 4 hours) into the recording store, streamed part by part. Each recording is claimed by one replica
/// (<c>FOR UPDATE SKIP LOCKED</c>, with a lease so a replica that dies mid-copy does not keep it); a failed copy is retried 2, 5
/// and 10 minutes later (the seeds' schedule), and after that, or once the links have expired, the recording is failed for good
/// and the rep is told once.
/// </summary>
public sealed class RecordingUploads(SystemDb system, IRecordingStore store, HttpClient http, SlackOutbox outbox, RecordingThumbnails thumbnails,
    IEnumerable<IRecordingStored> storedHooks, TimeProvider clock, ILogger<RecordingUploads> logger)
{
    /// <summary>How long after each failed try the next one comes; past the last, the recording has failed.</summary>
    public static readonly TimeSpan[] Backoff = [TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(10)];

    /// <summary>How long a replica has a claimed recording to itself; long enough for a multi-GB copy.</summary>
    public static readonly TimeSpan Lease = TimeSpan.FromMinutes(30);

    public const string SourceExpired = "source expired: the provider's links to the recording last 4 hours";

    /// <summary>Copies every recording that is due, one at a time, until none is left (or <paramref name="cancellationToken"/>).</summary>
    public async Task<UploadRun> RunAsync(CancellationToken cancellationToken)
    {
        var (completed, retrying, failed) = (0, 0, 0);
        while (await ClaimAsync(cancellationToken) is { } recording)
        {
            switch (await CopyAsync(recording, cancellationToken))
            {
                case S3UploadStatus.Complete: completed++; break;
                case S3UploadStatus.Pending: retrying++; break;
                default: failed++; break;
            }
        }
        return new UploadRun(completed, retrying, failed);
    }

    /// <summary>The next due recording, now marked as being copied by this replica (its try counted).</summary>
    async Task<Recording?> ClaimAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        await using var db = system.Open("claim a recording to copy into the store");
        var claimed = await db.Recordings.FromSql($"""
            UPDATE recordings SET s3_upload_status = 'uploading', upload_attempts = upload_attempts + 1, next_upload_at = {now + Lease},
                                  updated_at = {now}
            WHERE id = (SELECT id FROM recordings
                        WHERE s3_upload_status IN ('pending', 'uploading') AND (next_upload_at IS NULL OR next_upload_at <= {now})
                        ORDER BY next_upload_at NULLS FIRST, id
                        LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING *
            """).AsNoTracking().ToListAsync(cancellationToken);
        return claimed.SingleOrDefault();
    }

    async Task<S3UploadStatus> CopyAsync(Recording recording, CancellationToken cancellationToken)
    {
        if (recording.SourceUrlsReceivedAt is not { } received || received + Notetaker.SourceUrlLifetime <= clock.GetUtcNow())
            return await FinishAsync(recording, S3UploadStatus.Failed, SourceExpired, cancellationToken);
        // A source that stops sending without closing would hold the copy forever: it gets the lease, less a margin, in all.
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(Lease - TimeSpan.FromMinutes(1));
        string? videoKey = null, audioKey = null;
        long? videoBytes = null, audioBytes = null;
        try
        {
            if (recording.VideoSourceUrl is { } video)
                (videoKey, videoBytes) = await CopyOneAsync(recording, video, RecordingKeys.Video, "video/mp4", limit.Token);
            if (recording.AudioSourceUrl is { } audio)
                (audioKey, audioBytes) = await CopyOneAsync(recording, audio, RecordingKeys.Audio, "audio/mpeg", limit.Token);
        }
        catch (Exception e) when (e is RecordingUploadException or HttpRequestException or IOException
                                      || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            var reason = e switch
            {
                RecordingUploadException upload => upload.Reason,
                OperationCanceledException => $"the copy took longer than {(Lease - TimeSpan.FromMinutes(1)).TotalMinutes:0} minutes",
                _ => RecordingUpload.Describe(e),
            };
            if (recording.UploadAttempts <= Backoff.Length)
            {
                var next = Backoff[recording.UploadAttempts - 1];
                logger.LogWarning("Copying recording {RecordingId} failed (try {Attempt}): {Reason}; trying again in {Minutes} minutes",
                    recording.Id, recording.UploadAttempts, reason, next.TotalMinutes);
                return await FinishAsync(recording, S3UploadStatus.Pending, reason, cancellationToken, clock.GetUtcNow() + next);
            }
            return await FinishAsync(recording, S3UploadStatus.Failed, reason, cancellationToken);
        }
        if (videoKey is null && audioKey is null)
            return await FinishAsync(recording, S3UploadStatus.Failed, "MeetingBaaS sent no media links for this recording", cancellationToken);
        // Kept: the keys and sizes, and what the copy cost in S3 requests (the storage costs' api_requests metric), together.
        await using (var db = system.Open("record a finished copy into the store"))
        {
            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
            await db.Recordings.Where(r => r.Id == recording.Id).ExecuteUpdateAsync(r => r
                .SetProperty(x => x.S3UploadStatus, S3UploadStatus.Complete).SetProperty(x => x.NextUploadAt, (DateTimeOffset?)null)
                .SetProperty(x => x.UploadError, (string?)null)
                .SetProperty(x => x.VideoKey, videoKey).SetProperty(x => x.VideoBytes, videoBytes)
                .SetProperty(x => x.AudioKey, audioKey).SetProperty(x => x.AudioBytes, audioBytes)
                .SetProperty(x => x.UpdatedAt, clock.GetUtcNow()), cancellationToken);
            await StorageMetrics.CountRequestsAsync(db, recording.OrgId, clock.GetUtcNow(),
                new[] { videoBytes, audioBytes }.OfType<long>().Sum(StorageCosts.RequestsFor), cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }
        logger.LogInformation("Recording {RecordingId} is in the store ({Store}): video {VideoBytes} bytes, audio {AudioBytes} bytes, try {Attempt}",
            recording.Id, store.Name, videoBytes, audioBytes, recording.UploadAttempts);
        // After the copy, outside its failure handling: the recording is kept whatever these do (they record their own failures).
        if (videoKey is not null)
            await thumbnails.MakeAsync(recording, videoKey, cancellationToken);
        foreach (var hook in storedHooks)
            await hook.StoredAsync(recording.Id, cancellationToken);
        return S3UploadStatus.Complete;
    }

    async Task<(string Key, long Bytes)> CopyOneAsync(Recording recording, string url, string file, string contentType, CancellationToken cancellationToken)
    {
        var key = RecordingKeys.For(recording.OrgId, recording.UserId, recording.Id, file);
        using var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (!response.IsSuccessStatusCode)
            throw new HttpRequestException($"the provider answered {(int)response.StatusCode} {response.ReasonPhrase} for the {file}", null, response.StatusCode);
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        return (key, await store.UploadAsync(key, body, contentType, cancellationToken));
    }

    /// <summary>Pending again (a retry at <paramref name="retryAt"/>) or failed for good; a failure is told to the rep once, with it.</summary>
    async Task<S3UploadStatus> FinishAsync(Recording recording, S3UploadStatus status, string reason, CancellationToken cancellationToken,
        DateTimeOffset? retryAt = null)
    {
        await using var db = system.Open("record a copy that did not finish");
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var changed = await db.Recordings.Where(r => r.Id == recording.Id && r.S3UploadStatus == S3UploadStatus.Uploading).ExecuteUpdateAsync(r => r
            .SetProperty(x => x.S3UploadStatus, status).SetProperty(x => x.NextUploadAt, retryAt).SetProperty(x => x.UploadError, reason)
            .SetProperty(x => x.UpdatedAt, clock.GetUtcNow()), cancellationToken);
        if (changed == 1 && status == S3UploadStatus.Failed)
        {
            logger.LogError("Copying recording {RecordingId} failed for good after {Attempts} tries: {Reason}", recording.Id, recording.UploadAttempts, reason);
            outbox.Add(db, OutboxDraft.Dm(recording.OrgId, recording.UserId, NotetakerMessages.NotKept(recording, reason), "recording upload failed " + recording.Id));
            await db.SaveChangesAsync(cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        return status;
    }

    /// <summary>The admin site's "Retry now": a failed (or waiting) copy is due again at once, with its tries counted afresh.</summary>
    public static async Task<bool> RetryNowAsync(Use60Db db, Guid recordingId, DateTimeOffset now, CancellationToken cancellationToken) =>
        await db.Recordings.Where(r => r.Id == recordingId && (r.S3UploadStatus == S3UploadStatus.Failed || r.S3UploadStatus == S3UploadStatus.Pending))
            .ExecuteUpdateAsync(r => r.SetProperty(x => x.S3UploadStatus, S3UploadStatus.Pending).SetProperty(x => x.UploadAttempts, 0)
                .SetProperty(x => x.NextUploadAt, now).SetProperty(x => x.UpdatedAt, now), cancellationToken) == 1;
}

/// <summary>The upload queue's schedule: every 5 minutes, and at once when MeetingBaaS says a recording is ready (<see cref="RecordingUploadKick"/>).</summary>
[DisallowConcurrentExecution]
public sealed class RecordingUploadJob(RecordingUploads uploads) : IJob
{
    public const string Name = "recording-uploads";

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken) => await uploads.RunAsync(cancellationToken);
}

/// <summary>Starts the upload queue now rather than at its next firing (the 5-minute schedule still copies it if that fails).</summary>
sealed class RecordingUploadKick(Proactive.JobTrigger jobs) : IRecordingUploadKick
{
    public void Kick(Guid recordingId) => jobs.Now(RecordingUploadJob.Name, $"recording {recordingId}");
}
