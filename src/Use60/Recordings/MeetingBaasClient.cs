using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;

namespace Use60.Recordings;

public enum MeetingBaasFailure
{
    /// <summary>Not reachable, a timeout, 5xx, or a rate limit: worth trying again later.</summary>
    Unavailable,

    /// <summary>The API key was not accepted (401, 403).</summary>
    Unauthorized,

    /// <summary>MeetingBaaS refused the request itself (400, 402, 422, …): trying again will not help.</summary>
    Refused,

    /// <summary>No such bot (404).</summary>
    NotFound,

    /// <summary>The bot's state does not allow it (409): already finished, or too close to its join time to change.</summary>
    Conflict,
}

/// <summary>A MeetingBaaS call that did not work; the message is safe to show a rep (it never holds the API key).</summary>
public sealed class MeetingBaasException(MeetingBaasFailure failure, string message, Exception? inner = null) : Exception(message, inner)
{
    public MeetingBaasFailure Failure { get; } = failure;

    public bool IsTransient => Failure == MeetingBaasFailure.Unavailable;
}

/// <summary>A bot to send: where, under which name, what it says in the chat on joining, and when (null: now).</summary>
public sealed record BotOrder(string MeetingUrl, string BotName, string EntryMessage, DateTimeOffset? JoinAt, Guid RecordingId);

/// <summary>
/// The few MeetingBaaS v2 calls the notetaker makes (<c>x-meeting-baas-api-key</c> header): send a bot now (<c>POST /v2/bots</c>) or
/// at a time (<c>POST /v2/bots/scheduled</c>), move a scheduled bot's join time (<c>PATCH /v2/bots/scheduled/{id}</c>), and take a
/// bot back (<c>DELETE /v2/bots/scheduled/{id}</c> before it has joined, <c>POST /v2/bots/{id}/leave</c> after). Every bot carries
/// our recording id in <c>extra</c>, which MeetingBaaS sends back in each webhook. A bot transcribes the meeting itself
/// (<c>transcription_enabled</c>) unless GLADIA_API_KEY is set, in which case use60 has Gladia transcribe the stored audio instead; its
/// transcript is read with <see cref="GetTranscriptAsync"/>.
/// </summary>
public sealed class MeetingBaasClient(HttpClient http, IOptions<MeetingBaasOptions> options, IOptions<GladiaOptions> gladia)
{
    public const string ApiKeyHeader = "x-meeting-baas-api-key";

    /// <summary>MeetingBaaS takes a scheduled bot only at least a minute ahead; closer than this, the bot is sent now instead.</summary>
    public static readonly TimeSpan MinimumScheduleLead = TimeSpan.FromMinutes(2);

    /// <summary>A scheduled bot's join time can be changed only while it is at least 4 minutes away, and only to a time as far.</summary>
    public static readonly TimeSpan RescheduleLockWindow = TimeSpan.FromMinutes(4);

    public bool IsConfigured => options.Value.IsConfigured;

    /// <summary>Sends the bot, scheduled when it joins later; returns MeetingBaaS's bot id, and whether it was scheduled.</summary>
    public async Task<(string BotId, bool Scheduled)> DeployAsync(BotOrder order, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var scheduled = order.JoinAt is { } joinAt && joinAt - now >= MinimumScheduleLead;
        var body = new JsonObject
        {
            ["meeting_url"] = order.MeetingUrl,
            ["bot_name"] = order.BotName,
            ["entry_message"] = order.EntryMessage,
            ["recording_mode"] = "speaker_view",
            // use60 keeps to one bot per meeting and org itself; two orgs in one call each get their own recording.
            ["allow_multiple_bots"] = true,
            ["extra"] = new JsonObject { ["recording_id"] = order.RecordingId.ToString() },
            // One transcription per meeting: MeetingBaaS's (its default provider), or ours of the stored audio with Gladia.
            ["transcription_enabled"] = !gladia.Value.IsConfigured,
        };
        if (!gladia.Value.IsConfigured) body["transcription_config"] = new JsonObject { ["provider"] = "gladia" };
        if (scheduled) body["join_at"] = Iso(order.JoinAt!.Value);
        var answer = await SendAsync(HttpMethod.Post, scheduled ? "v2/bots/scheduled" : "v2/bots", body, "send the notetaker", cancellationToken);
        var botId = (string?)answer?["data"]?["bot_id"] ?? throw new MeetingBaasException(MeetingBaasFailure.Unavailable,
            "MeetingBaaS accepted the bot but did not say its id.");
        return (botId, scheduled);
    }

