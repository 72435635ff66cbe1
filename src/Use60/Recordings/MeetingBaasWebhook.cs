using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Use60.Data;
using Use60.Hosting;
using Use60.Slack;

using static Use60.Slack.SlackJson;

namespace Use60.Recordings;

/// <summary>
/// MeetingBaaS signs its webhooks with Svix: <c>svix-signature</c> holds one or more space-separated <c>v1,</c> + base64
/// HMAC-SHA256 of <c>{svix-id}.{svix-timestamp}.{raw body}</c>, keyed with the endpoint's signing secret (<c>whsec_</c> + base64 of
/// the key; a secret without that prefix is used as it is). Compared in constant time; a timestamp more than 5 minutes from now is
/// refused (replays). The same <c>svix-id</c> comes with every retry of one message.
/// </summary>
public sealed class WebhookSignature(TimeProvider clock)
{
    public const string IdHeader = "svix-id", TimestampHeader = "svix-timestamp", SignatureHeader = "svix-signature";
    public static readonly TimeSpan MaxClockSkew = TimeSpan.FromMinutes(5);
    const string SecretPrefix = "whsec_";

    public static string Sign(string secret, string id, string timestamp, ReadOnlySpan<byte> body) =>
        "v1," + Convert.ToBase64String(Mac(secret, id, timestamp, body));

    public SignatureCheck Verify(string secret, string? id, string? timestamp, string? signatures, ReadOnlySpan<byte> body)
    {
        if (string.IsNullOrEmpty(id) || string.IsNullOrEmpty(timestamp) || string.IsNullOrEmpty(signatures)) return SignatureCheck.MissingHeaders;
        if (!long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) || seconds > DateTimeOffset.MaxValue.ToUnixTimeSeconds()
            || (clock.GetUtcNow() - DateTimeOffset.FromUnixTimeSeconds(seconds)).Duration() > MaxClockSkew)
            return SignatureCheck.StaleTimestamp;
        var expected = Mac(secret, id, timestamp, body);
        Span<byte> given = stackalloc byte[64];
        var valid = false;
        foreach (var signature in signatures.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            if (signature.StartsWith("v1,", StringComparison.Ordinal) && Convert.TryFromBase64String(signature[3..], given, out var length))
                valid |= CryptographicOperations.FixedTimeEquals(expected, given[..length]);
        return valid ? SignatureCheck.Valid : SignatureCheck.BadSignature;
    }

    static byte[] Mac(string secret, string id, string timestamp, ReadOnlySpan<byte> body)
    {
        var key = secret.StartsWith(SecretPrefix, StringComparison.Ordinal) ? Convert.FromBase64String(secret[SecretPrefix.Length..]) : Encoding.UTF8.GetBytes(secret);
        var prefix = Encoding.UTF8.GetBytes($"{id}.{timestamp}.");
        var message = new byte[prefix.Length + body.Length];
        prefix.CopyTo(message, 0);
        body.CopyTo(message.AsSpan(prefix.Length));
        return HMACSHA256.HashData(key, message);
    }
}

/// <summary>
/// <c>POST /webhooks/meetingbaas</c>: the signature is checked first (a bad or missing one is a bare 401 and a line in the security
/// audit log); the event then goes through the <see cref="WebhookInbox"/> under MeetingBaaS's message id, so a second delivery of the
/// same message is acknowledged without being processed again. A processing failure answers 500: MeetingBaaS retries it.
/// </summary>
public sealed class MeetingBaasWebhook(SystemDb system, WebhookInbox inbox, IServiceScopeFactory scopes, ILogger<MeetingBaasWebhook> logger)
{
    public const string Path = "/webhooks/meetingbaas";
    const int MaxBodyBytes = 1 << 20;

    /// <summary>bot.status_change codes: on the way in, and in the call. (Finishing and failing come as bot.completed and bot.failed.)</summary>
    static readonly IReadOnlySet<string> Joining = new HashSet<string> { "joining_call", "in_waiting_room", "in_waiting_for_host" };
    static readonly IReadOnlySet<string> InCall = new HashSet<string> { "in_call_not_recording", "in_call_recording", "recording_paused", "recording_resumed" };

    sealed record Bot(Guid Id, Guid OrgId, Guid UserId);

    public static IEndpointRouteBuilder Map(IEndpointRouteBuilder app)
    {
        app.MapPost(Path, (HttpContext http, IOptions<MeetingBaasOptions> options, WebhookSignature signature, MeetingBaasWebhook webhook) =>
            webhook.ReceiveAsync(http, options.Value.WebhookSecret, signature)).ExcludeFromDescription();
        return app;
    }

