using System.Net;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Quartz;
using Use60.Crm;
using Use60.Data;
using Use60.Hosting;

using static Use60.Slack.SlackJson;

namespace Use60.Recordings;

/// <summary>
/// Told when a recording's media is safely in the store: the upload queue calls every registered one after it marks a copy
/// complete. An implementation must not throw for its own failures (the copy is done whatever it does).
/// </summary>
public interface IRecordingStored
{
    Task StoredAsync(Guid recordingId, CancellationToken cancellationToken);
}

/// <summary>
/// A call to either provider's API: a JSON body, the provider's key header, and a provider that cannot be reached (network, timeout)
/// turned into the provider's own exception by <paramref name="unreachable"/>.
/// </summary>
public static class ProviderHttp
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static async Task<HttpResponseMessage> SendAsync(HttpClient http, HttpMethod method, Uri uri, string keyHeader, string key, JsonObject? body,
        Func<Exception, Exception> unreachable, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, uri);
        request.Headers.Add(keyHeader, key.Trim());
        if (body is not null) request.Content = JsonContent.Create(body, options: Json);
        try
        {
            return await http.SendAsync(request, cancellationToken);
        }
        catch (Exception e) when (e is HttpRequestException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            throw unreachable(e);
        }
    }

    /// <summary>
    /// A call whose answer is a JSON object, with the provider's failures in the provider's words: <paramref name="fail"/> makes the
    /// provider's exception (transient or not, message, cause). A refused key names <paramref name="keyVariable"/>; unreachable, 5xx,
    /// a rate limit or an answer that is not JSON is transient. Messages never hold the key or the request's links.
    /// </summary>
    public static async Task<JsonObject> JsonAsync(HttpClient http, HttpMethod method, Uri uri, string keyHeader, string key, JsonObject? body,
        string provider, string keyVariable, string what, Func<bool, string, Exception?, Exception> fail, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(http, method, uri, keyHeader, key, body,
            e => fail(true, $"{provider} could not be reached to {what}.", e), cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        var code = (int)response.StatusCode;
        if (!response.IsSuccessStatusCode)
        {
            var detail = ReasonOf(text) is { } reason ? $"({code}: {reason})" : $"({code})";
            throw response.StatusCode switch
            {
                HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => fail(false, $"{provider} did not accept the API key {detail}: check {keyVariable}.", null),
                HttpStatusCode.TooManyRequests => fail(true, $"{provider} is rate-limiting us {detail}.", null),
                _ when code >= 500 => fail(true, $"{provider} failed to {what} {detail}.", null),
                _ => fail(false, $"{provider} refused to {what} {detail}.", null),
            };
        }
        try
        {
            return JsonNode.Parse(text) as JsonObject ?? throw new JsonException("not an object");
        }
        catch (JsonException e)
        {
            throw fail(true, $"{provider} answered the request to {what} with something that is not JSON.", e);
        }
    }

    /// <summary>The provider's own words from an error body (<c>{"message"}</c> or <c>{"error"}</c>), bounded.</summary>
    static string? ReasonOf(string body)
    {
        try
        {
            var error = JsonNode.Parse(body) as JsonObject;
            var message = Str(error?["message"]) ?? Str(error?["error"]);
            return string.IsNullOrWhiteSpace(message) ? null : message[..Math.Min(message.Length, 300)];
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>Transcript utterances as both providers write them: <c>[{"speaker", "start", "end", "text"}]</c>, times in seconds.</summary>
public static class Utterances
{
    /// <summary>A speaker named (MeetingBaaS's transcription) keeps the name; one numbered from 0 (Gladia's diarization) is "Speaker n+1".</summary>
    public static List<TranscriptSegment> Segments(JsonNode? utterances) =>
        [.. (utterances as JsonArray ?? []).OfType<JsonObject>().Select(u => new TranscriptSegment
        {
            Speaker = u["speaker"] switch
            {
                JsonValue number when number.TryGetValue<int>(out var n) => $"Speaker {(n + 1).ToString(CultureInfo.InvariantCulture)}",
                JsonValue name when name.TryGetValue<string>(out var s) => s,
                _ => "",
            },
            Start = Seconds(u["start"]), End = Seconds(u["end"]), Text = Str(u["text"]) ?? "",
        })];

    static double Seconds(JsonNode? node) => node is JsonValue value && value.TryGetValue<double>(out var seconds) && double.IsFinite(seconds) ? seconds : 0;
}

/// <summary>
/// The two ways a notetaker recording gets its transcript, both ending in <see cref="MeetingTranscripts.StoreAsync"/> on the meeting
/// whose source ref is the recording's id: MeetingBaaS's own (a link in bot.completed), or, with GLADIA_API_KEY set, Gladia's of
/// the stored audio, asked for once the copy into the store is complete and delivered to <c>/webhooks/gladia</c>. Whichever of the
/// transcript and the copy finishes first, the meeting and the recording end up linked.
/// </summary>
public sealed class RecordingTranscription(SystemDb system, IServiceScopeFactory scopes, MeetingTranscripts transcripts, MeetingBaasClient baas,
    GladiaClient gladia, GladiaWebhook callbacks, IRecordingStore store, IOptions<GladiaOptions> gladiaOptions, IOptions<Use60Options> host,
    TimeProvider clock, ILogger<RecordingTranscription> logger) : IRecordingStored
{
    public const string MeetingBaasProvider = "meetingbaas", GladiaProvider = "gladia";

    /// <summary>How long the link Gladia downloads the audio with works (it fetches it when the job starts, within seconds).</summary>
    public static readonly TimeSpan AudioLinkLifetime = TimeSpan.FromMinutes(15);

    /// <summary>A request for a transcription that got no answer is not repeated within this (two replicas, a retried hook).</summary>
    static readonly TimeSpan RequestLease = TimeSpan.FromMinutes(10);

    /// <summary>
    /// After a request Gladia could not take (unreachable, 5xx, rate-limited), the next comes this long after each try; after the
    /// last, the error stays on the recording. A refusal (bad key, bad request) is not repeated: it would be refused again.
    /// </summary>
    public static readonly TimeSpan[] GladiaRetries = [TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(15), TimeSpan.FromHours(1)];

    /// <summary>A job whose callback has not come this long after the request is looked up at Gladia (and again each time after).</summary>
    public static readonly TimeSpan CallbackWait = TimeSpan.FromHours(1);

    /// <summary>A job Gladia has not finished this long after the request is given up on.</summary>
    public static readonly TimeSpan JobGiveUp = TimeSpan.FromDays(1);

    const int MaxError = 500;

    /// <summary>
    /// bot.completed: the transcript MeetingBaaS made in the bot, when it made one, stored on the meeting. A MeetingBaaS that cannot be
    /// reached throws (the webhook is delivered again); a transcript that is gone or unreadable is logged and kept as the
    /// recording's transcription error, and the recording stays without one.
    /// </summary>
    public async Task<bool> FromMeetingBaasAsync(Guid recordingId, string botId, JsonObject data, CancellationToken cancellationToken)
    {
        var link = Str(data["transcription"]);
        if (link is null && Str(data["transcription_provider"]) is null) return false;   // the bot did not transcribe
        IReadOnlyList<TranscriptSegment>? segments;
        try
        {
            segments = await baas.GetTranscriptAsync(botId, link, cancellationToken);
        }
        catch (MeetingBaasException e) when (!e.IsTransient)
        {
            logger.LogWarning("Recording {RecordingId}: MeetingBaaS's transcript could not be read: {Reason}", recordingId, e.Message);
            await NoteErrorAsync(recordingId, MeetingBaasProvider, e.Message, cancellationToken);
            return false;
        }
        if (segments is null) return false;
        var recording = await RecordingAsync(recordingId, cancellationToken);
        if (recording is null) return false;
        await StoreAsync(recording, MeetingBaasProvider, segments, DateOf(data["joined_at"]), DateOf(data["exited_at"]), cancellationToken);
        return true;
    }

    /// <summary>
    /// Gladia's callback for a job of ours: on success its result is read from Gladia and stored; on error the reason is kept on the
    /// recording. A callback for a job that is not the recording's current one is ignored.
    /// </summary>
    public async Task<WebhookOutcome> FromGladiaAsync(Guid recordingId, string jobId, string eventName, string? error, WebhookDelivery delivery,
        CancellationToken cancellationToken)
    {
        var recording = await RecordingAsync(recordingId, cancellationToken);
        if (recording is null || recording.TranscriptionJobId != jobId)
        {
            logger.LogInformation("Gladia called back for job {JobId}, which is not recording {RecordingId}'s", jobId, recordingId);
            return WebhookOutcome.Ignored;
        }
        delivery.OrgId = recording.OrgId;
        if (eventName != "transcription.success")
        {
            await NoteErrorAsync(recordingId, GladiaProvider, $"Gladia could not transcribe the recording ({eventName}{(error is null ? "" : ": " + error)})",
                cancellationToken);
            return WebhookOutcome.Handled;
        }
        var job = await gladia.GetAsync(jobId, cancellationToken);
        switch (job.Status)
        {
            case "done":
                await StoreAsync(recording, GladiaProvider, job.Segments, null, null, cancellationToken);
                return WebhookOutcome.Handled;
            case "error":
                await NoteErrorAsync(recordingId, GladiaProvider, $"Gladia could not transcribe the recording (error {job.ErrorCode})", cancellationToken);
                return WebhookOutcome.Handled;
            default:
                // It called back before its API says done: fail the delivery so that it comes again.
                throw new GladiaException(true, $"Gladia's job {jobId} is {job.Status}, not done, although it called back");
        }
    }

    /// <summary>
    /// The copy into the store is complete: a meeting that already has the transcript is linked to the recording, and with Gladia set
    /// up a recording without a transcript gets a Gladia transcription of its stored audio (video when there is no audio), asked for
    /// once, through a 15-minute signed link.
    /// </summary>
    public async Task StoredAsync(Guid recordingId, CancellationToken cancellationToken)
    {
        try
        {
            var recording = await RecordingAsync(recordingId, cancellationToken);
            if (recording is not { S3UploadStatus: S3UploadStatus.Complete }) return;
            await LinkMeetingAsync(recording, cancellationToken);
            if (gladiaOptions.Value.IsConfigured) await RequestGladiaAsync(recording, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogError(e, "Recording {RecordingId} is in the store, but what follows (its meeting, its transcription) failed", recordingId);
        }
    }

    async Task LinkMeetingAsync(Recording recording, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateTenantScope(recording.OrgId, recording.UserId);
        var db = scope.ServiceProvider.GetRequiredService<Use60Db>();
        var sourceRef = SourceRef(recording.Id);
        var meetingId = await db.Meetings.Where(m => m.SourceType == MeetingSource.Notetaker && m.SourceRef == sourceRef)
            .Select(m => (Guid?)m.Id).SingleOrDefaultAsync(cancellationToken);
        if (meetingId is null) return;   // no transcript yet: it links them when it lands
        var now = clock.GetUtcNow();
        await db.Meetings.Where(m => m.Id == meetingId && m.RecordingId == null)
            .ExecuteUpdateAsync(m => m.SetProperty(x => x.RecordingId, recording.Id).SetProperty(x => x.UpdatedAt, now), cancellationToken);
        await db.Recordings.Where(r => r.Id == recording.Id && r.TranscriptMeetingId == null)
            .ExecuteUpdateAsync(r => r.SetProperty(x => x.TranscriptMeetingId, meetingId).SetProperty(x => x.UpdatedAt, now), cancellationToken);
    }

    /// <summary>
    /// Asks Gladia for the transcript, once per due time: the first time when the copy completes, again when a retry is due. The claim
    /// sets the next look to one lease ahead, so a replica that dies mid-request leaves it to the retries job rather than stuck.
    /// </summary>
    async Task RequestGladiaAsync(Recording recording, CancellationToken cancellationToken)
    {
        if (recording.TranscriptMeetingId is not null || (recording.AudioKey ?? recording.VideoKey) is not { } key) return;
        var now = clock.GetUtcNow();
        int attempt;
        await using (var db = system.Open("claim a recording's Gladia transcription"))
        {
            var claimed = await db.Database.SqlQuery<int>($"""
                UPDATE recordings SET transcription_provider = {GladiaProvider}, transcription_requested_at = {now}, transcription_error = NULL,
                                      transcription_attempts = transcription_attempts + 1, transcription_check_at = {now + RequestLease}, updated_at = {now}
                WHERE id = {recording.Id} AND transcription_job_id IS NULL AND transcript_meeting_id IS NULL
                  AND (CASE WHEN transcription_check_at IS NULL THEN transcription_requested_at IS NULL ELSE transcription_check_at <= {now} END)
                RETURNING transcription_attempts AS "Value"
                """).ToListAsync(cancellationToken);
            if (claimed.Count == 0) return;
            attempt = claimed[0];
        }
        string jobId;
        try
        {
            jobId = await gladia.TranscribeAsync(store.PresignGet(key, AudioLinkLifetime), callbacks.CallbackUrl(host.Value.PublicUri, recording.Id),
                recording.Id, cancellationToken);
        }
        catch (GladiaException e)
        {
            var retryAt = e.IsTransient && attempt <= GladiaRetries.Length ? now + GladiaRetries[attempt - 1] : (DateTimeOffset?)null;
            logger.LogWarning("Recording {RecordingId}: Gladia was not asked to transcribe it (try {Attempt}): {Reason}; {Next}", recording.Id, attempt,
                e.Message, retryAt is { } at ? $"trying again at {at:u}" : "not trying again");
            await NoteErrorAsync(recording.Id, GladiaProvider, e.Message, cancellationToken, checkAt: retryAt);
            return;
        }
        await using (var db = system.Open("record a recording's Gladia job"))
            await db.Recordings.Where(r => r.Id == recording.Id).ExecuteUpdateAsync(r => r.SetProperty(x => x.TranscriptionJobId, jobId)
                .SetProperty(x => x.TranscriptionCheckAt, now + CallbackWait).SetProperty(x => x.UpdatedAt, clock.GetUtcNow()), cancellationToken);
        logger.LogInformation("Recording {RecordingId}: Gladia is transcribing it (job {JobId})", recording.Id, jobId);
    }

    /// <summary>
    /// The transcription-retries job: every recording whose look is due gets it — a request Gladia could not take is made again, and a
    /// job whose callback has not come is read from Gladia (done: stored; failed or a day old: the error kept). Returns how many it looked at.
    /// </summary>
    public async Task<int> CheckDueAsync(CancellationToken cancellationToken)
    {
        if (!gladiaOptions.Value.IsConfigured) return 0;
        var now = clock.GetUtcNow();
        List<Recording> due;
        await using (var db = system.Open("find recordings whose transcription is due a look"))
            due = await db.Recordings.AsNoTracking()
                .Where(r => r.TranscriptionCheckAt <= now && r.TranscriptMeetingId == null && r.S3UploadStatus == S3UploadStatus.Complete)
                .OrderBy(r => r.TranscriptionCheckAt).Take(100).ToListAsync(cancellationToken);
        foreach (var recording in due)
        {
            try
            {
                if (recording.TranscriptionJobId is null) await RequestGladiaAsync(recording, cancellationToken);
                else await CheckGladiaJobAsync(recording, now, cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogError(e, "Recording {RecordingId}: looking at its transcription failed; the next run looks again", recording.Id);
            }
        }
        return due.Count;
    }

    async Task CheckGladiaJobAsync(Recording recording, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using (var db = system.Open("claim a look at a recording's Gladia job"))
        {
            var claimed = await db.Recordings.Where(r => r.Id == recording.Id && r.TranscriptionCheckAt <= now && r.TranscriptMeetingId == null)
                .ExecuteUpdateAsync(r => r.SetProperty(x => x.TranscriptionCheckAt, now + CallbackWait), cancellationToken);
            if (claimed == 0) return;   // another replica is looking, or the callback came
        }
        GladiaJob job;
        try
        {
            job = await gladia.GetAsync(recording.TranscriptionJobId!, cancellationToken);
        }
        catch (GladiaException e) when (e.IsTransient)
        {
            logger.LogWarning("Recording {RecordingId}: Gladia's job {JobId} could not be read: {Reason}; looking again later", recording.Id,
                recording.TranscriptionJobId, e.Message);
            return;
        }
        catch (GladiaException e)
        {
            await NoteErrorAsync(recording.Id, GladiaProvider, e.Message, cancellationToken);
            return;
        }
        switch (job.Status)
        {
            case "done":
                logger.LogInformation("Recording {RecordingId}: Gladia's callback for job {JobId} never came; its result is read instead", recording.Id,
                    recording.TranscriptionJobId);
                await StoreAsync(recording, GladiaProvider, job.Segments, null, null, cancellationToken);
                break;
            case "error":
                await NoteErrorAsync(recording.Id, GladiaProvider, $"Gladia could not transcribe the recording (error {job.ErrorCode})", cancellationToken);
                break;
            default:
                if (recording.TranscriptionRequestedAt is { } requested && now - requested >= JobGiveUp)
                    await NoteErrorAsync(recording.Id, GladiaProvider, $"Gladia had not finished the transcription a day after it was asked (job {job.Status})",
                        cancellationToken);
                break;
        }
    }

    /// <summary>The transcript on the recording's meeting: the calendar event's title, times and deal where it has one, else the bot's.</summary>
    async Task StoreAsync(Recording recording, string provider, IReadOnlyList<TranscriptSegment> segments, DateTimeOffset? joinedAt,
        DateTimeOffset? exitedAt, CancellationToken cancellationToken)
    {
        Calendar.CalendarEvent? calendarEvent = null;
        if (recording.CalendarEventId is { } eventId)
        {
            await using var db = system.Open("read the calendar event of a recorded meeting");
            calendarEvent = await db.CalendarEvents.AsNoTracking().SingleOrDefaultAsync(e => e.Id == eventId, cancellationToken);
        }
        var start = calendarEvent?.StartTime ?? recording.JoinedAt ?? joinedAt ?? recording.CreatedAt;
        var end = calendarEvent?.EndTime ?? exitedAt ?? recording.CompletedAt;
        var title = calendarEvent?.Title ?? recording.Title;
        var stored = await transcripts.StoreAsync(new TranscriptArrival(recording.OrgId, recording.UserId, MeetingSource.Notetaker, SourceRef(recording.Id),
            provider, string.IsNullOrWhiteSpace(title) ? "Recorded meeting" : title, start, end, recording.CalendarEventId, calendarEvent?.DealId,
            segments, recording.Id), cancellationToken);
        await using (var db = system.Open("record who transcribed a recording"))
            await db.Recordings.Where(r => r.Id == recording.Id).ExecuteUpdateAsync(r => r.SetProperty(x => x.TranscriptionProvider, provider)
                .SetProperty(x => x.TranscriptionError, (string?)null).SetProperty(x => x.TranscriptionCheckAt, (DateTimeOffset?)null), cancellationToken);
        logger.LogInformation("Recording {RecordingId}: {Provider} transcript on meeting {MeetingId}{First}", recording.Id, provider, stored.MeetingId,
            stored.IsFirst ? "" : " (again)");
    }

    /// <summary>Why the recording has no transcript, and when (if ever) it is looked at again.</summary>
    async Task NoteErrorAsync(Guid recordingId, string provider, string error, CancellationToken cancellationToken, DateTimeOffset? checkAt = null)
    {
        await using var db = system.Open("record why a recording has no transcript");
        await db.Recordings.Where(r => r.Id == recordingId).ExecuteUpdateAsync(r => r.SetProperty(x => x.TranscriptionProvider, provider)
            .SetProperty(x => x.TranscriptionError, error.Length <= MaxError ? error : error[..MaxError]).SetProperty(x => x.TranscriptionCheckAt, checkAt)
            .SetProperty(x => x.UpdatedAt, clock.GetUtcNow()), cancellationToken);
    }

    async Task<Recording?> RecordingAsync(Guid recordingId, CancellationToken cancellationToken)
    {
        await using var db = system.Open("read a recording for its transcript");
        return await db.Recordings.AsNoTracking().SingleOrDefaultAsync(r => r.Id == recordingId, cancellationToken);
    }

    /// <summary>A notetaker meeting's source ref: its recording's id, whoever transcribed it.</summary>
    public static string SourceRef(Guid recordingId) => recordingId.ToString("D", CultureInfo.InvariantCulture);
}

/// <summary>Every 5 minutes: Gladia requests to make again and jobs whose callback has not come (<see cref="RecordingTranscription.CheckDueAsync"/>).</summary>
[DisallowConcurrentExecution]
public sealed class TranscriptionRetryJob(RecordingTranscription transcription) : IJob
{
    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken) => await transcription.CheckDueAsync(cancellationToken);
}
