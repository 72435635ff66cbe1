using Use60.Hosting;

namespace Use60.Calendar;

[ConfigSection("Google")]
public sealed class GoogleOptions : IValidatedOptions
{
    public const string DefaultAuthUrl = "https://accounts.google.com/o/oauth2/v2/auth";
    public const string DefaultTokenUrl = "https://oauth2.googleapis.com/token";
    public const string DefaultApiUrl = "https://www.googleapis.com/";

    [EnvironmentVariable("GOOGLE_CLIENT_ID",
        "OAuth client id (Google Cloud console → Credentials, a Web application) for Google Calendar sync. Unset: reps cannot connect a calendar.")]
    public string? ClientId { get; set; }

    [EnvironmentVariable("GOOGLE_CLIENT_SECRET", "OAuth client secret, paired with GOOGLE_CLIENT_ID.", Secret = true)]
    public string? ClientSecret { get; set; }

    [EnvironmentVariable("GOOGLE_AUTH_URL", "Google's OAuth consent page (default " + DefaultAuthUrl + "); tests point it at a local fake.")]
    public string AuthUrl { get; set; } = DefaultAuthUrl;

    [EnvironmentVariable("GOOGLE_TOKEN_URL", "Google's OAuth token endpoint (default " + DefaultTokenUrl + "); tests point it at a local fake.")]
    public string TokenUrl { get; set; } = DefaultTokenUrl;

    [EnvironmentVariable("GOOGLE_API_URL", "Base URL of the Google Calendar API (default " + DefaultApiUrl + "); tests point it at a local fake.")]
    public string ApiUrl { get; set; } = DefaultApiUrl;

    public bool IsConfigured => !string.IsNullOrWhiteSpace(ClientId) && !string.IsNullOrWhiteSpace(ClientSecret);

    public Uri ApiUri => new(ApiUrl.TrimEnd('/') + "/");

    public IEnumerable<string> Validate()
    {
        foreach (var problem in ValidatedOptions.Pair<GoogleOptions>(ClientId, nameof(ClientId), ClientSecret, nameof(ClientSecret), "Google Calendar sync"))
            yield return problem;
        if (!string.IsNullOrWhiteSpace(ClientId) && !ClientId.EndsWith(".apps.googleusercontent.com", StringComparison.Ordinal))
            yield return "GOOGLE_CLIENT_ID should end with .apps.googleusercontent.com (a Web application OAuth client).";
        foreach (var (value, name, fallback) in new[] { (AuthUrl, "GOOGLE_AUTH_URL", DefaultAuthUrl), (TokenUrl, "GOOGLE_TOKEN_URL", DefaultTokenUrl), (ApiUrl, "GOOGLE_API_URL", DefaultApiUrl) })
            if (!ValidatedOptions.IsHttpUrl(value))
                yield return $"{name} must be an absolute http(s) URL such as {fallback}.";
    }
}
