using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using Use60.Hosting;
using Use60.Slack;

using static Use60.Slack.SlackJson;

namespace Use60.Recordings;

/// <summary>
/// Fathom, the seeds' other recording source: with FATHOM_API_KEY set its recordings arrive by webhook and by the fathom-pull job.
/// The key is one Fathom user's (Fathom keys are per user; an admin's sees what is shared with them), for the whole deployment.
/// </summary>
[ConfigSection("Fathom")]
public sealed class FathomOptions : IValidatedOptions
{
    public const string DefaultBaseUrl = "https://api.fathom.ai/external/v1";

    [EnvironmentVariable("FATHOM_API_KEY",
        "API key for Fathom's external API (sent as X-Api-Key, never logged): new Fathom recordings are pulled every 15 minutes and land on their recorder's meetings. Unset: Fathom is off.",
        Secret = true)]
    public string? ApiKey { get; set; }

    [EnvironmentVariable("FATHOM_WEBHOOK_SECRET",
        "The secret (whsec_…) of the Fathom webhook for /webhooks/fathom: each webhook's signature is checked with it. Unset: Fathom webhooks are refused and the pull alone brings recordings.",
        Secret = true)]
    public string? WebhookSecret { get; set; }

    [EnvironmentVariable("FATHOM_BASE_URL", "Base URL of Fathom's external API (default https://api.fathom.ai/external/v1); tests point it at a local fake.")]
    public string BaseUrl { get; set; } = DefaultBaseUrl;

    public bool IsConfigured => !string.IsNullOrWhiteSpace(ApiKey);

    public Uri BaseUri => new(BaseUrl.TrimEnd('/') + "/");

    public IEnumerable<string> Validate()
    {
        if (!ValidatedOptions.IsHttpUrl(BaseUrl))
            yield return $"FATHOM_BASE_URL must be an absolute http(s) URL such as {DefaultBaseUrl}.";
        if (!string.IsNullOrWhiteSpace(WebhookSecret) && !IsConfigured)
            yield return "FATHOM_WEBHOOK_SECRET is set but FATHOM_API_KEY is not: the key turns Fathom on (and fetches a transcript a webhook left out); set both, or neither.";
    }
}

