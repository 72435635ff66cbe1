using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Use60.Data;

namespace Use60.Slack;

public enum SignatureCheck { Valid, MissingHeaders, StaleTimestamp, BadSignature }

/// <summary>
/// Slack's request signing: v0= + hex HMAC-SHA256 of "v0:{timestamp}:{raw body}" with the app's signing
/// secret, compared in constant time; a timestamp more than five minutes from now is refused (replays).
/// </summary>
public sealed class SlackSignature(TimeProvider clock)
{
    public static readonly TimeSpan MaxClockSkew = TimeSpan.FromMinutes(5);
    public const string TimestampHeader = "X-Slack-Request-Timestamp";
    public const string SignatureHeader = "X-Slack-Signature";

    public static string Sign(string secret, string timestamp, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.UTF8.GetBytes($"v0:{timestamp}:");
        var message = new byte[prefix.Length + body.Length];
        prefix.CopyTo(message, 0);
        body.CopyTo(message.AsSpan(prefix.Length));
        return "v0=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), message));
    }

    public SignatureCheck Verify(string secret, string? timestamp, string? signature, ReadOnlySpan<byte> body)
    {
        if (string.IsNullOrEmpty(timestamp) || string.IsNullOrEmpty(signature)) return SignatureCheck.MissingHeaders;
        if (!long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            || seconds > DateTimeOffset.MaxValue.ToUnixTimeSeconds())
            return SignatureCheck.StaleTimestamp;
        var skew = clock.GetUtcNow() - DateTimeOffset.FromUnixTimeSeconds(seconds);
        if (skew.Duration() > MaxClockSkew) return SignatureCheck.StaleTimestamp;
        var expected = Encoding.ASCII.GetBytes(Sign(secret, timestamp, body));
        var actual = Encoding.ASCII.GetBytes(signature);
        return CryptographicOperations.FixedTimeEquals(expected, actual) ? SignatureCheck.Valid : SignatureCheck.BadSignature;
    }
}

/// <summary>
/// The secret requests to /slack/* are signed with: SLACK_SIGNING_SECRET, or, in the local sandbox (no Slack
/// configured), a secret generated once per database so every replica accepts what the sandbox page signed.
/// </summary>
public sealed class SlackSigningSecret(IOptions<SlackOptions> options, SystemDb system)
{
    string? sandboxSecret;

    /// <summary>Null when Slack is configured without a signing secret (Socket Mode only): HTTP callbacks are then refused.</summary>
    public async ValueTask<string?> GetAsync(CancellationToken cancellationToken)
    {
        if (options.Value.SigningSecret is { Length: > 0 } configured) return configured.Trim();
        if (!options.Value.IsSandbox) return null;
        if (sandboxSecret is not null) return sandboxSecret;
        await using var db = system.Open("read the Slack sandbox's signing secret");
        return sandboxSecret = await db.Database.SqlQuery<string>($"SELECT secret AS \"Value\" FROM slack_sandbox_secret")
            .SingleAsync(cancellationToken);
    }
}