    /// <summary>Moves a scheduled bot's join time.</summary>
    public Task RescheduleAsync(string botId, DateTimeOffset joinAt, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Patch, $"v2/bots/scheduled/{Uri.EscapeDataString(botId)}", new JsonObject { ["join_at"] = Iso(joinAt) },
            "move the notetaker's join time", cancellationToken);

    /// <summary>
    /// Takes the bot back: a scheduled one is cancelled, one on its way or in the call leaves. A bot MeetingBaaS no longer has, or
    /// that has already finished, needs nothing more.
    /// </summary>
    public async Task RemoveAsync(string botId, bool scheduled, CancellationToken cancellationToken)
    {
        var id = Uri.EscapeDataString(botId);
        try
        {
            if (scheduled) await SendAsync(HttpMethod.Delete, $"v2/bots/scheduled/{id}", null, "cancel the notetaker", cancellationToken);
            else await SendAsync(HttpMethod.Post, $"v2/bots/{id}/leave", null, "call the notetaker back", cancellationToken);
        }
        catch (MeetingBaasException e) when (e.Failure is MeetingBaasFailure.NotFound or MeetingBaasFailure.Conflict)
        {
        }
    }

    /// <summary>
    /// The bot's transcript, or null when it has none (the bot did not transcribe, or its data is deleted). The transcript is a JSON
    /// artifact behind a signed link (valid 4 hours) that bot.completed carries; without one, or once it has expired, a fresh link
    /// comes from the bot's details (<c>GET /v2/bots/{id}</c>). The artifact is fetched without our API key: the link is signed for
    /// MeetingBaaS's storage, which must not see the key.
    /// </summary>
    public async Task<IReadOnlyList<Crm.TranscriptSegment>?> GetTranscriptAsync(string botId, string? signedUrl, CancellationToken cancellationToken)
    {
        var fresh = false;
        if (signedUrl is null)
        {
            (signedUrl, fresh) = (await TranscriptLinkAsync(botId, cancellationToken), true);
            if (signedUrl is null) return null;
        }
        var artifact = await DownloadAsync(signedUrl, cancellationToken);
        if (artifact is null && !fresh && await TranscriptLinkAsync(botId, cancellationToken) is { } renewed)
            artifact = await DownloadAsync(renewed, cancellationToken);
        if (artifact is null) throw new MeetingBaasException(MeetingBaasFailure.NotFound, "MeetingBaaS's link to the transcript no longer works.");
        return TranscriptOf(artifact);
    }

    async Task<string?> TranscriptLinkAsync(string botId, CancellationToken cancellationToken)
    {
        var details = await SendAsync(HttpMethod.Get, $"v2/bots/{Uri.EscapeDataString(botId)}", null, "read the bot's details", cancellationToken);
        return details?["data"]?["transcription"] is JsonValue link && link.TryGetValue<string>(out var url) && !string.IsNullOrWhiteSpace(url) ? url : null;
    }

