using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Use60.Slack;

namespace Use60.Tests.Infrastructure;

/// <summary>Requests as Slack sends them to /slack/*: form-encoded or JSON, signed with the signing secret.</summary>
public sealed class SlackRequests(HttpClient client, string secret, string teamId)
{
    public const string Secret = "0123456789abcdef0123456789abcdef";

    public Task<HttpResponseMessage> CommandAsync(string slackUserId, string text, string? responseUrl = null, string command = "/sixty") =>
        PostAsync("slack/commands", Form(new Dictionary<string, string>
        {
            ["token"] = "legacy", ["team_id"] = teamId, ["team_domain"] = "fake", ["channel_id"] = "C0GENERAL", ["channel_name"] = "general",
            ["user_id"] = slackUserId, ["user_name"] = "someone", ["command"] = command, ["text"] = text, ["api_app_id"] = "A0USE60",
            ["response_url"] = responseUrl ?? "https://hooks.slack.invalid/commands/1", ["trigger_id"] = NewTrigger(),
        }));

    public Task<HttpResponseMessage> EventAsync(JsonObject envelope, int? retryNum = null, string? retryReason = null)
    {
        var headers = new Dictionary<string, string>();
        if (retryNum is { } n) headers["X-Slack-Retry-Num"] = n.ToString(CultureInfo.InvariantCulture);
        if (retryReason is not null) headers["X-Slack-Retry-Reason"] = retryReason;
        return PostAsync("slack/events", new StringContent(envelope.ToJsonString(), Encoding.UTF8, "application/json"), headers: headers);
    }

    public Task<HttpResponseMessage> InteractionAsync(JsonObject payload, string path = "slack/interactions") =>
        PostAsync(path, Form(new Dictionary<string, string> { ["payload"] = payload.ToJsonString() }));

    public JsonObject DirectMessage(string eventId, string slackUserId, string text) => Event(eventId, new JsonObject
    {
        ["type"] = "message", ["channel_type"] = "im", ["channel"] = "D" + slackUserId, ["user"] = slackUserId, ["text"] = text,
        ["ts"] = "1700000000.000100", ["event_ts"] = "1700000000.000100",
    });

    /// <summary>An event_callback envelope around <paramref name="inner"/>.</summary>
    public JsonObject Event(string eventId, JsonObject inner) => new()
    {
        ["token"] = "legacy", ["team_id"] = teamId, ["api_app_id"] = "A0USE60", ["type"] = "event_callback", ["event_id"] = eventId,
        ["event_time"] = 1700000000, ["event"] = inner,
    };

    public JsonObject Interaction(string type, string slackUserId) => new()
    {
        ["type"] = type, ["team"] = new JsonObject { ["id"] = teamId }, ["user"] = new JsonObject { ["id"] = slackUserId, ["team_id"] = teamId },
        ["api_app_id"] = "A0USE60", ["trigger_id"] = NewTrigger(),
    };

    public async Task<HttpResponseMessage> PostAsync(string path, HttpContent content, DateTimeOffset? at = null,
        IReadOnlyDictionary<string, string>? headers = null, string? signAs = null)
    {
        var body = await content.ReadAsByteArrayAsync();
        var timestamp = (at ?? DateTimeOffset.UtcNow).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = content.Headers.ContentType;
        request.Headers.Add(SlackSignature.TimestampHeader, timestamp);
        request.Headers.Add(SlackSignature.SignatureHeader, SlackSignature.Sign(signAs ?? secret, timestamp, body));
        foreach (var (name, value) in headers ?? new Dictionary<string, string>()) request.Headers.Add(name, value);
        return await client.SendAsync(request);
    }

    static FormUrlEncodedContent Form(Dictionary<string, string> fields) => new(fields);

    static string NewTrigger() => $"{Random.Shared.NextInt64(1_000_000_000, 9_999_999_999)}.{Guid.NewGuid():N}";
}