/// <summary>A Fathom call that did not work; the message never holds the API key.</summary>
public sealed class FathomException(bool transient, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>Unreachable, a timeout, 5xx or a rate limit: the next run (or Fathom's redelivery) tries again.</summary>
    public bool IsTransient { get; } = transient;
}

/// <summary>One page of <c>GET /meetings</c>: the recordings on it and the cursor of the next (null on the last).</summary>
public sealed record FathomPage(IReadOnlyList<JsonObject> Items, string? NextCursor);

/// <summary>
/// The two calls of Fathom's external API use60 makes (<c>X-Api-Key</c> header): list the recordings created after a time, a page at a
/// time with their transcripts (<c>GET /meetings?created_after=…&amp;include_transcript=true&amp;cursor=…</c>), and read one
/// recording's transcript (<c>GET /recordings/{id}/transcript</c>) when a webhook came without it.
/// </summary>
public sealed class FathomClient(HttpClient http, IOptions<FathomOptions> options)
{
    public const string ApiKeyHeader = "X-Api-Key";

    public bool IsConfigured => options.Value.IsConfigured;

    public async Task<FathomPage> ListMeetingsAsync(DateTimeOffset createdAfter, string? cursor, CancellationToken cancellationToken)
    {
        var query = $"meetings?created_after={Uri.EscapeDataString(Iso(createdAfter))}&include_transcript=true"
                    + (cursor is null ? "" : "&cursor=" + Uri.EscapeDataString(cursor));
        var page = await GetAsync(query, "list recordings", cancellationToken);
        var items = (page["items"] as JsonArray ?? throw new FathomException(true, "Fathom's list of recordings has no items.")).OfType<JsonObject>().ToList();
        return new FathomPage(items, Str(page["next_cursor"]) is { Length: > 0 } next ? next : null);
    }

    /// <summary>The recording's transcript, <c>[{"speaker": {"display_name"}, "text", "timestamp": "HH:MM:SS"}]</c>; empty when Fathom has none.</summary>
    public async Task<JsonArray> TranscriptAsync(string recordingId, CancellationToken cancellationToken) =>
        (await GetAsync($"recordings/{Uri.EscapeDataString(recordingId)}/transcript", "read a transcript", cancellationToken))["transcript"] as JsonArray ?? [];

    async Task<JsonObject> GetAsync(string pathAndQuery, string what, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        if (!settings.IsConfigured) throw new FathomException(false, "Fathom is not set up here (FATHOM_API_KEY is not set).");
        return await ProviderHttp.JsonAsync(http, HttpMethod.Get, new Uri(settings.BaseUri, pathAndQuery), ApiKeyHeader, settings.ApiKey!, null, "Fathom",
            "FATHOM_API_KEY", what, (transient, message, inner) => new FathomException(transient, message, inner), cancellationToken);
    }

    static string Iso(DateTimeOffset instant) => instant.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}

/// <summary>Fathom's JSON as use60 reads it: recording ids (numbers), times, and the transcript.</summary>
public static class FathomJson
{
    /// <summary>Fathom's recording id, a number (or, to be safe, a string); null when absent.</summary>
    public static string? IdOf(JsonNode? node) => node switch
    {
        JsonValue number when number.TryGetValue<long>(out var id) => id.ToString(CultureInfo.InvariantCulture),
        JsonValue text when text.TryGetValue<string>(out var id) && id.Trim() is { Length: > 0 and <= 100 } trimmed => trimmed,
        _ => null,
    };

    /// <summary>
    /// Fathom's transcript: each entry a speaker (by display name), what they said, and when (<c>HH:MM:SS</c> from the recording's
    /// start). An entry lasts until the next begins.
    /// </summary>
    public static List<Crm.TranscriptSegment> Segments(JsonArray? transcript)
    {
        var entries = (transcript ?? []).OfType<JsonObject>()
            .Select(e => (Speaker: Str((e["speaker"] as JsonObject)?["display_name"]) ?? Str(e["speaker"]) ?? "", Text: Str(e["text"]) ?? "", Start: SecondsOf(e["timestamp"])))
            .ToList();
        return [.. entries.Select((e, i) => new Crm.TranscriptSegment
        {
            Speaker = e.Speaker, Text = e.Text, Start = e.Start, End = i + 1 < entries.Count ? Math.Max(e.Start, entries[i + 1].Start) : e.Start,
        })];
    }

    static double SecondsOf(JsonNode? node) => node switch
    {
        JsonValue number when number.TryGetValue<double>(out var seconds) && double.IsFinite(seconds) => Math.Max(0, seconds),
        JsonValue text when text.TryGetValue<string>(out var s) && TimeSpan.TryParseExact(s, [@"h\:mm\:ss", @"hh\:mm\:ss", @"h\:mm\:ss\.FFF", @"m\:ss"],
            CultureInfo.InvariantCulture, out var at) => at.TotalSeconds,
        _ => 0,
    };
}

/// <summary>A Fathom meeting's video stays at Fathom: its follow-up pack links there (a link button, which needs no answer).</summary>
public static class FathomSlack
{
    public const string WatchAction = "fathom_video_open";

    /// <summary>Slack's limit on a button's link.</summary>
    const int MaxUrlLength = 3000;

    public static void Register(SlackListeners slack) => slack.Action(WatchAction, _ => Task.CompletedTask);

    public static ButtonElement? WatchButton(string? videoUrl) =>
        ValidatedOptions.IsHttpUrl(videoUrl) && videoUrl!.Length <= MaxUrlLength ? new ButtonElement("Watch in Fathom", WatchAction, Url: videoUrl) : null;
}
