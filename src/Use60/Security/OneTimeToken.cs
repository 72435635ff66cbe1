using System.Buffers.Text;
using System.Security.Cryptography;

namespace Use60.Security;

/// <summary>
/// Single-use secrets handed to a person or a browser (sign-in links, OAuth state): 32 random bytes, base64url.
/// Only their SHA-256 is stored, so the table alone lets nobody use one.
/// </summary>
public static class OneTimeToken
{
    public static (string Token, byte[] Hash) New()
    {
        var bytes = RandomNumberGenerator.GetBytes(32);
        return (Base64Url.EncodeToString(bytes), SHA256.HashData(bytes));
    }

    /// <summary>The stored hash of <paramref name="token"/>, or null when it cannot be one of ours.</summary>
    public static byte[]? HashOf(string? token)
    {
        if (string.IsNullOrWhiteSpace(token) || token.Length > 64) return null;
        var bytes = new byte[48];
        return Base64Url.IsValid(token) && Base64Url.TryDecodeFromChars(token, bytes, out var length) && length == 32
            ? SHA256.HashData(bytes.AsSpan(0, 32))
            : null;
    }
}
