using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Use60.Calendar;
using Use60.Crm;
using Use60.Data;
using Use60.Hosting;
using Use60.Slack;

using static Use60.Recordings.FathomJson;
using static Use60.Slack.SlackJson;

namespace Use60.Recordings;

public enum FathomVia { Webhook, Pull }

/// <summary>What became of one Fathom recording handed to <see cref="FathomRecordings.LandAsync"/>.</summary>
public enum FathomLanding
{
    /// <summary>On its rep's meeting now.</summary>
    Landed,
    /// <summary>It landed before (by webhook or pull): nothing done.</summary>
    AlreadyLanded,
    /// <summary>Its recorder is no use60 user (or is one in several orgs): kept as unmatched, tried again by each pull.</summary>
    Unmatched,
    /// <summary>Fathom has no transcript for it yet: the pull comes back to it.</summary>
    NotReady,
    /// <summary>Not a recording (no id).</summary>
    Invalid,
}

/// <summary>
/// One Fathom recording onto its rep's meetings, the same however it came (webhook or pull) and however often: through
/// <see cref="MeetingTranscripts.StoreAsync"/> — the step the notetaker's transcripts end in, so it is searchable and brings the
/// follow-up pack — on a meeting with source_type 'fathom', source_ref the Fathom recording id and video_url Fathom's share link.
/// <para>
/// Whose it is: the API key is the deployment's, so the rep is the use60 user whose email is the recording's <c>recorded_by.email</c>
/// (case-insensitive), in an org that has not uninstalled use60. No such user, or users with that email in several orgs, and the
/// recording is kept in <c>fathom_recordings</c> as unmatched, with a warning in the log, and each pull tries it again.
/// </para>
/// </summary>
public sealed class FathomRecordings(SystemDb system, IServiceScopeFactory scopes, MeetingTranscripts transcripts, FathomClient fathom,
    TimeProvider clock, ILogger<FathomRecordings> logger)
{
    public const string Provider = "fathom";

    /// <summary>A calendar event starting this close to the recording's scheduled start is its meeting (and brings its deal).</summary>
    static readonly TimeSpan CalendarMatch = TimeSpan.FromMinutes(10);

    sealed record Rep(Guid OrgId, Guid UserId);

    public async Task<FathomLanding> LandAsync(JsonObject recording, FathomVia via, CancellationToken cancellationToken, WebhookDelivery? delivery = null)
    {
        if (IdOf(recording["recording_id"]) is not { } id)
        {
            logger.LogWarning("A Fathom recording without a recording_id was skipped");
            return FathomLanding.Invalid;
        }
        await using (var db = system.Open("check whether a Fathom recording has landed"))
            if (await db.Database.SqlQuery<string>($"SELECT status AS \"Value\" FROM fathom_recordings WHERE recording_id = {id}")
                    .FirstOrDefaultAsync(cancellationToken) == "landed")
                return FathomLanding.AlreadyLanded;

        var email = Str((recording["recorded_by"] as JsonObject)?["email"])?.Trim();
        var createdAt = DateOf(recording["created_at"]);
        if (email is null || await RepAsync(email, cancellationToken) is not { } rep)
        {
            await KeepUnmatchedAsync(id, email, recording, via, createdAt, cancellationToken);
            // The address's domain only: enough to tell which team, without a person's address in the log.
            logger.LogWarning("Fathom recording {RecordingId} was recorded by {Recorder}, who is not a use60 user in exactly one org; kept as unmatched " +
                              "and tried again on each pull", id, email?.IndexOf('@') is > 0 and var at ? "someone at " + email[(at + 1)..] : "nobody with an address");
            return FathomLanding.Unmatched;
        }
        delivery?.OrgId = rep.OrgId;

        var transcript = recording["transcript"] as JsonArray;
        if (transcript is not { Count: > 0 } && fathom.IsConfigured)
        {
            try
            {
                transcript = await fathom.TranscriptAsync(id, cancellationToken);
            }
            catch (FathomException e) when (!e.IsTransient || via == FathomVia.Webhook)
            {
                // A webhook is answered either way: the next pull reads the recording again (a pull itself stops on a Fathom that is down).
                logger.LogWarning("Fathom recording {RecordingId}: its transcript could not be read: {Reason}", id, e.Message);
                return FathomLanding.NotReady;
            }
        }
        var segments = Segments(transcript);
        if (!segments.Any(s => !string.IsNullOrWhiteSpace(s.Text)))
        {
            logger.LogInformation("Fathom recording {RecordingId} has no transcript yet; the pull comes back to it", id);
            return FathomLanding.NotReady;
        }

        var start = DateOf(recording["recording_start_time"]) ?? DateOf(recording["scheduled_start_time"]) ?? createdAt ?? clock.GetUtcNow();
        var end = DateOf(recording["recording_end_time"]) ?? DateOf(recording["scheduled_end_time"]);
        var title = Str(recording["meeting_title"]) ?? Str(recording["title"]);
        var videoUrl = new[] { Str(recording["share_url"]), Str(recording["url"]) }.FirstOrDefault(ValidatedOptions.IsHttpUrl);
        var calendarEvent = await CalendarEventAsync(rep, DateOf(recording["scheduled_start_time"]) ?? start, cancellationToken);
        var stored = await transcripts.StoreAsync(new TranscriptArrival(rep.OrgId, rep.UserId, MeetingSource.Fathom, id, Provider,
            string.IsNullOrWhiteSpace(title) ? calendarEvent?.Title ?? "Fathom recording" : title.Trim(), start, end, calendarEvent?.Id, calendarEvent?.DealId,
            segments, VideoUrl: videoUrl), cancellationToken);

        var now = clock.GetUtcNow();
        var channel = SnakeCase.ValueOf(via);
        await using (var db = system.Open("record a landed Fathom recording"))
            await db.Database.ExecuteSqlAsync($"""
                INSERT INTO fathom_recordings (recording_id, org_id, user_id, meeting_id, status, recorded_by, via, fathom_created_at, first_seen_at, landed_at)
                VALUES ({id}, {rep.OrgId}, {rep.UserId}, {stored.MeetingId}, 'landed', {email}, {channel}, {createdAt}, {now}, {now})
                ON CONFLICT (recording_id) DO UPDATE SET org_id = excluded.org_id, user_id = excluded.user_id, meeting_id = excluded.meeting_id,
                    status = 'landed', payload = NULL, landed_at = coalesce(fathom_recordings.landed_at, excluded.landed_at)
                """, cancellationToken);
        logger.LogInformation("Fathom recording {RecordingId} ({Via}) landed on meeting {MeetingId} of user {UserId}{Repeat}", id, channel, stored.MeetingId,
            rep.UserId, stored.IsFirst ? "" : " (it was there already)");
        return FathomLanding.Landed;
    }

    /// <summary>The one use60 user with this email, in an org that still has use60; null when there is none or more than one.</summary>
    async Task<Rep?> RepAsync(string email, CancellationToken cancellationToken)
    {
        await using var db = system.Open("find the use60 user who recorded a Fathom meeting");
        var reps = await db.Database.SqlQuery<Rep>($"""
            SELECT u.org_id AS "OrgId", u.id AS "UserId" FROM users u JOIN orgs o ON o.id = u.org_id
            WHERE lower(u.email) = lower({email}) AND o.slack_disabled_at IS NULL
            LIMIT 2
            """).ToListAsync(cancellationToken);
        return reps.Count == 1 ? reps[0] : null;
    }

    /// <summary>The rep's calendar meeting that the recording is of: the closest start to its scheduled one, if close enough.</summary>
    async Task<CalendarEvent?> CalendarEventAsync(Rep rep, DateTimeOffset scheduledStart, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateTenantScope(rep.OrgId, rep.UserId);
        var db = scope.ServiceProvider.GetRequiredService<Use60Db>();
        var (from, to) = (scheduledStart - CalendarMatch, scheduledStart + CalendarMatch);
        var near = await db.CalendarEvents.AsNoTracking()
            .Where(e => e.UserId == rep.UserId && e.Status != CalendarEventStatus.Cancelled && e.StartTime >= from && e.StartTime <= to)
            .Take(10).ToListAsync(cancellationToken);
        return near.OrderBy(e => (e.StartTime - scheduledStart).Duration()).FirstOrDefault();
    }

    async Task KeepUnmatchedAsync(string id, string? email, JsonObject recording, FathomVia via, DateTimeOffset? createdAt, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        await using var db = system.Open("keep an unmatched Fathom recording");
        await db.Database.ExecuteSqlAsync($"""
            INSERT INTO fathom_recordings (recording_id, status, recorded_by, payload, via, fathom_created_at, first_seen_at)
            VALUES ({id}, 'unmatched', {email}, {recording.ToJsonString()}::jsonb, {SnakeCase.ValueOf(via)}, {createdAt}, {now})
            ON CONFLICT (recording_id) DO UPDATE SET recorded_by = excluded.recorded_by, payload = excluded.payload
            WHERE fathom_recordings.status = 'unmatched'
            """, cancellationToken);
    }

    sealed record Unmatched(string RecordingId, string Payload, string Via);

    /// <summary>
    /// The unmatched recordings of the last <paramref name="within"/>, tried again (their rep may have been added since); older ones are
    /// deleted. Returns how many landed now.
    /// </summary>
    public async Task<int> RetryUnmatchedAsync(TimeSpan within, CancellationToken cancellationToken)
    {
        // Past the wait, an unmatched recording is forgotten: its payload is a transcript of people nobody here answers for.
        await using (var db = system.Open("forget unmatched Fathom recordings past their wait"))
            await db.Database.ExecuteSqlAsync($"""
                DELETE FROM fathom_recordings WHERE status = 'unmatched' AND first_seen_at <= {clock.GetUtcNow() - within}
                """, cancellationToken);
        List<Unmatched> waiting;
        await using (var db = system.Open("find unmatched Fathom recordings"))
            waiting = await db.Database.SqlQuery<Unmatched>($"""
                SELECT recording_id AS "RecordingId", payload::text AS "Payload", via AS "Via" FROM fathom_recordings
                WHERE status = 'unmatched' AND payload IS NOT NULL AND first_seen_at > {clock.GetUtcNow() - within}
                  -- Only those whose recorder is a user now: a backlog of strangers' recordings must not crowd them out of the batch.
                  AND lower(trim(payload -> 'recorded_by' ->> 'email')) IN (SELECT lower(u.email) FROM users u WHERE u.email IS NOT NULL)
                ORDER BY first_seen_at LIMIT 100
                """).ToListAsync(cancellationToken);
        var landed = 0;
        foreach (var row in waiting)
        {
            // A recorder who is still unknown is not worth a warning on every run.
            if (JsonNode.Parse(row.Payload) is not JsonObject payload || Str((payload["recorded_by"] as JsonObject)?["email"]) is not { } email
                || await RepAsync(email.Trim(), cancellationToken) is null)
                continue;
            if (await LandAsync(payload, row.Via == "webhook" ? FathomVia.Webhook : FathomVia.Pull, cancellationToken) == FathomLanding.Landed) landed++;
        }
        return landed;
    }
}

