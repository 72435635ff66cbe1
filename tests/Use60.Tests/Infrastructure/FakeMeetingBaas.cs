using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Use60.Recordings;

namespace Use60.Tests.Infrastructure;

/// <summary>
/// MeetingBaaS's v2 bot API as a real HTTP server on 127.0.0.1, with state: bots sent now or scheduled, moved, cancelled and called
/// back; the API key checked; scriptable failures. It also signs webhooks the way MeetingBaaS (Svix) does, and keeps bots'
/// transcripts as MeetingBaaS v2 does: a JSON artifact behind a signed link (which can be made to expire), renewed by the bot's details.
/// </summary>
public sealed class FakeMeetingBaas : IAsyncDisposable
{
    public const string ApiKey = "mb-test-api-key-0123456789";

    /// <summary>A Svix endpoint secret: whsec_ + base64 of the key.</summary>
    public static readonly string WebhookSecret = "whsec_" + Convert.ToBase64String(Encoding.UTF8.GetBytes("fake-meetingbaas-signing-key-32b!"));

    public sealed class Bot
    {
        public required string Id { get; init; }
        public required JsonObject Request { get; init; }
        public bool Scheduled { get; init; }
        public DateTimeOffset? JoinAt { get; set; }
        public bool Cancelled { get; set; }
        public bool Left { get; set; }
        public string MeetingUrl => Request["meeting_url"]!.GetValue<string>();
        public string BotName => Request["bot_name"]!.GetValue<string>();
        public string? EntryMessage => Request["entry_message"]?.GetValue<string>();
        public Guid RecordingId => Guid.Parse(Request["extra"]!["recording_id"]!.GetValue<string>());
    }

    public sealed record Failure(int Status, string Code, string Message);

    public sealed record Call(string Method, string Path, string? Body);

    readonly WebApplication app;
    readonly ConcurrentDictionary<string, Bot> bots = new();
    readonly ConcurrentQueue<Failure> failures = new();
    readonly ConcurrentDictionary<string, JsonObject> transcripts = new();
    readonly ConcurrentDictionary<string, string> liveLinks = new();

    /// <summary>Requests for transcript artifacts, and whether each carried the API key (it must not: the link is signed for storage).</summary>
    public ConcurrentQueue<(string BotId, bool WithApiKey)> ArtifactRequests { get; } = new();

    public ConcurrentQueue<Call> Calls { get; } = new();
    public Uri BaseAddress { get; private set; } = null!;

    FakeMeetingBaas()
    {
        app = LoopbackServer.Create();
        app.MapPost("/v2/bots", (HttpRequest request) => CreateAsync(request, scheduled: false));
        app.MapPost("/v2/bots/scheduled", (HttpRequest request) => CreateAsync(request, scheduled: true));
        app.MapMethods("/v2/bots/scheduled/{id}", ["PATCH"], async (HttpRequest request, string id) =>
        {
            var body = await BodyAsync(request);
            if (Refused(request) is { } refused) return refused;
            if (!bots.TryGetValue(id, out var bot) || !bot.Scheduled) return Error(404, "FST_ERR_BOT_NOT_FOUND_BY_ID", $"Bot with ID '{id}' not found");
            if (bot.Cancelled) return Error(409, "FST_ERR_BOT_STATUS", "The bot is not scheduled.");
            bot.JoinAt = DateTimeOffset.Parse(body!["join_at"]!.GetValue<string>(), CultureInfo.InvariantCulture);
            return Ok(new JsonObject { ["bot_id"] = id });
        });
        app.MapDelete("/v2/bots/scheduled/{id}", (HttpRequest request, string id) => CallBackAsync(request, id, bot => bot.Cancelled = true));
        app.MapPost("/v2/bots/{id}/leave", (HttpRequest request, string id) => CallBackAsync(request, id, bot => bot.Left = true));
        app.MapGet("/v2/bots/{id}", async (HttpRequest request, string id) =>
        {
            await BodyAsync(request);
            if (Refused(request) is { } refused) return refused;
            return Ok(new JsonObject { ["bot_id"] = id, ["status"] = "completed", ["transcription"] = transcripts.ContainsKey(id) ? TranscriptLink(id) : null });
        });
        app.MapGet("/artifacts/{id}/transcription.json", (HttpRequest request, string id, string? sig) =>
        {
            ArtifactRequests.Enqueue((id, request.Headers.ContainsKey(MeetingBaasClient.ApiKeyHeader)));
            // A link of storage's own: anything but the current signature is refused as S3 refuses an expired link.
            return transcripts.TryGetValue(id, out var transcript) && liveLinks.TryGetValue(id, out var live) && live == sig
                ? Results.Json(transcript) : Results.StatusCode(403);
        });
    }

    /// <summary>The bot's transcript, as MeetingBaaS's transcription artifact; returns a signed link to it.</summary>
    public string SetTranscript(string botId, params (string Speaker, double Start, double End, string Text)[] utterances)
    {
        transcripts[botId] = new JsonObject
        {
            ["bot_id"] = botId, ["provider"] = "gladia",
            ["result"] = new JsonObject
            {
                ["utterances"] = new JsonArray([.. utterances.Select(u => (JsonNode)new JsonObject
                {
                    ["text"] = u.Text, ["language"] = "en", ["start"] = u.Start, ["end"] = u.End, ["confidence"] = 0.95, ["channel"] = 0,
                    ["words"] = new JsonArray(), ["speaker"] = u.Speaker,
                })]),
                ["languages"] = new JsonArray("en"), ["total_utterances"] = utterances.Length,
            },
            ["created_at"] = "2026-11-23T11:00:00Z",
        };
        return TranscriptLink(botId);
    }

