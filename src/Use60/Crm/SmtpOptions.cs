using Use60.Hosting;

namespace Use60.Crm;

/// <summary>The mail relay that emails to prospects go out through, after the rep confirms them.</summary>
[ConfigSection("Smtp")]
public sealed class SmtpOptions : IValidatedOptions
{
    [EnvironmentVariable("SMTP_URL",
        "Mail relay for emails reps confirm: smtp://user:password@host:587 (STARTTLS) or smtps://...:465. Unset: emails are kept in the local mail sandbox.",
        Secret = true)]
    public string? Url { get; set; }

    public IEnumerable<string> Validate()
    {
        if (string.IsNullOrWhiteSpace(Url)) yield break;
        if (!Uri.TryCreate(Url, UriKind.Absolute, out var uri) || uri.Scheme is not ("smtp" or "smtps") || string.IsNullOrEmpty(uri.Host))
            yield return "SMTP_URL must look like smtp://user:password@mail.example.com:587 or smtps://user:password@mail.example.com:465.";
    }
}
