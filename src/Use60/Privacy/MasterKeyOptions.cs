using Microsoft.Extensions.Options;
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

    [EnvironmentVariable("USE60_PREVIOUS_MASTER_KEY",
        "Only while rotating the master key: the key being replaced. Org keys wrapped by it stay readable until rotate-master-key has rewrapped them.",
        Secret = true)]
    public string? PreviousMasterKey { get; set; }

    public IEnumerable<string> Validate()
    {
        foreach (var (value, name) in new[] { (MasterKey, "USE60_MASTER_KEY"), (PreviousMasterKey, "USE60_PREVIOUS_MASTER_KEY") })
            if (!string.IsNullOrWhiteSpace(value) && Parse(value) is null)
                yield return $"{name} must be exactly 32 random bytes, base64-encoded (44 characters); {HowToMakeOne}.";
        if (!string.IsNullOrWhiteSpace(PreviousMasterKey) && string.IsNullOrWhiteSpace(MasterKey))
            yield return "USE60_PREVIOUS_MASTER_KEY is set but USE60_MASTER_KEY is not: a rotation needs the new key in USE60_MASTER_KEY.";
    }

    /// <summary>The 32 key bytes, or null when <paramref name="value"/> is not 32 bytes of base64.</summary>
    public static byte[]? Parse(string? value)
    {
        var bytes = new byte[64];
        return value is not null && Convert.TryFromBase64String(value.Trim(), bytes, out var length) && length == 32 ? bytes[..32] : null;
    }
}

/// <summary>
/// In Production the app does not start without USE60_MASTER_KEY. Elsewhere (Development, Testing) a fixed, public development key
/// stands in, so `dotnet run` and the tests work out of the box; it protects nothing and a warning says so at start.
/// </summary>
sealed class MasterKeyRequiredInProduction(IHostEnvironment environment) : IValidateOptions<MasterKeyOptions>
{
    public ValidateOptionsResult Validate(string? name, MasterKeyOptions options) =>
        environment.IsProduction() && string.IsNullOrWhiteSpace(options.MasterKey)
            ? ValidateOptionsResult.Fail("USE60_MASTER_KEY is not set: in production use60 keeps contact PII and integration secrets encrypted " +
                                         $"under it and does not start without one; {MasterKeyOptions.HowToMakeOne} (keep it safe: without it the " +
                                         "encrypted data cannot be read).")
            : ValidateOptionsResult.Success;
}
