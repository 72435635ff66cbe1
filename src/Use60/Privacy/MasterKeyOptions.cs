using Use60.Hosting;

namespace Use60.Privacy;

[ConfigSection("Privacy")]
public sealed class MasterKeyOptions : IValidatedOptions
{
    public const string HowToMakeOne = "make one with: openssl rand -base64 32";

    [EnvironmentVariable("USE60_MASTER_KEY",
        "32 random bytes in base64 that wrap each org's data key (PII and integration secrets are encrypted at rest). " +
        "scripts/dev.sh generates one into .data/.",
        Secret = true)]
    public string? MasterKey { get; set; }

    public IEnumerable<string> Validate()
    {
        if (string.IsNullOrWhiteSpace(MasterKey)) yield break;
        var bytes = new byte[64];
        if (!Convert.TryFromBase64String(MasterKey.Trim(), bytes, out var length) || length != 32)
            yield return $"USE60_MASTER_KEY must be exactly 32 random bytes, base64-encoded (44 characters); {HowToMakeOne}.";
    }
}

public static class PrivacyFeature
{
    public static IServiceCollection AddPrivacy(this IServiceCollection services, IConfiguration configuration) =>
        services.AddValidatedOptions<MasterKeyOptions>(configuration).AddSingleton<SecretBox>()
            .AddTransient<ContactDeletion>().AddTransient<PrivacyRetention>().AddTransient<PrivacyRequests>()
            .AddSingleton(new Admin.AdminNavItem("Privacy", Privacy.Pages.PrivacyModel.PagePath, 55));
}
