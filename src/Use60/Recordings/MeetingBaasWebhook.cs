using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Use60.Data;
using Use60.Hosting;
using Use60.Security;
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

public enum WebhookOutcome { Handled, Ignored, Duplicate }

/// <summary>
/// <c>POST /webhooks/meetingbaas</c>: the signature is checked first (a bad or missing one is a bare 401 and a line in the security
/// audit log); the event is then written to <c>webhook_inbox</c> under MeetingBaaS's message id before anything is done with it, so a
/// second delivery of the same message is acknowledged without being processed again. A processing failure answers 500 and leaves
/// the row unprocessed: MeetingBaaS retries it.
/// </summary>
public sealed class MeetingBaasWebhook(SystemDb system, IServiceScopeFactory scopes, TimeProvider clock, ILogger<MeetingBaasWebhook> logger)
{
    public const string Path = "/webhooks/meetingbaas";
    const int MaxBodyBytes = 1 << 20;
    static readonly TimeSpan ProcessingLease = TimeSpan.FromMinutes(1);

    /// <summary>bot.status_change codes: on the way in, and in the call. (Finishing and failing come as bot.completed and bot.failed.)</summary>
    static readonly IReadOnlySet<string> Joining = new HashSet<string> { "joining_call", "in_waiting_room", "in_waiting_for_host" };
    static readonly IReadOnlySet<string> InCall = new HashSet<string> { "in_call_not_recording", "in_call_recording", "recording_paused", "recording_resumed" };

    sealed record Accepted(long Id, bool IsNew);

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
        if (body is null) return await RefuseAsync(http, StatusCodes.Status413PayloadTooLarge, "body_too_large");
        if (string.IsNullOrWhiteSpace(secret)) return await RefuseAsync(http, StatusCodes.Status401Unauthorized, "no_webhook_secret");
        var headers = http.Request.Headers;
        var check = signature.Verify(secret.Trim(), headers[WebhookSignature.IdHeader], headers[WebhookSignature.TimestampHeader],
            headers[WebhookSignature.SignatureHeader], body);
        if (check != SignatureCheck.Valid) return await RefuseAsync(http, StatusCodes.Status401Unauthorized, SnakeCase.Convert(check.ToString()));

        JsonObject payload;
        try
        {
            payload = JsonNode.Parse(body) as JsonObject ?? throw new JsonException("not an object");
        }
        catch (JsonException e)
        {
            logger.LogWarning("A signed MeetingBaaS webhook was not JSON: {Reason}", e.Message);
            return Results.BadRequest();
        }
        var outcome = await AcceptAsync(headers[WebhookSignature.IdHeader].ToString(), payload, http.RequestAborted);
        return Results.Json(new JsonObject { ["outcome"] = SnakeCase.ValueOf(outcome) });
    }

    /// <summary>No detail for the caller; the reason goes to the security audit log (no org: an unverified body names none) and the log.</summary>
    async Task<IResult> RefuseAsync(HttpContext http, int status, string reason)
    {
        logger.LogWarning("Refused a MeetingBaaS webhook: {Reason}", reason);
        await using var db = system.Open("audit a refused MeetingBaaS webhook");
        http.RequestServices.GetRequiredService<SecurityAudit>().Record(db, AuditEvents.NotetakerWebhookRejected, AuditSeverity.Medium, null, null,
            new { reason, path = Path }, http);
        await db.SaveChangesAsync(CancellationToken.None);
        return Results.StatusCode(status);
    }

    /// <summary>Stores the event (once per delivery id) and processes it unless it was processed before or is being processed now.</summary>
    public async Task<WebhookOutcome> AcceptAsync(string deliveryId, JsonObject payload, CancellationToken cancellationToken)
    {
        var eventName = Str(payload["event"]) ?? Str(payload["type"]) ?? "unknown";
        var now = clock.GetUtcNow();
        long id;
        await using (var db = system.Open("store a MeetingBaaS webhook in the inbox"))
        {
            var accepted = (await db.Database.SqlQuery<Accepted>($"""
                INSERT INTO webhook_inbox (provider, delivery_id, event, payload, received_at)
                VALUES ('meetingbaas', {deliveryId}, {eventName}, {payload.ToJsonString()}::jsonb, {now})
                ON CONFLICT (provider, delivery_id) DO UPDATE SET deliveries = webhook_inbox.deliveries + 1
                RETURNING id AS "Id", (xmax = 0) AS "IsNew"
                """).ToListAsync(cancellationToken)).Single();
            id = accepted.Id;
            if (!accepted.IsNew) logger.LogInformation("MeetingBaaS delivered webhook {DeliveryId} again", deliveryId);
            var leased = await db.Database.SqlQuery<long>($"""
                UPDATE webhook_inbox SET attempts = attempts + 1, locked_until = {now + ProcessingLease}
                WHERE id = {id} AND processed_at IS NULL AND (locked_until IS NULL OR locked_until <= {now})
                RETURNING id AS "Value"
                """).ToListAsync(cancellationToken);
            if (leased.Count == 0) return WebhookOutcome.Duplicate;
        }

        WebhookOutcome outcome;
        try
        {
            outcome = await ProcessAsync(eventName, payload["data"] as JsonObject ?? [], now, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogError(e, "MeetingBaaS webhook {DeliveryId} ({Event}) could not be processed; MeetingBaaS will deliver it again", deliveryId, eventName);
            await FinishAsync(id, null, e.GetType().Name + ": " + e.Message, CancellationToken.None);
            throw;
        }
        await FinishAsync(id, outcome, null, CancellationToken.None);
        return outcome;
    }

    async Task FinishAsync(long id, WebhookOutcome? outcome, string? error, CancellationToken cancellationToken)
    {
        await using var db = system.Open("record a processed MeetingBaaS webhook");
        var processedAt = outcome is null ? (DateTimeOffset?)null : clock.GetUtcNow();
        var text = outcome is null ? null : SnakeCase.ValueOf(outcome.Value);
        error = error?[..Math.Min(error.Length, 1000)];
        await db.Database.ExecuteSqlAsync($"""
            UPDATE webhook_inbox SET processed_at = {processedAt}, outcome = {text}, error = {error}, locked_until = NULL WHERE id = {id}
            """, cancellationToken);
    }

    /// <summary>What the event means for our recording (found by its bot id, or by the recording id we gave the bot), in its rep's own tenant scope.</summary>
    async Task<WebhookOutcome> ProcessAsync(string eventName, JsonObject data, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var botId = Str(data["bot_id"]);
        if (botId is null) return WebhookOutcome.Ignored;
        var ours = Guid.TryParse(Str(data["extra"]?["recording_id"]), out var recordingId) ? recordingId : Guid.Empty;
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

        await using var scope = scopes.CreateTenantScope(bot.OrgId, bot.UserId);
        var notetaker = scope.ServiceProvider.GetRequiredService<Notetaker>();
        var code = Str(data["status"]?["code"]);
        var changed = eventName switch
        {
            "bot.joined" => await notetaker.ReportedAsync(bot.Id, botId, RecordingStatus.Joined, now, cancellationToken),
            "bot.status_change" when code is not null && Joining.Contains(code) => await notetaker.ReportedAsync(bot.Id, botId, RecordingStatus.Joining, now, cancellationToken),
            "bot.status_change" when code is not null && InCall.Contains(code) => await notetaker.ReportedAsync(bot.Id, botId, RecordingStatus.Joined, now, cancellationToken),
            "bot.completed" => await notetaker.CompletedAsync(bot.Id, botId, Str(data["mp4"]) ?? Str(data["video"]), Str(data["audio"]), now, cancellationToken),
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
