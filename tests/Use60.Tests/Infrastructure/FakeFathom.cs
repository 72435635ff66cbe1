using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Use60.Recordings;

namespace Use60.Tests.Infrastructure;

/// <summary>
/// Fathom's external API as a real HTTP server on 127.0.0.1, with state: the account's recordings, listed newest first a few to a
/// page with an opaque cursor and the <c>created_after</c> filter, each recording's transcript, the API key checked, and failures the
/// test scripts. It also signs webhooks as Fathom does (Standard Webhooks).
/// </summary>
public sealed class FakeFathom : IAsyncDisposable
{
    public const string ApiKey = "fathom-test-api-key-0123456789";

    /// <summary>A Standard Webhooks secret: whsec_ + base64 of the key.</summary>
    public static readonly string WebhookSecret = "whsec_" + Convert.ToBase64String(Encoding.UTF8.GetBytes("fake-fathom-signing-key-32-bytes"));

    /// <summary>One request to <c>GET /meetings</c>: its filter and cursor, and what it was answered.</summary>
    public sealed record ListCall(string? CreatedAfter, string? Cursor, bool IncludeTranscript, int Status, IReadOnlyList<string> RecordingIds);

    readonly WebApplication app;
    readonly ConcurrentDictionary<string, JsonObject> recordings = new();
    readonly ConcurrentQueue<int?> script = new();
    static long nextId = 100_000_000;

    public ConcurrentQueue<ListCall> ListCalls { get; } = new();
    public ConcurrentQueue<string> TranscriptCalls { get; } = new();
    public int PageSize { get; set; } = 2;
    public Uri BaseAddress { get; private set; } = null!;

