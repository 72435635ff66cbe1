using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Use60.Privacy;

/// <summary>
/// AES-256-GCM for secrets kept in the database (integration tokens). Each purpose gets its own key, derived
/// from USE60_MASTER_KEY with HKDF, and each ciphertext is bound to what it belongs to (associated data, e.g.
/// a Slack team id), so a ciphertext copied onto another row does not decrypt.
/// Layout: version (1) | nonce (12) | tag (16) | ciphertext.
/// </summary>
public sealed class SecretBox(IOptions<MasterKeyOptions> options)
{
    const byte Version = 1;
    const int NonceSize = 12, TagSize = 16, HeaderSize = 1 + NonceSize + TagSize;

    public bool IsConfigured => !string.IsNullOrWhiteSpace(options.Value.MasterKey);

    public byte[] Seal(string purpose, string boundTo, string plaintext)
    {
        var data = Encoding.UTF8.GetBytes(plaintext);
        var sealedBytes = new byte[HeaderSize + data.Length];
        sealedBytes[0] = Version;
        var nonce = sealedBytes.AsSpan(1, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(KeyFor(purpose), TagSize);
        aes.Encrypt(nonce, data, sealedBytes.AsSpan(HeaderSize), sealedBytes.AsSpan(1 + NonceSize, TagSize), Encoding.UTF8.GetBytes(boundTo));
        return sealedBytes;
    }

    /// <exception cref="CryptographicException">The ciphertext was altered, moved to another row, or sealed with another master key.</exception>
    public string Open(string purpose, string boundTo, byte[] sealedBytes)
    {
        if (sealedBytes.Length < HeaderSize || sealedBytes[0] != Version)
            throw new CryptographicException("Not a sealed secret of a version this build reads.");
        var plaintext = new byte[sealedBytes.Length - HeaderSize];
        using var aes = new AesGcm(KeyFor(purpose), TagSize);
        aes.Decrypt(sealedBytes.AsSpan(1, NonceSize), sealedBytes.AsSpan(HeaderSize), sealedBytes.AsSpan(1 + NonceSize, TagSize), plaintext,
            Encoding.UTF8.GetBytes(boundTo));
        return Encoding.UTF8.GetString(plaintext);
    }

    /// <summary>
    /// The 32-byte key of <paramref name="purpose"/> (HKDF-SHA256 of the master key): what <see cref="Seal"/> encrypts with, and
    /// the key of any MAC the app puts on something it hands out itself (e.g. links to local recordings), one purpose each.
    /// </summary>
    public byte[] KeyFor(string purpose)
    {
        if (!IsConfigured)
            throw new InvalidOperationException($"USE60_MASTER_KEY is not set, so secrets cannot be stored encrypted; {MasterKeyOptions.HowToMakeOne}.");
        var master = Convert.FromBase64String(options.Value.MasterKey!.Trim());
        return HKDF.DeriveKey(HashAlgorithmName.SHA256, master, 32, info: Encoding.UTF8.GetBytes("use60/" + purpose));
    }
}
