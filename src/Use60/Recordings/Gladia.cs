using System.Buffers.Text;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Use60.Crm;
using Use60.Data;
using Use60.Hosting;
using Use60.Privacy;

using static Use60.Slack.SlackJson;

namespace Use60.Recordings;

/// <summary>Gladia, the speech-to-text service that transcribes the stored audio when GLADIA_API_KEY is set.</summary>
[ConfigSection("Gladia")]
public sealed class GladiaOptions : IValidatedOptions
{
    public const string DefaultApiUrl = "https://api.gladia.io";

    [EnvironmentVariable("GLADIA_API_KEY",
        "API key for Gladia: recordings are transcribed by Gladia from the stored audio (and MeetingBaaS's bots do not transcribe). Unset: MeetingBaaS transcribes.",
        Secret = true)]
    public string? ApiKey { get; set; }

    [EnvironmentVariable("GLADIA_API_URL", "Base URL of the Gladia API (default https://api.gladia.io); tests point it at a local fake.")]
    public string ApiUrl { get; set; } = DefaultApiUrl;

    public bool IsConfigured => !string.IsNullOrWhiteSpace(ApiKey);

    public Uri ApiUri => new(ApiUrl.TrimEnd('/') + "/");

    public IEnumerable<string> Validate()
    {
        if (!ValidatedOptions.IsHttpUrl(ApiUrl))
            yield return $"GLADIA_API_URL must be an absolute http(s) URL such as {DefaultApiUrl}.";
    }
}

/// <summary>Gladia's callbacks carry a token derived from the master key: without one they could not be told from anyone's.</summary>
sealed class GladiaNeedsMasterKey(IOptions<MasterKeyOptions> masterKey) : IValidateOptions<GladiaOptions>
{
    public ValidateOptionsResult Validate(string? name, GladiaOptions options) =>
        options.IsConfigured && string.IsNullOrWhiteSpace(masterKey.Value.MasterKey)
            ? ValidateOptionsResult.Fail($"USE60_MASTER_KEY is required with GLADIA_API_KEY: Gladia's callbacks to /webhooks/gladia are checked with a token derived from it; {MasterKeyOptions.HowToMakeOne}.")
            : ValidateOptionsResult.Success;
}

/// <summary>A Gladia call that did not work; the message never holds the API key or a signed link.</summary>
public sealed class GladiaException(bool transient, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>Unreachable, a timeout, 5xx or a rate limit: worth trying again.</summary>
    public bool IsTransient { get; } = transient;
}

/// <summary>A pre-recorded job as Gladia reports it: queued, processing, done (with its utterances) or error.</summary>
public sealed record GladiaJob(string Status, IReadOnlyList<TranscriptSegment> Segments, int? ErrorCode);

/// <summary>
/// The two Gladia v2 calls use60 makes (<c>x-gladia-key</c> header): start a pre-recorded transcription of an audio link
/// (<c>POST /v2/pre-recorded</c>, diarization on, a callback to <c>/webhooks/gladia</c> when it is done) and read a job's result
/// (<c>GET /v2/pre-recorded/{id}</c>).
/// </summary>
public sealed class GladiaClient(HttpClient http, IOptions<GladiaOptions> options)
{
    public const string ApiKeyHeader = "x-gladia-key";

    /// <summary>Starts the job; returns Gladia's job id.</summary>
    public async Task<string> TranscribeAsync(Uri audioUrl, Uri callbackUrl, Guid recordingId, CancellationToken cancellationToken)
    {
        var body = new JsonObject
        {
            ["audio_url"] = audioUrl.ToString(),
            ["diarization"] = true,
            ["callback"] = true,
            ["callback_config"] = new JsonObject { ["url"] = callbackUrl.ToString(), ["method"] = "POST" },
            ["custom_metadata"] = new JsonObject { ["recording_id"] = recordingId.ToString() },
        };
        var answer = await SendAsync(HttpMethod.Post, "v2/pre-recorded", body, "start a transcription", cancellationToken);
        return Str(answer["id"]) ?? throw new GladiaException(true, "Gladia accepted the transcription but did not say its id.");
    }

    /// <summary>The job's state and, once done, its utterances (speakers numbered from 0 by diarization, times in seconds).</summary>
    public async Task<GladiaJob> GetAsync(string jobId, CancellationToken cancellationToken)
    {
        var job = await SendAsync(HttpMethod.Get, $"v2/pre-recorded/{Uri.EscapeDataString(jobId)}", null, "read a transcription", cancellationToken);
        var errorCode = job["error_code"] is JsonValue code && code.TryGetValue<int>(out var c) ? c : (int?)null;
        return new GladiaJob(Str(job["status"]) ?? "unknown", Utterances.Segments(((job["result"] as JsonObject)?["transcription"] as JsonObject)?["utterances"]), errorCode);
    }

