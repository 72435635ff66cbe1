using System.Net;
using System.Text.RegularExpressions;
using Use60.Calendar;

namespace Use60.Recordings;

public enum MeetingPlatform { Zoom, Meet, Teams }

/// <summary>A link a notetaker bot can join.</summary>
public sealed record MeetingLink(string Url, MeetingPlatform Platform)
{
    /// <summary>Host and path in lower case, without the query (a Zoom passcode, Teams' context): the same meeting, however linked.</summary>
    public string Key
    {
        get
        {
            var uri = new Uri(Url);
            return (uri.Host + uri.AbsolutePath.TrimEnd('/')).ToLowerInvariant();
        }
    }

    public string PlatformName => MeetingLinks.NameOf(Platform);
}

/// <summary>
/// Finds the Zoom, Google Meet or Microsoft Teams link of a meeting: in the calendar's conference data first, then the
/// location, then the description (where Zoom and Teams invitations put theirs, often as HTML). Only links that open a
/// meeting count: a Zoom or Teams home page, a Meet link without a meeting code, or any other site is not one.
/// </summary>
public static partial class MeetingLinks
{
    /// <summary>The meeting link of a calendar event, or null when it has none.</summary>
    public static MeetingLink? Of(CalendarEvent calendarEvent) => Find(calendarEvent.ConferenceUrl, calendarEvent.Location, calendarEvent.Description);

    /// <summary>The first meeting link in <paramref name="texts"/>, in order.</summary>
    public static MeetingLink? Find(params string?[] texts)
    {
        foreach (var text in texts)
        {
            if (string.IsNullOrWhiteSpace(text)) continue;
            // Descriptions are often HTML: &amp; in a link's query is an ampersand, and a tag or quote ends a link.
            foreach (Match match in Url().Matches(WebUtility.HtmlDecode(text)))
                if (Parse(match.Value.TrimEnd('.', ',', ';', ':', '!', '?')) is { } link)
                    return link;
        }
        return null;
    }

    /// <summary>A single URL as a meeting link, or null when it is not one a bot can join.</summary>
    public static MeetingLink? Parse(string? text)
    {
        if (!Uri.TryCreate(text?.Trim().Trim('<', '>'), UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http")) return null;
        var host = uri.Host.ToLowerInvariant();
        var path = uri.AbsolutePath;
        MeetingPlatform? platform = host switch
        {
            "meet.google.com" when MeetPath().IsMatch(path) => MeetingPlatform.Meet,
            _ when IsZoomHost(host) && ZoomPath().IsMatch(path) => MeetingPlatform.Zoom,
            _ when IsTeamsHost(host) && TeamsPath().IsMatch(path) => MeetingPlatform.Teams,
            _ => null,
        };
        return platform is { } found ? new MeetingLink(uri.GetComponents(UriComponents.HttpRequestUrl, UriFormat.UriEscaped), found) : null;
    }

    public static string NameOf(MeetingPlatform platform) => platform switch
    {
        MeetingPlatform.Zoom => "Zoom",
        MeetingPlatform.Meet => "Google Meet",
        _ => "Microsoft Teams",
    };

    static bool IsZoomHost(string host) => host is "zoom.us" or "zoomgov.com" || host.EndsWith(".zoom.us", StringComparison.Ordinal)
                                           || host.EndsWith(".zoomgov.com", StringComparison.Ordinal);

    static bool IsTeamsHost(string host) => host is "teams.microsoft.com" or "teams.live.com" or "teams.microsoft.us" or "gov.teams.microsoft.us"
        or "dod.teams.microsoft.us";

    /// <summary>Anything that looks like a web link, up to the first space, tag, quote or bracket.</summary>
    [GeneratedRegex(@"https?://[^\s<>""'()\[\]{}]+", RegexOptions.IgnoreCase)]
    private static partial Regex Url();

    /// <summary>A meeting code (abc-defg-hij), or a lookup link.</summary>
    [GeneratedRegex(@"^/(?:[a-z]{3}-[a-z]{4}-[a-z]{3}|lookup/[a-z0-9_-]+)/?$", RegexOptions.IgnoreCase)]
    private static partial Regex MeetPath();

    /// <summary>A meeting id (/j/, /w/, /s/, the web client) or a personal meeting room (/my/).</summary>
    [GeneratedRegex(@"^/(?:(?:j|w|s)/\d{9,12}|wc/join/\d{9,12}|wc/\d{9,12}/join|my/[a-z0-9._-]+)/?$", RegexOptions.IgnoreCase)]
    private static partial Regex ZoomPath();

    /// <summary>A meetup-join link, or a meeting id link (/meet/1234567890).</summary>
    [GeneratedRegex(@"^/(?:l/meetup-join/.+|meet/\d{9,15})$", RegexOptions.IgnoreCase)]
    private static partial Regex TeamsPath();
}
