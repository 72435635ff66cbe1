using System.Globalization;
using System.Net;
using System.Net.Http.Json;
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
/// our recording id in <c>extra</c>, which MeetingBaaS sends back in each webhook.
/// </summary>
public sealed class MeetingBaasClient(HttpClient http, IOptions<MeetingBaasOptions> options)
{
    public const string ApiKeyHeader = "x-meeting-baas-api-key";

    /// <summary>MeetingBaaS takes a scheduled bot only at least a minute ahead; closer than this, the bot is sent now instead.</summary>
    public static readonly TimeSpan MinimumScheduleLead = TimeSpan.FromMinutes(2);

    /// <summary>A scheduled bot's join time can be changed only while it is at least 4 minutes away, and only to a time as far.</summary>
    public static readonly TimeSpan RescheduleLockWindow = TimeSpan.FromMinutes(4);

    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

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
        };
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

    async Task<JsonObject?> SendAsync(HttpMethod method, string path, JsonObject? body, string what, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        if (!settings.IsConfigured) throw new MeetingBaasException(MeetingBaasFailure.Unauthorized, "The notetaker is not set up here (MEETINGBAAS_API_KEY is not set).");
        using var request = new HttpRequestMessage(method, new Uri(settings.ApiUri, path));
        request.Headers.Add(ApiKeyHeader, settings.ApiKey!.Trim());
        if (body is not null) request.Content = JsonContent.Create(body, options: Json);
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, cancellationToken);
        }
        catch (Exception e) when (e is HttpRequestException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            throw new MeetingBaasException(MeetingBaasFailure.Unavailable, $"MeetingBaaS could not be reached to {what}.", e);
        }
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