    async Task<JsonObject> SendAsync(HttpMethod method, string path, JsonObject? body, string what, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        if (!settings.IsConfigured) throw new GladiaException(false, "Gladia is not set up here (GLADIA_API_KEY is not set).");
        return await ProviderHttp.JsonAsync(http, method, new Uri(settings.ApiUri, path), ApiKeyHeader, settings.ApiKey!, body, "Gladia", "GLADIA_API_KEY", what,
            (transient, message, inner) => new GladiaException(transient, message, inner), cancellationToken);
    }
}

/// <summary>
/// <c>POST /webhooks/gladia?recording={id}&amp;token={token}</c>: Gladia's callback when a transcription is done or has failed. Gladia
/// does not sign its callbacks, so the callback link use60 gives it carries a token, an HMAC-SHA256 of the recording id under a key
/// derived from USE60_MASTER_KEY, checked (in constant time) before the body is read; a bad or missing one is a bare 401 and a line
/// in the security audit log. The callback then goes through the <see cref="WebhookInbox"/> under the job id and event, so a repeat is
/// processed once; its result is read from Gladia's API by the job id recorded on the recording, not taken from the body.
/// </summary>
public sealed class GladiaWebhook(WebhookInbox inbox, SecretBox secrets, IServiceScopeFactory scopes, ILogger<GladiaWebhook> logger)
{
    public const string Path = "/webhooks/gladia";
    const string TokenPurpose = "recordings/gladia-callback";

    /// <summary>The callback carries the whole result, words and all: a long meeting's is tens of MB.</summary>
    const int MaxBodyBytes = 128 << 20;

    public static IEndpointRouteBuilder Map(IEndpointRouteBuilder app)
    {
        app.MapPost(Path, (HttpContext http, GladiaWebhook webhook) => webhook.ReceiveAsync(http)).ExcludeFromDescription();
        return app;
    }

    /// <summary>The link Gladia calls back, under <paramref name="publicUri"/>.</summary>
    public Uri CallbackUrl(Uri publicUri, Guid recordingId) =>
        new(publicUri, $"{Path.TrimStart('/')}?recording={recordingId:D}&token={Base64Url.EncodeToString(Token(recordingId))}");

    byte[] Token(Guid recordingId) => HMACSHA256.HashData(secrets.KeyFor(TokenPurpose), Encoding.UTF8.GetBytes($"gladia-callback\n{recordingId:D}"));

    string? Check(string? recording, string? token, out Guid recordingId)
    {
        recordingId = Guid.Empty;
        if (string.IsNullOrEmpty(recording) || string.IsNullOrEmpty(token)) return "missing_token";
        if (!secrets.IsConfigured) return "no_master_key";
        if (!Guid.TryParseExact(recording, "D", out recordingId) || token.Length > 64) return "bad_token";
        var expected = Encoding.ASCII.GetBytes(Base64Url.EncodeToString(Token(recordingId)));
        return CryptographicOperations.FixedTimeEquals(expected, Encoding.UTF8.GetBytes(token)) ? null : "bad_token";
    }

    async Task<IResult> ReceiveAsync(HttpContext http)
    {
        var query = http.Request.Query;
        if (Check(query["recording"], query["token"], out var recordingId) is { } refusal)
            return await inbox.RefuseAsync(http, Path, StatusCodes.Status401Unauthorized, refusal);
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit) limit.MaxRequestBodySize = MaxBodyBytes;
        var body = await RequestBodies.ReadBoundedAsync(http.Request, MaxBodyBytes);
        if (body is null) return await inbox.RefuseAsync(http, Path, StatusCodes.Status413PayloadTooLarge, "body_too_large");

        string? jobId, eventName;
        JsonNode? error;
        try
        {
            var callback = RequestBodies.ParseJsonObject(body);
            (jobId, eventName, error) = (Str(callback["id"]), Str(callback["event"]), callback["error"]);
        }
        catch (JsonException e)
        {
            logger.LogWarning("A Gladia callback for recording {RecordingId} was not JSON: {Reason}", recordingId, e.Message);
            return Results.BadRequest();
        }
        if (jobId is null || eventName is null || jobId.Length > RequestBodies.MaxIdLength || eventName.Length > RequestBodies.MaxIdLength)
            return Results.BadRequest();

        // The inbox keeps what identifies the callback, not the transcript it carries (that is read from Gladia).
        var kept = new JsonObject { ["id"] = jobId, ["event"] = eventName, ["recording_id"] = recordingId.ToString(), ["error"] = error?.DeepClone() };
        var outcome = await inbox.AcceptAsync("gladia", $"{jobId}:{eventName}", eventName, kept, async (delivery, token) =>
        {
            await using var scope = scopes.CreateAsyncScope();
            return await scope.ServiceProvider.GetRequiredService<RecordingTranscription>()
                .FromGladiaAsync(recordingId, jobId, eventName, error?.ToJsonString(), delivery, token);
        }, http.RequestAborted);
        return Results.Json(new JsonObject { ["outcome"] = SnakeCase.ValueOf(outcome) });
    }
}