    async Task<IResult> ReceiveAsync(HttpContext http, string? secret, WebhookSignature signature)
    {
        var body = await RequestBodies.ReadBoundedAsync(http.Request, MaxBodyBytes);
        if (body is null) return await inbox.RefuseAsync(http, Path, StatusCodes.Status413PayloadTooLarge, "body_too_large");
        if (string.IsNullOrWhiteSpace(secret)) return await inbox.RefuseAsync(http, Path, StatusCodes.Status401Unauthorized, "no_webhook_secret");
        var headers = http.Request.Headers;
        var check = signature.Verify(secret.Trim(), headers[WebhookSignature.IdHeader], headers[WebhookSignature.TimestampHeader],
            headers[WebhookSignature.SignatureHeader], body);
        if (check != SignatureCheck.Valid) return await inbox.RefuseAsync(http, Path, StatusCodes.Status401Unauthorized, SnakeCase.Convert(check.ToString()));

        JsonObject payload;
        try
        {
            payload = RequestBodies.ParseJsonObject(body);
        }
        catch (JsonException e)
        {
            logger.LogWarning("A signed MeetingBaaS webhook was not JSON: {Reason}", e.Message);
            return Results.BadRequest();
        }
        // The message id and the event name key the inbox: longer than any real one is not MeetingBaaS.
        if (headers[WebhookSignature.IdHeader].ToString().Length > RequestBodies.MaxIdLength
            || (Str(payload["event"]) ?? Str(payload["type"]))?.Length > RequestBodies.MaxIdLength)
            return Results.BadRequest();
        var outcome = await AcceptAsync(headers[WebhookSignature.IdHeader].ToString(), payload, http.RequestAborted);
        return Results.Json(new JsonObject { ["outcome"] = SnakeCase.ValueOf(outcome) });
    }

    /// <summary>Stores the event (once per delivery id) and processes it unless it was processed before or is being processed now.</summary>
    public Task<WebhookOutcome> AcceptAsync(string deliveryId, JsonObject payload, CancellationToken cancellationToken)
    {
        var eventName = Str(payload["event"]) ?? Str(payload["type"]) ?? "unknown";
        // v2 puts the bot's extra beside data; the recording id we gave the bot is looked for in both places.
        var data = payload["data"] as JsonObject ?? [];
        return inbox.AcceptAsync("meetingbaas", deliveryId, eventName, payload,
            (delivery, token) => ProcessAsync(eventName, data, payload["extra"] as JsonObject ?? data["extra"] as JsonObject, delivery, token), cancellationToken);
    }

    /// <summary>What the event means for our recording (found by its bot id, or by the recording id we gave the bot), in its rep's own tenant scope.</summary>
    async Task<WebhookOutcome> ProcessAsync(string eventName, JsonObject data, JsonObject? extra, WebhookDelivery delivery, CancellationToken cancellationToken)
    {
        var now = delivery.ReceivedAt;
        var botId = Str(data["bot_id"]);
        if (botId is null) return WebhookOutcome.Ignored;
        var ours = Guid.TryParse(Str(extra?["recording_id"]), out var recordingId) ? recordingId : Guid.Empty;
        Bot? bot;
        await using (var db = system.Open("find the recording of a MeetingBaaS bot"))
            bot = await db.Database.SqlQuery<Bot>($"""
                SELECT id AS "Id", org_id AS "OrgId", user_id AS "UserId" FROM recordings WHERE bot_id = {botId} OR (bot_id IS NULL AND id = {ours})
                """).FirstOrDefaultAsync(cancellationToken);
        if (bot is null)
        {
            logger.LogInformation("MeetingBaaS {Event} for bot {BotId}, which is not one of ours", eventName, botId);
            return WebhookOutcome.Ignored;
        }
        delivery.OrgId = bot.OrgId;

        await using var scope = scopes.CreateTenantScope(bot.OrgId, bot.UserId);
        var notetaker = scope.ServiceProvider.GetRequiredService<Notetaker>();
        var code = Str((data["status"] as JsonObject)?["code"]);
        var changed = eventName switch
        {
            "bot.joined" => await notetaker.ReportedAsync(bot.Id, botId, RecordingStatus.Joined, now, cancellationToken),
            "bot.status_change" when code is not null && Joining.Contains(code) => await notetaker.ReportedAsync(bot.Id, botId, RecordingStatus.Joining, now, cancellationToken),
            "bot.status_change" when code is not null && InCall.Contains(code) => await notetaker.ReportedAsync(bot.Id, botId, RecordingStatus.Joined, now, cancellationToken),
            // bot.completed also carries the transcript (a link to it) when the bot transcribed: MeetingBaaS v2 has no separate event.
            "bot.completed" => await notetaker.CompletedAsync(bot.Id, botId, Str(data["mp4"]) ?? Str(data["video"]), Str(data["audio"]), now, cancellationToken)
                | await scope.ServiceProvider.GetRequiredService<RecordingTranscription>().FromMeetingBaasAsync(bot.Id, botId, data, cancellationToken),
            "bot.failed" => await notetaker.FailAsync(bot.Id, FailureOf(data), now, tellRep: true, cancellationToken),
            _ => false,
        };
        logger.LogInformation("MeetingBaaS {Event}{Code} for recording {RecordingId}: {Effect}", eventName, code is null ? "" : $" ({code})", bot.Id,
            changed ? "applied" : "nothing to change");
        return changed ? WebhookOutcome.Handled : WebhookOutcome.Ignored;
    }

    static string FailureOf(JsonObject data)
    {
        var message = Str(data["error_message"]) ?? Str(data["message"]);
        var code = Str(data["error_code"]) ?? Str(data["error"]);
        return (message, code) switch
        {
            ({ } m, { } c) => $"{m} ({c})",
            ({ } m, null) => m,
            (null, { } c) => c,
            _ => "MeetingBaaS did not say why.",
        };
    }
}
