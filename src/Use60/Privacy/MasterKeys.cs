using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Use60.Privacy;

/// <summary>One master key: its id (a fingerprint, safe to store and print) and the key it wraps org keys with.</summary>
public sealed class MasterKey
{
    internal MasterKey(byte[] raw)
    {
        Raw = raw;
        // The fingerprint is a MAC of a constant: it names the key without revealing anything about it.
        Id = "mk_" + Convert.ToHexStringLower(HMACSHA256.HashData(raw, "use60 master key id"u8))[..16];
        WrappingKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, raw, 32, info: "use60/org-key-wrap"u8.ToArray());
    }

    public string Id { get; }
    internal byte[] Raw { get; }
    internal byte[] WrappingKey { get; }
}

/// <summary>
/// The master key(s) from configuration. Org keys (a random data key and a blind-index key per org, <see cref="OrgKeyring"/>)
/// are wrapped by <see cref="Current"/>; while a rotation is under way, keys still wrapped by <see cref="Previous"/> stay readable.
/// Each wrapped key records the id of the master key that wrapped it, so a half-finished rotation is never ambiguous.
/// </summary>
public sealed class MasterKeys
{
    // Outside Production only (MasterKeyRequiredInProduction refuses to start without a real key there). Public by design.
    static readonly byte[] DevelopmentKey = SHA256.HashData("use60 development master key: public, never for real data"u8);

    const int NonceSize = 12, TagSize = 16;

    public MasterKeys(IOptions<MasterKeyOptions> options)
    {
        var configured = MasterKeyOptions.Parse(options.Value.MasterKey);
        IsDevelopmentKey = configured is null;
        Current = new MasterKey(configured ?? DevelopmentKey);
        Previous = MasterKeyOptions.Parse(options.Value.PreviousMasterKey) is { } previous ? new MasterKey(previous) : null;
    }

    public MasterKey Current { get; }
    public MasterKey? Previous { get; }

    /// <summary>USE60_MASTER_KEY is unset (not Production): the public development key stands in.</summary>
    public bool IsDevelopmentKey { get; }

    /// <summary>The master key with this id, or null when neither configured key has it.</summary>
    public MasterKey? Find(string id) => Current.Id == id ? Current : Previous?.Id == id ? Previous : null;

    /// <summary>AES-256-GCM of an org key under <paramref name="master"/>, bound to the org, the key's id and its purpose. Layout: nonce | tag | key.</summary>
    public static byte[] Wrap(MasterKey master, Guid orgId, int keyId, string purpose, byte[] key)
    {
        var wrapped = new byte[NonceSize + TagSize + key.Length];
        RandomNumberGenerator.Fill(wrapped.AsSpan(0, NonceSize));
        using var aes = new AesGcm(master.WrappingKey, TagSize);
        aes.Encrypt(wrapped.AsSpan(0, NonceSize), key, wrapped.AsSpan(NonceSize + TagSize), wrapped.AsSpan(NonceSize, TagSize),
            WrapContext(orgId, keyId, purpose));
        return wrapped;
    }

    /// <exception cref="CryptographicException">The master key with <paramref name="masterKeyId"/> is not configured, or the wrapped key was altered or moved.</exception>
    public byte[] Unwrap(string masterKeyId, Guid orgId, int keyId, string purpose, byte[] wrapped)
    {
        var master = Find(masterKeyId) ?? throw new CryptographicException(
            $"Org {orgId}'s key {keyId} is wrapped by master key {masterKeyId}, but USE60_MASTER_KEY is {Current.Id}" +
            (Previous is null ? "" : $" and USE60_PREVIOUS_MASTER_KEY is {Previous.Id}") +
            ". Set the master key that wrapped it (during a rotation: the old one as USE60_PREVIOUS_MASTER_KEY), then run rotate-master-key.");
        if (wrapped.Length != NonceSize + TagSize + 32) throw new CryptographicException($"Org {orgId}'s key {keyId} is not a wrapped 32-byte key.");
        var key = new byte[32];
        using var aes = new AesGcm(master.WrappingKey, TagSize);
        try
        {
            aes.Decrypt(wrapped.AsSpan(0, NonceSize), wrapped.AsSpan(NonceSize + TagSize), wrapped.AsSpan(NonceSize, TagSize), key,
                WrapContext(orgId, keyId, purpose));
        }
        catch (CryptographicException e)
        {
            throw new CryptographicException($"Org {orgId}'s key {keyId} does not unwrap with master key {master.Id}: it was altered or belongs to another org.", e);
        }
        return key;
    }

    static byte[] WrapContext(Guid orgId, int keyId, string purpose) => Encoding.UTF8.GetBytes($"use60/org-key|{orgId:D}|{keyId}|{purpose}");
}
