using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Npgsql;
using Use60.Data;

namespace Use60.Privacy;

/// <summary>
/// Each org's keys: random 32-byte data keys (AES-256-GCM for contact PII and integration secrets; numbered, the newest seals,
/// older ones still open what they sealed until reencrypt moves it) and one blind-index key (HMAC-SHA256 of normalised emails,
/// so contacts are found by email without decrypting rows). They live in org_keys wrapped by the master key (<see cref="MasterKeys"/>),
/// which only the system path can read: the app's own role sees no row of it. Unwrapped keys are kept in memory for a minute
/// before they are read again (and forgotten after ten idle minutes); they are never logged. A new data key seals only once it is
/// older than that minute: by then every replica has read it, so none meets a value sealed under a key it does not have.
/// </summary>
public sealed class OrgKeyring(Use60DataSources dataSources, MasterKeys masters, TimeProvider clock)
{
    /// <summary>How long a process uses what it read before reading the org's keys again (so a key reencrypt adds reaches every replica).</summary>
    public static readonly TimeSpan Freshness = TimeSpan.FromMinutes(1);

    static readonly TimeSpan Idle = TimeSpan.FromMinutes(10);

    readonly ConcurrentDictionary<Guid, Entry> cache = new();
    long lastSweepTicks;

    sealed class Entry(OrgKeys? keys, DateTimeOffset loadedAt)
    {
        public OrgKeys? Keys { get; } = keys;
        public DateTimeOffset LoadedAt { get; } = loadedAt;
        public DateTimeOffset LastUsed { get; set; } = loadedAt;
    }

    /// <summary>The org's keys, made on first use.</summary>
    public async ValueTask<OrgKeys> ForAsync(Guid orgId, CancellationToken cancellationToken) =>
        (await GetAsync(orgId, create: true, cancellationToken))!;

    /// <summary>The org's keys as stored (null when it has none yet and <paramref name="create"/> is false).</summary>
    public async ValueTask<OrgKeys?> GetAsync(Guid orgId, bool create, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        Sweep(now);
        // "No keys" is not kept: another replica may make them at any moment, and a row sealed with them must open here.
        if (cache.TryGetValue(orgId, out var entry) && now - entry.LoadedAt < Freshness && entry.Keys is not null)
        {
            entry.LastUsed = now;
            return entry.Keys;
        }
        var keys = await LoadAsync(orgId, cancellationToken);
        if (keys is null && create) keys = await CreateAsync(orgId, cancellationToken);
        cache[orgId] = new Entry(keys, now);
        return keys;
    }

    /// <summary>
    /// The keyed hash contacts with <paramref name="email"/> are found by (emails are sealed at rest); null when the org has no keys yet,
    /// so nothing sealed can match.
    /// </summary>
    public async Task<string?> BlindIndexAsync(Guid orgId, string email, CancellationToken cancellationToken) =>
        (await GetAsync(orgId, create: false, cancellationToken))?.BlindIndex(email);

    /// <summary>What this process has read of the org's keys (whatever its age), for code that cannot wait for the database (EF materialisation).</summary>
    public OrgKeys? Loaded(Guid orgId) => cache.TryGetValue(orgId, out var entry) ? entry.Keys : null;

    /// <summary>Reads the org's keys again on next use (after this process changed them).</summary>
    public void Forget(Guid orgId) => cache.TryRemove(orgId, out _);

    /// <summary>Adds a fresh data key (the next number); it seals once it is older than <see cref="Freshness"/>. Returns the org's keys with it.</summary>
    public async Task<OrgKeys> AddDataKeyAsync(Guid orgId, CancellationToken cancellationToken)
    {
        await ForAsync(orgId, cancellationToken); // the org has its first keys (and so an index key)
        await SystemSql.RunAsync(dataSources.Owner, async (connection, transaction) =>
        {
            await using var next = SystemSql.Command(connection, transaction,
                "SELECT coalesce(max(id), 0) + 1 FROM org_keys WHERE org_id = $1 AND purpose = 'data'", orgId);
            var id = Convert.ToInt32(await next.ExecuteScalarAsync(cancellationToken));
            await InsertAsync(connection, transaction, orgId, [(id, DataPurpose)], onConflictNothing: false, cancellationToken);
            return 0;
        }, cancellationToken);
        Forget(orgId);
        return await ForAsync(orgId, cancellationToken);
    }