    FakeFathom()
    {
        app = LoopbackServer.Create();
        app.MapGet("/external/v1/meetings", (HttpRequest request, string? created_after, string? cursor, bool? include_transcript) =>
        {
            if (request.Headers[FathomClient.ApiKeyHeader] != ApiKey) return Error(401, "Invalid API key");
            if (script.TryDequeue(out var scripted) && scripted is { } status)
            {
                ListCalls.Enqueue(new ListCall(created_after, cursor, include_transcript == true, status, []));
                return Error(status, status == 429 ? "Rate limit exceeded" : "Internal server error");
            }
            var after = created_after is null ? DateTimeOffset.MinValue : DateTimeOffset.Parse(created_after, CultureInfo.InvariantCulture);
            var matching = recordings.Values.Where(r => CreatedAt(r) > after).OrderByDescending(CreatedAt).ToList();
            var offset = cursor is null ? 0 : int.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(cursor)), CultureInfo.InvariantCulture);
            var page = matching.Skip(offset).Take(PageSize).Select(r =>
            {
                var item = (JsonObject)r.DeepClone();
                if (include_transcript != true) item.Remove("transcript");
                return item;
            }).ToList();
            var next = offset + PageSize < matching.Count ? Convert.ToBase64String(Encoding.UTF8.GetBytes((offset + PageSize).ToString(CultureInfo.InvariantCulture))) : null;
            ListCalls.Enqueue(new ListCall(created_after, cursor, include_transcript == true, 200, [.. page.Select(p => p["recording_id"]!.ToJsonString())]));
            return Results.Json(new JsonObject { ["limit"] = PageSize, ["next_cursor"] = next, ["items"] = new JsonArray([.. page]) });
        });
        app.MapGet("/external/v1/recordings/{id}/transcript", (HttpRequest request, string id) =>
        {
            if (request.Headers[FathomClient.ApiKeyHeader] != ApiKey) return Error(401, "Invalid API key");
            TranscriptCalls.Enqueue(id);
            return recordings.TryGetValue(id, out var recording)
                ? Results.Json(new JsonObject { ["transcript"] = recording["transcript"]?.DeepClone() ?? new JsonArray() })
                : Error(404, "Recording not found");
        });
    }

    public static async Task<FakeFathom> StartAsync()
    {
        var fake = new FakeFathom();
        fake.BaseAddress = await LoopbackServer.StartAsync(fake.app);
        return fake;
    }

    public IReadOnlyDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Fathom:ApiKey"] = ApiKey, ["Fathom:WebhookSecret"] = WebhookSecret, ["Fathom:BaseUrl"] = new Uri(BaseAddress, "external/v1").ToString(),
    };

    /// <summary>The recording is in the account now (listed from now on); returns it.</summary>
    public JsonObject Add(JsonObject recording)
    {
        recordings[recording["recording_id"]!.ToJsonString()] = recording;
        return recording;
    }

    public void Clear()
    {
        recordings.Clear();
        ListCalls.Clear();
        script.Clear();
        PageSize = 2;
    }

    /// <summary>How the next list requests are answered, one each: a status to fail with, or null for the real page.</summary>
    public void Script(params int?[] statuses)
    {
        foreach (var status in statuses) script.Enqueue(status);
    }

    /// <summary>A recording as Fathom's API and webhook give it: numbered, with its links, recorder and transcript (<c>HH:MM:SS</c> times).</summary>
    public static JsonObject Recording(string recorderEmail, string title, DateTimeOffset createdAt, params (string Speaker, int Second, string Text)[] lines)
    {
        var id = Interlocked.Increment(ref nextId);
        var start = createdAt.AddMinutes(-31);
        return new JsonObject
        {
            ["title"] = title + " (Fathom)", ["meeting_title"] = title, ["recording_id"] = id,
            ["url"] = $"https://fathom.video/calls/{id}", ["share_url"] = $"https://fathom.video/share/{id}-{title.Length}",
            ["created_at"] = Iso(createdAt), ["scheduled_start_time"] = Iso(start), ["scheduled_end_time"] = Iso(start.AddMinutes(30)),
            ["recording_start_time"] = Iso(start.AddSeconds(40)), ["recording_end_time"] = Iso(start.AddMinutes(30)),
            ["calendar_invitees_domains_type"] = "one_or_more_external", ["transcript_language"] = "en",
            ["recorded_by"] = new JsonObject { ["name"] = "Rep", ["email"] = recorderEmail, ["team"] = "Sales" },
            ["calendar_invitees"] = new JsonArray(),
            ["transcript"] = new JsonArray([.. lines.Select(l => (JsonNode)new JsonObject
            {
                ["speaker"] = new JsonObject { ["display_name"] = l.Speaker, ["matched_calendar_invitee_email"] = null },
                ["text"] = l.Text, ["timestamp"] = TimeSpan.FromSeconds(l.Second).ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture),
            })]),
            ["default_summary"] = null, ["action_items"] = null,
        };
    }

    /// <summary>Fathom's webhook for the recording, as a request to the app, signed with <paramref name="secret"/> (default: the app's).</summary>
    public static HttpRequestMessage Webhook(JsonObject recording, DateTimeOffset at, string? webhookId = null, string? secret = null)
    {
        var body = Encoding.UTF8.GetBytes(recording.ToJsonString());
        var id = webhookId ?? "msg_" + Guid.NewGuid().ToString("N");
        var timestamp = at.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var request = new HttpRequestMessage(HttpMethod.Post, FathomWebhook.Path) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new("application/json");
        request.Headers.Add(FathomWebhook.IdHeader, id);
        request.Headers.Add(FathomWebhook.TimestampHeader, timestamp);
        request.Headers.Add(FathomWebhook.SignatureHeader, WebhookSignature.Sign(secret ?? WebhookSecret, id, timestamp, body));
        return request;
    }

    public static string Iso(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    static DateTimeOffset CreatedAt(JsonObject recording) =>
        DateTimeOffset.Parse(recording["created_at"]!.GetValue<string>(), CultureInfo.InvariantCulture);

    static IResult Error(int status, string message) => Results.Json(new JsonObject { ["message"] = message }, statusCode: status);

    public ValueTask DisposeAsync() => app.DisposeAsync();
}