/// <summary>
/// <c>POST /webhooks/fathom</c>: Fathom signs its webhooks the Standard Webhooks way — <c>webhook-id</c>, <c>webhook-timestamp</c> (within
/// 5 minutes) and <c>webhook-signature</c> (<c>v1,</c> + base64 HMAC-SHA256 of <c>id.timestamp.body</c> with the <c>whsec_</c> secret's
/// key), the scheme <see cref="WebhookSignature"/> checks for MeetingBaaS in constant time. A bad or missing signature is a bare 401
/// and a line in the security audit log. The event then goes through the <see cref="WebhookInbox"/> under its webhook-id (a repeat is
/// acknowledged, not processed again) and lands through <see cref="FathomRecordings"/>; a failure answers 500 and Fathom retries.
/// </summary>
public sealed class FathomWebhook(WebhookInbox inbox, WebhookSignature signature, IOptions<FathomOptions> options, FathomRecordings recordings,
    ILogger<FathomWebhook> logger)
{
    public const string Path = "/webhooks/fathom";
    public const string IdHeader = "webhook-id", TimestampHeader = "webhook-timestamp", SignatureHeader = "webhook-signature";
    public const string EventName = "new_meeting_content_ready";

    /// <summary>The payload carries the whole transcript: a long meeting's is a few MB.</summary>
    const int MaxBodyBytes = 32 << 20;

    public static IEndpointRouteBuilder Map(IEndpointRouteBuilder app)
    {
        app.MapPost(Path, (HttpContext http, FathomWebhook webhook) => webhook.ReceiveAsync(http)).ExcludeFromDescription();
        return app;
    }

    async Task<IResult> ReceiveAsync(HttpContext http)
    {
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit) limit.MaxRequestBodySize = MaxBodyBytes;
        var body = await RequestBodies.ReadBoundedAsync(http.Request, MaxBodyBytes);
        if (body is null) return await inbox.RefuseAsync(http, Path, StatusCodes.Status413PayloadTooLarge, "body_too_large");
        var secret = options.Value.WebhookSecret;
        if (string.IsNullOrWhiteSpace(secret)) return await inbox.RefuseAsync(http, Path, StatusCodes.Status401Unauthorized, "no_webhook_secret");
        var headers = http.Request.Headers;
        var check = signature.Verify(secret.Trim(), headers[IdHeader], headers[TimestampHeader], headers[SignatureHeader], body);
        if (check != SignatureCheck.Valid) return await inbox.RefuseAsync(http, Path, StatusCodes.Status401Unauthorized, SnakeCase.Convert(check.ToString()));

        JsonObject recording;
        try
        {
            recording = RequestBodies.ParseJsonObject(body);
        }
        catch (JsonException e)
        {
            logger.LogWarning("A signed Fathom webhook was not JSON: {Reason}", e.Message);
            return Results.BadRequest();
        }
        if (IdOf(recording["recording_id"]) is not { } recordingId || headers[IdHeader].ToString().Length > RequestBodies.MaxIdLength)
            return Results.BadRequest();

        // The inbox keeps what identifies the recording, not what was said in it (that lands on the meeting).
        var kept = (JsonObject)recording.DeepClone();
        foreach (var content in new[] { "transcript", "default_summary", "action_items", "crm_matches" }) kept.Remove(content);
        var outcome = await inbox.AcceptAsync(FathomRecordings.Provider, headers[IdHeader].ToString(), EventName, kept, async (delivery, token) =>
        {
            var landing = await recordings.LandAsync(recording, FathomVia.Webhook, token, delivery);
            logger.LogInformation("Fathom webhook for recording {RecordingId}: {Landing}", recordingId, landing);
            return landing == FathomLanding.Landed ? WebhookOutcome.Handled : WebhookOutcome.Ignored;
        }, http.RequestAborted);
        return Results.Json(new JsonObject { ["outcome"] = SnakeCase.ValueOf(outcome) });
    }
}
