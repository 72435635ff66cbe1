using Use60.Hosting;

namespace Use60.Slack;

[ConfigSection("Slack")]
public sealed class SlackOptions : IValidatedOptions
{
    public const string DefaultApiUrl = "https://slack.com/api/";

    [EnvironmentVariable("SLACK_SIGNING_SECRET",
        "Verifies that requests to /slack/* come from Slack (your app's Basic Information → App Credentials → Signing Secret).",
        Secret = true)]
    public string? SigningSecret { get; set; }

    [EnvironmentVariable("SLACK_BOT_TOKEN",
        "Bot token (xoxb-...) of a single-workspace install (OAuth & Permissions). Unset: messages go to the local Slack sandbox at /admin/slack.",
        Secret = true)]
    public string? BotToken { get; set; }

    [EnvironmentVariable("SLACK_APP_TOKEN",
        "App-level token (xapp-...) with connections:write, for Socket Mode: receive events over a WebSocket instead of public HTTP.",
        Secret = true)]
    public string? AppToken { get; set; }

    [EnvironmentVariable("SLACK_CLIENT_ID",
        "OAuth client id, for installing the app into many workspaces and for \"Sign in with Slack\" on the admin site.")]
    public string? ClientId { get; set; }

    [EnvironmentVariable("SLACK_CLIENT_SECRET", "OAuth client secret, paired with SLACK_CLIENT_ID.", Secret = true)]
    public string? ClientSecret { get; set; }

    [EnvironmentVariable("SLACK_API_URL",
        "Base URL of the Slack Web API (default https://slack.com/api/); tests point it at a local fake.")]
    public string ApiUrl { get; set; } = DefaultApiUrl;

    /// <summary>No Slack configured at all: messages go to the local Slack sandbox (/admin/slack).</summary>
    public bool IsSandbox => Blank(BotToken) && Blank(AppToken) && Blank(ClientId);

    /// <summary>One workspace, with SLACK_BOT_TOKEN; otherwise each workspace's token comes from its OAuth install.</summary>
    public bool IsSingleWorkspace => !Blank(BotToken);

    static bool Blank(string? value) => string.IsNullOrWhiteSpace(value);

    public IEnumerable<string> Validate()
    {
        if (!IsSandbox && Blank(SigningSecret) && Blank(AppToken))
            yield return "SLACK_SIGNING_SECRET is required to receive Slack's requests over HTTP (Basic Information → App Credentials), " +
                         "or set SLACK_APP_TOKEN to receive them over Socket Mode instead.";
        if (!Blank(ClientId) && Blank(SigningSecret))
            yield return "SLACK_SIGNING_SECRET is required with SLACK_CLIENT_ID: installs through OAuth deliver events over HTTP.";
        if (!string.IsNullOrWhiteSpace(SigningSecret) && SigningSecret.Trim().Length < 16)
            yield return "SLACK_SIGNING_SECRET looks truncated: Slack's signing secrets are 32 characters (Basic Information → App Credentials).";
        if (!string.IsNullOrWhiteSpace(BotToken) && !BotToken.StartsWith("xoxb-", StringComparison.Ordinal))
            yield return "SLACK_BOT_TOKEN must be a bot token starting with xoxb- (OAuth & Permissions → Bot User OAuth Token), not a user or app token.";
        if (!string.IsNullOrWhiteSpace(AppToken) && !AppToken.StartsWith("xapp-", StringComparison.Ordinal))
            yield return "SLACK_APP_TOKEN must be an app-level token starting with xapp- (Basic Information → App-Level Tokens, scope connections:write).";
        foreach (var problem in ValidatedOptions.Pair<SlackOptions>(ClientId, nameof(ClientId), ClientSecret, nameof(ClientSecret), "Slack OAuth"))
            yield return problem;
        if (!ValidatedOptions.IsHttpUrl(ApiUrl))
            yield return $"SLACK_API_URL must be an absolute http(s) URL such as {DefaultApiUrl}.";
    }
}
