using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Use60.Privacy;

/// <summary>
/// Integration secrets kept in the database (Slack bot tokens, Google refresh tokens, admins' TOTP secrets): AES-256-GCM under the
/// org's data key (<see cref="OrgKeyring"/>), bound to the org, the purpose and what the secret belongs to (a Slack team id, a rep),
/// so a ciphertext copied onto another row does not decrypt, and rotate-master-key covers them with the rest of the org's data.
/// Secrets sealed before org keys existed (version 1: a key derived from the master key per purpose) are still opened, and are
/// resealed under the org's key at start (<see cref="PiiMaintenance"/>).
/// </summary>
public sealed class SecretBox(IOptions<MasterKeyOptions> options, MasterKeys masters, OrgKeyring keyring)
{
    const byte LegacyVersion = 1;
    const int NonceSize = 12, TagSize = 16, LegacyHeaderSize = 1 + NonceSize + TagSize;

    /// <summary>USE60_MASTER_KEY is set: the features that keep secrets (Slack install, Google Calendar, TOTP) need it explicitly.</summary>
    public bool IsConfigured => !string.IsNullOrWhiteSpace(options.Value.MasterKey);

    /// <summary>Seals under <paramref name="keyId"/> when given (reencrypt's target), else under the org's current data key.</summary>
    public async Task<byte[]> SealAsync(Guid orgId, string purpose, string boundTo, string plaintext, CancellationToken cancellationToken, int? keyId = null)
    {
        var keys = await keyring.ForAsync(orgId, cancellationToken);
        return (keyId is { } id ? keys.SealingWith(id) : keys).Seal("secret:" + purpose, boundTo, plaintext);
    }

    /// <exception cref="CryptographicException">The ciphertext was altered, moved to another row or org, or sealed under a master key not configured.</exception>
    public async Task<string> OpenAsync(Guid orgId, string purpose, string boundTo, byte[] sealedBytes, CancellationToken cancellationToken)
    {
        if (IsLegacy(sealedBytes)) return OpenLegacy(purpose, boundTo, sealedBytes);
        var keys = await keyring.GetAsync(orgId, create: false, cancellationToken)
                   ?? throw new CryptographicException($"The {purpose} secret cannot be opened: org {orgId} has no keys (copied from another org?).");
        return keys.Open("secret:" + purpose, boundTo, sealedBytes);
    }

    internal static bool IsLegacy(byte[] sealedBytes) => sealedBytes.Length >= LegacyHeaderSize && sealedBytes[0] == LegacyVersion;

    /// <summary>A version-1 secret: its key was derived from the master key that was current then (USE60_MASTER_KEY, or the previous one mid-rotation).</summary>
    internal string OpenLegacy(string purpose, string boundTo, byte[] sealedBytes)
    {
        CryptographicException? failure = null;
        foreach (var master in new[] { masters.Current, masters.Previous }.OfType<MasterKey>())
        {
            var plaintext = new byte[sealedBytes.Length - LegacyHeaderSize];
            using var aes = new AesGcm(Derive(master.Raw, purpose), TagSize);
            try
            {
                aes.Decrypt(sealedBytes.AsSpan(1, NonceSize), sealedBytes.AsSpan(LegacyHeaderSize), sealedBytes.AsSpan(1 + NonceSize, TagSize), plaintext,
                    Encoding.UTF8.GetBytes(boundTo));
                return Encoding.UTF8.GetString(plaintext);
            }
            catch (CryptographicException e)
            {
                failure = e;
            }
        }
        throw new CryptographicException($"The {purpose} secret (sealed before org keys) does not decrypt with the configured master key(s).", failure);
    }

    /// <summary>
    /// The 32-byte key of <paramref name="purpose"/> (HKDF-SHA256 of USE60_MASTER_KEY) for a MAC the app puts on something it hands out itself
    /// (links to local recordings, webhook tokens), one purpose each. These stay derived from the master key: nothing stored depends on them,
    /// so rotating the master key only makes links already handed out stop working.
    /// </summary>
    public byte[] KeyFor(string purpose)
    {
        if (!IsConfigured)
            throw new InvalidOperationException($"USE60_MASTER_KEY is not set, so secrets cannot be stored encrypted; {MasterKeyOptions.HowToMakeOne}.");
        return Derive(MasterKeyOptions.Parse(options.Value.MasterKey)!, purpose);
    }

    static byte[] Derive(byte[] master, string purpose) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, master, 32, info: Encoding.UTF8.GetBytes("use60/" + purpose));
}