    internal const string DataPurpose = "data", IndexPurpose = "index";
    const int IndexKeyId = 0, FirstDataKeyId = 1;

    async Task<OrgKeys?> LoadAsync(Guid orgId, CancellationToken cancellationToken) =>
        await SystemSql.RunAsync(dataSources.Owner, async (connection, transaction) =>
        {
            await using var command = SystemSql.Command(connection, transaction,
                "SELECT id, purpose, wrapped, master_key_id, created_at FROM org_keys WHERE org_id = $1", orgId);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var data = new Dictionary<int, byte[]>();
            var settled = new List<int>();
            byte[]? index = null;
            while (await reader.ReadAsync(cancellationToken))
            {
                var (id, purpose) = (reader.GetInt32(0), reader.GetString(1));
                var key = masters.Unwrap(reader.GetString(3), orgId, id, purpose, (byte[])reader[2]);
                if (purpose == IndexPurpose) index = key;
                else data[id] = key;
                if (purpose == DataPurpose && new DateTimeOffset(reader.GetDateTime(4), TimeSpan.Zero) <= clock.GetUtcNow() - Freshness) settled.Add(id);
            }
            if (index is null || data.Count == 0) return null;
            // The newest key every replica has read by now; an org whose keys are all new has only its first key to seal with.
            return new OrgKeys(orgId, data, index, settled.Count > 0 ? settled.Max() : data.Keys.Min());
        }, cancellationToken);

    async Task<OrgKeys> CreateAsync(Guid orgId, CancellationToken cancellationToken)
    {
        // Two replicas may race to make an org's first keys: one insert wins, both then read the winner's.
        await SystemSql.RunAsync(dataSources.Owner, async (connection, transaction) =>
        {
            await InsertAsync(connection, transaction, orgId, [(IndexKeyId, IndexPurpose), (FirstDataKeyId, DataPurpose)], onConflictNothing: true, cancellationToken);
            return 0;
        }, cancellationToken);
        return await LoadAsync(orgId, cancellationToken)
               ?? throw new InvalidOperationException($"Org {orgId} has no keys after making them (does the org exist?).");
    }

