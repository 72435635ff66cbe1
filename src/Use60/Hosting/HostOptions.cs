namespace Use60.Hosting;

[ConfigSection("Use60")]
public sealed class Use60Options : IValidatedOptions
{
    public const string DefaultPublicUrl = "http://127.0.0.1:5175";

    [EnvironmentVariable("PUBLIC_URL",
        "The address people and Slack reach this app at, used in sign-in links and OAuth redirects (default http://127.0.0.1:5175).")]
    public string PublicUrl { get; set; } = DefaultPublicUrl;

    public Uri PublicUri => new(PublicUrl.TrimEnd('/') + "/");

    public IEnumerable<string> Validate()
    {
        if (!ValidatedOptions.IsHttpUrl(PublicUrl))
            yield return $"PUBLIC_URL must be an absolute http(s) URL such as https://use60.example.com (default {DefaultPublicUrl}).";
    }
}
