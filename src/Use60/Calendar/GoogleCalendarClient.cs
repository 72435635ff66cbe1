using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.Extensions.Options;

namespace Use60.Calendar;

public enum GoogleFailure
{
    /// <summary>410 Gone: the sync token is no longer valid; a full sync starts over.</summary>
    SyncTokenExpired,

    /// <summary>429, 5xx, a rate-limit 403, a timeout or a network error: try again later, backing off.</summary>
    Unavailable,

    /// <summary>401: the access token was not accepted.</summary>
    Unauthorized,

    /// <summary>The rep (or Google) revoked use60's access: nothing works until they connect again.</summary>
    AccessRevoked,

    /// <summary>Google refused the request itself (a 4xx that retrying will not fix).</summary>
    Refused,
}

public sealed class GoogleCalendarException(GoogleFailure failure, string message, TimeSpan? retryAfter = null, Exception? inner = null)
    : Exception(message, inner)
{
    public GoogleFailure Failure { get; } = failure;

    /// <summary>How long Google asked us to wait (Retry-After), if it said.</summary>
    public TimeSpan? RetryAfter { get; } = retryAfter;
}

/// <summary>
/// The few Calendar API v3 calls use60 needs, over the documented REST API (Google.Apis.Calendar.v3 is not available
/// here): the events of a calendar, expanded into single instances, a page at a time, fully or from a sync token.
/// </summary>
public sealed class GoogleCalendarClient(HttpClient http, IOptions<GoogleOptions> options, TimeProvider clock)
{
    /// <summary>Google's own page size limit is 2,500; 250 keeps each page's upsert small.</summary>
    public const int PageSize = 250;

    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>
    /// One page of events. With a <paramref name="syncToken"/> only what changed since (cancelled events included);
    /// without one, every event from <paramref name="timeMin"/> on (a full sync).
    /// </summary>
    public async Task<GoogleEventsPage> ListEventsAsync(string accessToken, string calendarId, string? syncToken, DateTimeOffset timeMin,
        string? pageToken, CancellationToken cancellationToken)
    {
        var query = new Dictionary<string, string?> { ["singleEvents"] = "true", ["maxResults"] = PageSize.ToString(CultureInfo.InvariantCulture) };
        // Google refuses timeMin together with a sync token: the token already carries the first request's filters.
        if (syncToken is not null) query["syncToken"] = syncToken;
        else query["timeMin"] = timeMin.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        if (pageToken is not null) query["pageToken"] = pageToken;
        var path = $"calendar/v3/calendars/{Uri.EscapeDataString(calendarId)}/events" + QueryString.Create(query);
        return await GetAsync<GoogleEventsPage>(accessToken, path, cancellationToken);
    }

    /// <summary>The rep's primary calendar: its id is their Google account's address.</summary>
    public async Task<string?> PrimaryCalendarIdAsync(string accessToken, CancellationToken cancellationToken) =>
        (await GetAsync<GoogleCalendarInfo>(accessToken, "calendar/v3/calendars/primary", cancellationToken)).Id;

    async Task<T> GetAsync<T>(string accessToken, string path, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(options.Value.ApiUri, path));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, cancellationToken);
        }
        catch (Exception e) when (e is HttpRequestException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            throw new GoogleCalendarException(GoogleFailure.Unavailable, "Google Calendar could not be reached: " + e.Message, inner: e);
        }
        using (response)
        {
            if (response.IsSuccessStatusCode)
            {
                try
                {
                    return await response.Content.ReadFromJsonAsync<T>(Json, cancellationToken)
                           ?? throw new JsonException("empty body");
                }
                catch (JsonException e)
                {
                    throw new GoogleCalendarException(GoogleFailure.Unavailable, "Google Calendar answered with something that is not its JSON.", inner: e);
                }
            }
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            throw Failure(response.StatusCode, body, RetryAfterOf(response, clock.GetUtcNow()));
        }
    }

    static GoogleCalendarException Failure(HttpStatusCode status, string body, TimeSpan? retryAfter)
    {
        var reason = ReasonOf(body);
        var code = (int)status;
        return code switch
        {
            410 => new(GoogleFailure.SyncTokenExpired, "Google says the sync token expired (410 Gone)."),
            401 => new(GoogleFailure.Unauthorized, "Google did not accept the access token (401)."),
            429 or >= 500 => new(GoogleFailure.Unavailable, $"Google Calendar is busy or failing ({code}{(reason is null ? "" : " " + reason)}).", retryAfter),
            // Google reports its rate limits as 403s with these reasons.
            403 when reason is "rateLimitExceeded" or "userRateLimitExceeded" =>
                new(GoogleFailure.Unavailable, $"Google Calendar rate limit ({reason}).", retryAfter),
            _ => new(GoogleFailure.Refused, $"Google Calendar refused the request ({code}{(reason is null ? "" : " " + reason)})."),
        };
    }

    /// <summary>The reason Google gives in its error body (error.errors[0].reason), if any.</summary>
    static string? ReasonOf(string body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            return document.RootElement.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object
                   && error.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Array && errors.GetArrayLength() > 0
                   && errors[0].TryGetProperty("reason", out var reason) && reason.ValueKind == JsonValueKind.String
                ? reason.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    static TimeSpan? RetryAfterOf(HttpResponseMessage response, DateTimeOffset now) => response.Headers.RetryAfter switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date - now is var wait && wait > TimeSpan.Zero ? wait : null,
        _ => null,
    };
}

public sealed record GoogleCalendarInfo(string? Id);

public sealed record GoogleEventsPage(IReadOnlyList<GoogleEvent>? Items, string? NextPageToken, string? NextSyncToken);

/// <summary>An event as the Calendar API returns it (the fields use60 keeps).</summary>
public sealed record GoogleEvent(
    string Id,
    string? Status,
    string? Summary,
    string? Description,
    string? Location,
    string? HangoutLink,
    GoogleConferenceData? ConferenceData,
    GoogleEventTime? Start,
    GoogleEventTime? End,
    IReadOnlyList<GoogleAttendee>? Attendees)
{
    public bool IsCancelled => Status == "cancelled";

    /// <summary>All-day entries (a date, no time) are holidays and out-of-office markers, not meetings.</summary>
    public bool IsAllDay => Start?.DateTime is null;

    /// <summary>The rep said no: not a meeting they go to.</summary>
    public bool DeclinedByRep => Attendees?.Any(a => a.Self == true && a.ResponseStatus == "declined") == true;

    public string? VideoLink => HangoutLink ?? ConferenceData?.EntryPoints?.FirstOrDefault(p => p.EntryPointType == "video")?.Uri;
}

public sealed record GoogleEventTime(DateTimeOffset? DateTime, string? Date, string? TimeZone);

public sealed record GoogleAttendee(string? Email, string? DisplayName, string? ResponseStatus, bool? Self, bool? Resource, bool? Organizer);

public sealed record GoogleConferenceData(IReadOnlyList<GoogleEntryPoint>? EntryPoints);

public sealed record GoogleEntryPoint(string? EntryPointType, string? Uri);