    async Task InsertAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid orgId, (int Id, string Purpose)[] keys,
        bool onConflictNothing, CancellationToken cancellationToken)
    {
        foreach (var (id, purpose) in keys)
        {
            var key = RandomNumberGenerator.GetBytes(32);
            await using var insert = SystemSql.Command(connection, transaction, $"""
                INSERT INTO org_keys (org_id, id, purpose, wrapped, master_key_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)
                {(onConflictNothing ? "ON CONFLICT DO NOTHING" : "")}
                """, orgId, id, purpose, MasterKeys.Wrap(masters.Current, orgId, id, purpose, key), masters.Current.Id, clock.GetUtcNow());
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    void Sweep(DateTimeOffset now)
    {
        var last = Interlocked.Read(ref lastSweepTicks);
        if (now.UtcTicks - last < Freshness.Ticks || Interlocked.CompareExchange(ref lastSweepTicks, now.UtcTicks, last) != last) return;
        foreach (var (orgId, entry) in cache)
            if (now - entry.LastUsed > Idle) cache.TryRemove(orgId, out _);
    }
}

/// <summary>
/// One org's unwrapped keys. A sealed value is: version 2 (1 byte) | data key id (4) | nonce (12, random) | tag (16) | ciphertext;
/// its associated data binds it to the org, the field (an email cannot be pasted in as a phone number), what it belongs to
/// (a Slack team, a rep; may be empty) and the key id, so a value copied to another org's row or another field does not decrypt.
/// </summary>
public sealed class OrgKeys
{
    public const byte Version = 2;
    const int NonceSize = 12, TagSize = 16, HeaderSize = 1 + 4 + NonceSize + TagSize;

    readonly IReadOnlyDictionary<int, byte[]> dataKeys;
    readonly byte[] indexKey;

    internal OrgKeys(Guid orgId, IReadOnlyDictionary<int, byte[]> dataKeys, byte[] indexKey, int sealingKeyId)
    {
        OrgId = orgId;
        this.dataKeys = dataKeys;
        this.indexKey = indexKey;
        CurrentKeyId = sealingKeyId;
    }

    public Guid OrgId { get; }

    /// <summary>The data key that seals: the newest one that every replica has read (<see cref="OrgKeyring"/>).</summary>
    public int CurrentKeyId { get; }

    /// <summary>The newest data key, which may not seal yet: what reencrypt moves rows to.</summary>
    public int NewestKeyId => dataKeys.Keys.Max();

    /// <summary>The same keys, sealing with <paramref name="keyId"/>: reencrypt's, once it knows every replica has read that key.</summary>
    public OrgKeys SealingWith(int keyId) =>
        dataKeys.ContainsKey(keyId) ? new OrgKeys(OrgId, dataKeys, indexKey, keyId) : throw new ArgumentException($"Org {OrgId} has no data key {keyId}.");

    public IReadOnlyCollection<int> KeyIds => [.. dataKeys.Keys];

    public byte[] Seal(string field, string? boundTo, string plaintext)
    {
        var data = Encoding.UTF8.GetBytes(plaintext);
        var sealedBytes = new byte[HeaderSize + data.Length];
        sealedBytes[0] = Version;
        BinaryPrimitives.WriteInt32BigEndian(sealedBytes.AsSpan(1, 4), CurrentKeyId);
        var nonce = sealedBytes.AsSpan(5, NonceSize);
        RandomNumberGenerator.Fill(nonce); // 96 random bits per value: no nonce repeats at any volume a data key sees
        using var aes = new AesGcm(dataKeys[CurrentKeyId], TagSize);
        aes.Encrypt(nonce, data, sealedBytes.AsSpan(HeaderSize), sealedBytes.AsSpan(5 + NonceSize, TagSize), Context(field, boundTo, CurrentKeyId));
        return sealedBytes;
    }

    /// <exception cref="CryptographicException">The value belongs to another org or field, names a key this org does not have, or was altered
    /// (the message says which; it never holds the value).</exception>
    public string Open(string field, string? boundTo, byte[] sealedBytes)
    {
        if (!IsSealed(sealedBytes)) throw new CryptographicException($"The {field} value is not sealed with an org data key (version {Version}).");
        var keyId = KeyIdOf(sealedBytes);
        if (!dataKeys.TryGetValue(keyId, out var key))
            throw new CryptographicException($"The {field} value names data key {keyId}, which org {OrgId} does not have: it was sealed for another org " +
                                             "(copied from another org's row?), or with a key made after this process read the org's keys.");
        var plaintext = new byte[sealedBytes.Length - HeaderSize];
        using var aes = new AesGcm(key, TagSize);
        try
        {
            aes.Decrypt(sealedBytes.AsSpan(5, NonceSize), sealedBytes.AsSpan(HeaderSize), sealedBytes.AsSpan(5 + NonceSize, TagSize), plaintext,
                Context(field, boundTo, keyId));
        }
        catch (CryptographicException e)
        {
            throw new CryptographicException($"The {field} value does not decrypt for org {OrgId}: it belongs to another org, field or row " +
                                             "(a ciphertext copied from elsewhere?), or it was altered.", e);
        }
        return Encoding.UTF8.GetString(plaintext);
    }

    /// <summary>The keyed hash an email is found by: HMAC-SHA256 (the org's index key) of the trimmed, lower-case address, in hex.</summary>
    public string BlindIndex(string email) => Convert.ToHexStringLower(HMACSHA256.HashData(indexKey, Encoding.UTF8.GetBytes(Normalise(email))));

    public static string Normalise(string email) => email.Trim().ToLowerInvariant();

    public static bool IsSealed(byte[]? sealedBytes) => sealedBytes is { Length: >= HeaderSize } && sealedBytes[0] == Version;

    public static int KeyIdOf(byte[] sealedBytes) => BinaryPrimitives.ReadInt32BigEndian(sealedBytes.AsSpan(1, 4));

    byte[] Context(string field, string? boundTo, int keyId) => Encoding.UTF8.GetBytes($"use60/pii|{OrgId:D}|{field}|{boundTo}|{keyId}");
}