    /// <summary>A fresh signed link to the bot's transcript; every earlier one stops working (as if its 4 hours had passed).</summary>
    public string TranscriptLink(string botId)
    {
        var sig = Guid.NewGuid().ToString("N");
        liveLinks[botId] = sig;
        return new Uri(BaseAddress, $"artifacts/{botId}/transcription.json?sig={sig}").ToString();
    }

    /// <summary>A scheduled bot cancelled, or a bot told to leave.</summary>
    async Task<IResult> CallBackAsync(HttpRequest request, string id, Action<Bot> change)
    {
        await BodyAsync(request);
        if (Refused(request) is { } refused) return refused;
        if (!bots.TryGetValue(id, out var bot)) return Error(404, "FST_ERR_BOT_NOT_FOUND_BY_ID", $"Bot with ID '{id}' not found");
        change(bot);
        return Ok(new JsonObject { ["bot_id"] = id });
    }

    public static async Task<FakeMeetingBaas> StartAsync()
    {
        var fake = new FakeMeetingBaas();
        fake.BaseAddress = await LoopbackServer.StartAsync(fake.app);
        return fake;
    }

    /// <summary>The app's settings that point it at this fake.</summary>
    public IReadOnlyDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["MeetingBaas:ApiKey"] = ApiKey, ["MeetingBaas:WebhookSecret"] = WebhookSecret, ["MeetingBaas:ApiUrl"] = BaseAddress.ToString(),
    };

    public IReadOnlyList<Bot> Bots => [.. bots.Values];

    public IReadOnlyList<Bot> BotsFor(Guid recordingId) => [.. bots.Values.Where(b => b.RecordingId == recordingId)];

    public IReadOnlyList<Bot> BotsAt(string meetingUrl) => [.. bots.Values.Where(b => b.MeetingUrl == meetingUrl)];

    public Bot this[string botId] => bots[botId];

    /// <summary>The next request (any endpoint) answers with this failure.</summary>
    public void Fail(Failure failure) => failures.Enqueue(failure);

    /// <summary>A webhook as MeetingBaaS sends it: the JSON body and its Svix headers, signed with <paramref name="secret"/> at <paramref name="at"/>.</summary>
    public static HttpRequestMessage Webhook(JsonObject payload, string? deliveryId = null, DateTimeOffset? at = null, string? secret = null)
    {
        var body = Encoding.UTF8.GetBytes(payload.ToJsonString());
        var id = deliveryId ?? "msg_" + Guid.NewGuid().ToString("N");
        var timestamp = (at ?? DateTimeOffset.UtcNow).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var request = new HttpRequestMessage(HttpMethod.Post, MeetingBaasWebhook.Path) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new("application/json");
        request.Headers.Add(WebhookSignature.IdHeader, id);
        request.Headers.Add(WebhookSignature.TimestampHeader, timestamp);
        request.Headers.Add(WebhookSignature.SignatureHeader, WebhookSignature.Sign(secret ?? WebhookSecret, id, timestamp, body));
        return request;
    }

    public static JsonObject Event(string name, string botId, JsonObject? data = null)
    {
        var payload = data ?? [];
        payload["bot_id"] = botId;
        return new JsonObject { ["event"] = name, ["data"] = payload };
    }

    async Task<IResult> CreateAsync(HttpRequest request, bool scheduled)
    {
        var body = await BodyAsync(request);
        if (Refused(request) is { } refused) return refused;
        if (body?["meeting_url"] is null || body["bot_name"] is null) return Error(400, "FST_ERR_VALIDATION", "meeting_url and bot_name are required");
        if (scheduled && body["join_at"] is null) return Error(400, "FST_ERR_VALIDATION", "join_at is required");
        var bot = new Bot
        {
            Id = Guid.NewGuid().ToString(), Request = body, Scheduled = scheduled,
            JoinAt = scheduled ? DateTimeOffset.Parse(body["join_at"]!.GetValue<string>(), CultureInfo.InvariantCulture) : null,
        };
        bots[bot.Id] = bot;
        return Ok(new JsonObject { ["bot_id"] = bot.Id });
    }

    async Task<JsonObject?> BodyAsync(HttpRequest request)
    {
        var text = await new StreamReader(request.Body).ReadToEndAsync();
        Calls.Enqueue(new Call(request.Method, request.Path.Value!, text.Length == 0 ? null : text));
        return text.Length == 0 ? null : JsonNode.Parse(text) as JsonObject;
    }

    IResult? Refused(HttpRequest request)
    {
        if (request.Headers[MeetingBaasClient.ApiKeyHeader] != ApiKey) return Error(401, "FST_ERR_UNAUTHORIZED", "Invalid API key");
        return failures.TryDequeue(out var failure) ? Error(failure.Status, failure.Code, failure.Message) : null;
    }

    static IResult Ok(JsonObject data) => Results.Json(new JsonObject { ["success"] = true, ["data"] = data });

    static IResult Error(int status, string code, string message) => Results.Json(new JsonObject
    {
        ["success"] = false, ["error"] = "Error", ["code"] = code, ["statusCode"] = status, ["message"] = message,
    }, statusCode: status);

    public async ValueTask DisposeAsync() => await app.DisposeAsync();
}