    /// <summary>The artifact's JSON, or null when the link is refused or gone (expired: 403, 404, 410).</summary>
    async Task<JsonObject?> DownloadAsync(string url, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http"))
            throw new MeetingBaasException(MeetingBaasFailure.Refused, "MeetingBaaS's link to the transcript is not a web address.");
        HttpResponseMessage response;
        try
        {
            response = await http.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (Exception e) when (e is HttpRequestException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            throw new MeetingBaasException(MeetingBaasFailure.Unavailable, "MeetingBaaS's transcript could not be downloaded.", e);
        }
        using (response)
        {
            if (response.StatusCode is HttpStatusCode.Forbidden or HttpStatusCode.NotFound or HttpStatusCode.Gone) return null;
            if (!response.IsSuccessStatusCode)
                throw new MeetingBaasException(MeetingBaasFailure.Unavailable, $"MeetingBaaS's transcript could not be downloaded ({(int)response.StatusCode}).");
            if (response.Content.Headers.ContentLength > MaxTranscriptBytes)
                throw new MeetingBaasException(MeetingBaasFailure.Refused, "MeetingBaaS's transcript is larger than any meeting's.");
            try
            {
                await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
                return await JsonNode.ParseAsync(stream, cancellationToken: cancellationToken) as JsonObject
                       ?? throw new JsonException("not an object");
            }
            catch (JsonException e)
            {
                throw new MeetingBaasException(MeetingBaasFailure.Refused, "MeetingBaaS's transcript is not the JSON it documents.", e);
            }
        }
    }

    /// <summary>A transcript file far larger than a long meeting's (a 3-hour call with word timings is some 20 MB).</summary>
    const long MaxTranscriptBytes = 200L * 1024 * 1024;

    /// <summary>
    /// The transcription artifact: <c>{"bot_id", "provider", "result": {"utterances": [{"speaker": "Jane Doe", "start": 0.5, "end": 2.1,
    /// "text": "…", "words": […]}]}}</c>, speakers by name, times in seconds from the start.
    /// </summary>
    static List<Crm.TranscriptSegment> TranscriptOf(JsonObject artifact) => Utterances.Segments(artifact["result"]?["utterances"]);

    async Task<JsonObject?> SendAsync(HttpMethod method, string path, JsonObject? body, string what, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        if (!settings.IsConfigured) throw new MeetingBaasException(MeetingBaasFailure.Unauthorized, "The notetaker is not set up here (MEETINGBAAS_API_KEY is not set).");
        var response = await ProviderHttp.SendAsync(http, method, new Uri(settings.ApiUri, path), ApiKeyHeader, settings.ApiKey!, body,
            e => new MeetingBaasException(MeetingBaasFailure.Unavailable, $"MeetingBaaS could not be reached to {what}.", e), cancellationToken);
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            if (response.IsSuccessStatusCode)
            {
                try
                {
                    return text.Length == 0 ? null : JsonNode.Parse(text) as JsonObject;
                }
                catch (JsonException e)
                {
                    throw new MeetingBaasException(MeetingBaasFailure.Unavailable, $"MeetingBaaS answered the request to {what} with something that is not JSON.", e);
                }
            }
            throw Failure(response.StatusCode, text, what);
        }
    }

    static MeetingBaasException Failure(HttpStatusCode status, string body, string what)
    {
        var code = (int)status;
        var reason = ReasonOf(body);
        var detail = reason is null ? $"({code})" : $"({code}: {reason})";
        return code switch
        {
            401 or 403 => new(MeetingBaasFailure.Unauthorized, $"MeetingBaaS did not accept the API key {detail}: check MEETINGBAAS_API_KEY."),
            402 => new(MeetingBaasFailure.Refused, $"MeetingBaaS has no tokens left to {what} {detail}."),
            404 => new(MeetingBaasFailure.NotFound, $"MeetingBaaS does not know that bot {detail}."),
            409 => new(MeetingBaasFailure.Conflict, $"MeetingBaaS could not {what} in the bot's current state {detail}."),
            429 => new(MeetingBaasFailure.Unavailable, $"MeetingBaaS is rate-limiting us or the daily bot limit is reached {detail}."),
            >= 500 => new(MeetingBaasFailure.Unavailable, $"MeetingBaaS failed to {what} {detail}."),
            _ => new(MeetingBaasFailure.Refused, $"MeetingBaaS refused to {what} {detail}."),
        };
    }

    /// <summary>MeetingBaaS's own words from an error body ({"message": …, "code": …}), bounded.</summary>
    static string? ReasonOf(string body)
    {
        try
        {
            if (JsonNode.Parse(body) is not JsonObject error) return null;
            var message = (error["message"] ?? error["error"]) is JsonValue m && m.TryGetValue<string>(out var s) ? s : null;
            var code = error["code"] is JsonValue c && c.TryGetValue<string>(out var k) ? k : null;
            var reason = string.Join(", ", new[] { code, message }.Where(p => !string.IsNullOrWhiteSpace(p)));
            return reason.Length == 0 ? null : reason[..Math.Min(reason.Length, 300)];
        }
        catch (JsonException)
        {
            return null;
        }
    }

    static string Iso(DateTimeOffset instant) => instant.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
