using Use60.Hosting;

namespace Use60.Calendar;

[ConfigSection("Google")]
public sealed class GoogleOptions : IValidatedOptions
{
    [EnvironmentVariable("GOOGLE_CLIENT_ID",
        "OAuth client id (Google Cloud console → Credentials) for Google Calendar sync. Unset: the demo calendar rows are used.")]
    public string? ClientId { get; set; }

    [EnvironmentVariable("GOOGLE_CLIENT_SECRET", "OAuth client secret, paired with GOOGLE_CLIENT_ID.", Secret = true)]
    public string? ClientSecret { get; set; }

    public IEnumerable<string> Validate()
    {
        foreach (var problem in ValidatedOptions.Pair<GoogleOptions>(ClientId, nameof(ClientId), ClientSecret, nameof(ClientSecret), "Google Calendar sync"))
            yield return problem;
        if (!string.IsNullOrWhiteSpace(ClientId) && !ClientId.EndsWith(".apps.googleusercontent.com", StringComparison.Ordinal))
            yield return "GOOGLE_CLIENT_ID should end with .apps.googleusercontent.com (a Web application OAuth client).";
    }
}

public static class CalendarFeature
{
    public static IServiceCollection AddCalendar(this IServiceCollection services, IConfiguration configuration) =>
        services.AddValidatedOptions<GoogleOptions>(configuration);
}
