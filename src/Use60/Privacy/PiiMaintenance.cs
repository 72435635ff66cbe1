using System.Security.Cryptography;
using System.Text.Json;
using Npgsql;
using Use60.Admin;
using Use60.Calendar;
using Use60.Crm;
using Use60.Data;
using Use60.Slack;

namespace Use60.Privacy;

/// <summary>
/// The work on sealed data that spans rows and orgs, on the system path: the start-up pass that seals what is not sealed yet
/// (contacts migrated from plaintext, calendar events without attendee hashes, secrets sealed before org keys), master-key
/// rotation (rewraps org keys, never touches row data) and re-encryption of one org under a fresh data key. Each works in
/// batches, one transaction each, so stopping at any point leaves every row readable and running again carries on.
/// Progress lines name counts and ids only, never a value.
/// </summary>
public sealed class PiiMaintenance(Use60DataSources dataSources, OrgKeyring keyring, MasterKeys masters, SecretBox secrets, TimeProvider clock,
    ILogger<PiiMaintenance> logger)
{
    public const int DefaultBatchSize = 500;

    public sealed record SealPassReport(int Contacts, int Events, int Secrets, int SecretsUnreadable);

    /// <summary>Seals what is not sealed yet. Idempotent; several replicas may run it at once (rows are locked per batch).</summary>
    public async Task<SealPassReport> SealPassAsync(CancellationToken cancellationToken)
    {
        var contacts = 0;
        while (await SealContactsAsync(cancellationToken) is var n and > 0) contacts += n;
        var events = 0;
        while (await HashEventsAsync(cancellationToken) is var n and > 0) events += n;
        var (resealed, unreadable) = await ResealSecretsAsync(orgId: null, targetKeyId: null, cancellationToken);
        return new SealPassReport(contacts, events, resealed, unreadable);
    }

    async Task<int> SealContactsAsync(CancellationToken cancellationToken) => await SystemSql.RunAsync(dataSources.Owner, async (connection, transaction) =>
    {
        var rows = await ReadContactsAsync(connection, transaction, """
            WHERE unsealed_email IS NOT NULL OR unsealed_phone IS NOT NULL OR unsealed_linkedin_url IS NOT NULL
            ORDER BY id LIMIT $1 FOR UPDATE
            """, [DefaultBatchSize], cancellationToken);
        await WriteContactsAsync(connection, transaction, rows, cancellationToken);
        return rows.Count;
    }, cancellationToken);

    async Task<int> HashEventsAsync(CancellationToken cancellationToken) => await SystemSql.RunAsync(dataSources.Owner, async (connection, transaction) =>
    {
        var rows = new List<(Guid Id, Guid OrgId, string Attendees)>();
        await using (var read = SystemSql.Command(connection, transaction,
                         "SELECT id, org_id, attendees::text FROM calendar_events WHERE attendee_email_hashes IS NULL ORDER BY id LIMIT $1 FOR UPDATE",
                         DefaultBatchSize))
        await using (var reader = await read.ExecuteReaderAsync(cancellationToken))
            while (await reader.ReadAsync(cancellationToken)) rows.Add((reader.GetGuid(0), reader.GetGuid(1), reader.GetString(2)));
        await using var batch = new NpgsqlBatch(connection, transaction);
        foreach (var (id, orgId, attendees) in rows)
        {
            var keys = await keyring.ForAsync(orgId, cancellationToken);
            var hashes = JsonSerializer.Deserialize<List<Attendee>>(attendees, DbJson.Options)!
                .Select(a => keys.BlindIndex(a.Email)).Distinct().Order(StringComparer.Ordinal).ToArray();
            batch.BatchCommands.Add(BatchCommand("UPDATE calendar_events SET attendee_email_hashes = $2 WHERE id = $1", id, hashes));
        }
        if (rows.Count > 0) await batch.ExecuteNonQueryAsync(cancellationToken);
        return rows.Count;
    }, cancellationToken);

    /// <summary>
    /// rotate-master-key: every org key wrapped by USE60_PREVIOUS_MASTER_KEY is rewrapped by USE60_MASTER_KEY, a batch per transaction.
    /// Row data is not touched. Stopped half-way, each key row still says which master key wraps it, and both are configured: every org
    /// stays readable, and running again finishes the rest.
    /// </summary>
    public async Task<bool> RotateMasterKeyAsync(TextWriter output, CancellationToken cancellationToken)
    {
        if (masters.Previous is not { } previous)
        {
            output.WriteLine("USE60_PREVIOUS_MASTER_KEY is not set, so there is nothing to rotate from. To rotate: make a new key " +
                             $"({MasterKeyOptions.HowToMakeOne}), set it as USE60_MASTER_KEY and the current one as USE60_PREVIOUS_MASTER_KEY " +
                             "(the app keeps working with both), then run rotate-master-key.");
            return false;
        }
        var current = masters.Current;
        if (previous.Id == current.Id)
        {
            output.WriteLine("USE60_PREVIOUS_MASTER_KEY is the same key as USE60_MASTER_KEY: set the new key as USE60_MASTER_KEY.");
            return false;
        }
        // Secrets sealed before org keys depend on the master key itself: reseal them under their org's key first.
        var sealPass = await SealPassAsync(cancellationToken);
        if (sealPass.Contacts + sealPass.Events + sealPass.Secrets > 0)
            output.WriteLine($"Sealed first: {sealPass.Contacts} contacts, {sealPass.Events} calendar events, {sealPass.Secrets} secrets.");
        if (sealPass.SecretsUnreadable > 0)
        {
            output.WriteLine($"{sealPass.SecretsUnreadable} secret(s) sealed before org keys open with neither key (see the log): " +
                             "they would be lost by the rotation. Nothing was rewrapped.");
            return false;
        }

        var total = await CountAsync("SELECT count(*) FROM org_keys WHERE master_key_id = $1", previous.Id, cancellationToken);
        output.WriteLine($"Rewrapping {total} org key(s) from master key {previous.Id} to {current.Id}.");
        var done = 0L;
        while (true)
        {
            var rewrapped = await SystemSql.RunAsync(dataSources.Owner, async (connection, transaction) =>
            {
                var rows = new List<(Guid OrgId, int Id, string Purpose, byte[] Wrapped)>();
                await using (var read = SystemSql.Command(connection, transaction, """
                                 SELECT org_id, id, purpose, wrapped FROM org_keys WHERE master_key_id = $1 ORDER BY org_id, id LIMIT 100 FOR UPDATE
                                 """, previous.Id))
                await using (var reader = await read.ExecuteReaderAsync(cancellationToken))
                    while (await reader.ReadAsync(cancellationToken))
                        rows.Add((reader.GetGuid(0), reader.GetInt32(1), reader.GetString(2), (byte[])reader[3]));
                await using var batch = new NpgsqlBatch(connection, transaction);
                foreach (var (orgId, id, purpose, wrapped) in rows)
                {
                    var key = masters.Unwrap(previous.Id, orgId, id, purpose, wrapped);
                    batch.BatchCommands.Add(BatchCommand("UPDATE org_keys SET wrapped = $3, master_key_id = $4 WHERE org_id = $1 AND id = $2",
                        orgId, id, MasterKeys.Wrap(current, orgId, id, purpose, key), current.Id));
                    CryptographicOperations.ZeroMemory(key);
                }
                if (rows.Count > 0) await batch.ExecuteNonQueryAsync(cancellationToken);
                return rows.Count;
            }, cancellationToken);
            if (rewrapped == 0) break;
            done += rewrapped;
            output.WriteLine($"  org keys: {done}/{total} rewrapped");
        }

        var stranger = await CountAsync("SELECT count(*) FROM org_keys WHERE master_key_id <> $1", current.Id, cancellationToken);
        if (stranger > 0)
        {
            output.WriteLine($"{stranger} org key(s) are wrapped by a master key that is neither USE60_MASTER_KEY nor USE60_PREVIOUS_MASTER_KEY: " +
                             "set that key as USE60_PREVIOUS_MASTER_KEY and run rotate-master-key again.");
            return false;
        }
        output.WriteLine($"Done: every org key is wrapped by master key {current.Id}. Next: remove USE60_PREVIOUS_MASTER_KEY from the " +
                         "configuration and restart; destroy the old key once no backup made before now is needed.");
        return true;
    }

    public sealed record ReencryptReport(int TargetKeyId, bool Resumed, long Contacts, int Secrets);

    /// <summary>
    /// reencrypt --org: a fresh data key for the org, then its contacts' fields and its secrets resealed under it, <paramref name="batchSize"/>
    /// rows per transaction, with a progress line per batch. Interrupted, it resumes: while rows remain under older keys, the newest key
    /// is the target and no other is made. Older keys are kept (marked retired) so backups made before stay readable.
    /// </summary>
    public async Task<ReencryptReport> ReencryptAsync(Guid orgId, int batchSize, bool waitForReplicas, TextWriter output, CancellationToken cancellationToken)
    {
        keyring.Forget(orgId);
        if (await keyring.GetAsync(orgId, create: false, cancellationToken) is not { } keys)
        {
            if (await CountAsync("SELECT count(*) FROM orgs WHERE id = $1", orgId, cancellationToken) == 0)
                throw new ArgumentException($"There is no org {orgId}.");
            keys = await keyring.ForAsync(orgId, cancellationToken);
        }
        var pending = await CountAsync($"SELECT count(*) FROM contacts c WHERE c.org_id = $1 AND {NotOn("$2")}", orgId, keys.NewestKeyId, cancellationToken);
        var resumed = pending > 0 && keys.KeyIds.Count > 1;
        if (resumed)
            output.WriteLine($"Resuming: {pending} contact(s) of org {orgId} are still to move to data key {keys.NewestKeyId}.");
        else
        {
            keys = await keyring.AddDataKeyAsync(orgId, cancellationToken);
            output.WriteLine($"Made data key {keys.NewestKeyId} for org {orgId}; new writes are sealed with it once every replica has read it " +
                             $"(within {OrgKeyring.Freshness.TotalSeconds:0} s).");
        }
        if (waitForReplicas)
        {
            // A new key seals once it is OrgKeyring.Freshness old, and every replica reads the org's keys again within Freshness: after twice
            // that, every replica has the key and seals with it, so no row written meanwhile is left behind under the old one.
            var made = await SystemSql.RunAsync(dataSources.Owner, async (connection, transaction) =>
            {
                await using var command = SystemSql.Command(connection, transaction, "SELECT created_at FROM org_keys WHERE org_id = $1 AND id = $2",
                    orgId, keys.NewestKeyId);
                return (DateTime)(await command.ExecuteScalarAsync(cancellationToken))!;
            }, cancellationToken);
            var wait = new DateTimeOffset(made, TimeSpan.Zero) + 2 * OrgKeyring.Freshness + TimeSpan.FromSeconds(5) - clock.GetUtcNow();
            if (wait > TimeSpan.Zero)
            {
                output.WriteLine($"Waiting {wait.TotalSeconds:0} s for running replicas to read the new key (--no-wait skips this when no app is running).");
                await Task.Delay(wait, clock, cancellationToken);
            }
        }

        // Without the wait (no app running) the new key seals here at once; with it, it is the key every replica now seals with.
        var target = keys.NewestKeyId;
        keys = keys.SealingWith(target);
        var total = await CountAsync($"SELECT count(*) FROM contacts c WHERE c.org_id = $1 AND {NotOn("$2")}", orgId, target, cancellationToken);
        output.WriteLine($"contacts: {total} to move to data key {target}, {batchSize} per batch");
        long moved = 0;
        while (true)
        {
            var batchKeys = keys;
            var count = await SystemSql.RunAsync(dataSources.Owner, async (connection, transaction) =>
            {
                var rows = await ReadContactsAsync(connection, transaction, $"WHERE c.org_id = $2 AND {NotOn("$3")} ORDER BY c.id LIMIT $1 FOR UPDATE",
                    [batchSize, orgId, target], cancellationToken);
                await WriteContactsAsync(connection, transaction, rows, cancellationToken, batchKeys);
                return rows.Count;
            }, cancellationToken);
            if (count == 0) break;
            moved += count;
            output.WriteLine($"  contacts: {moved}/{total} on data key {target}");
        }

        var (secretsMoved, unreadable) = await ResealSecretsAsync(orgId, target, cancellationToken);
        output.WriteLine($"secrets: {secretsMoved} resealed under data key {target}" + (unreadable > 0 ? $", {unreadable} unreadable (see the log)" : ""));
        await SystemSql.RunAsync(dataSources.Owner, async (connection, transaction) =>
        {
            await using var retire = SystemSql.Command(connection, transaction,
                "UPDATE org_keys SET retired_at = $3 WHERE org_id = $1 AND purpose = 'data' AND id < $2 AND retired_at IS NULL", orgId, target, clock.GetUtcNow());
            return await retire.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);
        output.WriteLine($"Done: org {orgId}'s contacts and secrets are under data key {target}; older keys are kept, marked retired.");
        return new ReencryptReport(target, resumed, moved, secretsMoved);
    }

    /// <summary>A contact row (alias c) with PII not (only) under data key <paramref name="keyParameter"/>: sealed under another, or still plaintext.</summary>
    static string NotOn(string keyParameter) =>
        $"""
        ((c.pii_key_id IS DISTINCT FROM {keyParameter} AND (c.email_sealed IS NOT NULL OR c.phone_sealed IS NOT NULL OR c.linkedin_url_sealed IS NOT NULL))
         OR c.unsealed_email IS NOT NULL OR c.unsealed_phone IS NOT NULL OR c.unsealed_linkedin_url IS NOT NULL)
        """;

    sealed record ContactRow(Contact Contact, string? Email, string? Phone, string? LinkedinUrl);

    static async Task<List<ContactRow>> ReadContactsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string where, object[] values,
        CancellationToken cancellationToken)
    {
        var rows = new List<ContactRow>();
        await using var read = SystemSql.Command(connection, transaction, $"""
            SELECT c.id, c.org_id, c.email_sealed, c.phone_sealed, c.linkedin_url_sealed, c.unsealed_email, c.unsealed_phone, c.unsealed_linkedin_url
            FROM contacts c {where}
            """, values);
        await using var reader = await read.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var contact = new Contact
            {
                Id = reader.GetGuid(0), OrgId = reader.GetGuid(1), FirstName = "",
                EmailSealed = reader.IsDBNull(2) ? null : (byte[])reader[2],
                PhoneSealed = reader.IsDBNull(3) ? null : (byte[])reader[3],
                LinkedinUrlSealed = reader.IsDBNull(4) ? null : (byte[])reader[4],
            };
            rows.Add(new ContactRow(contact, reader.IsDBNull(5) ? null : reader.GetString(5), reader.IsDBNull(6) ? null : reader.GetString(6),
                reader.IsDBNull(7) ? null : reader.GetString(7)));
        }
        return rows;
    }

    /// <summary>Opens each row (plaintext still in unsealed_* wins), seals it under its org's current data key, and clears the plaintext.</summary>
    async Task WriteContactsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, List<ContactRow> rows, CancellationToken cancellationToken,
        OrgKeys? keys = null)
    {
        if (rows.Count == 0) return;
        await using var batch = new NpgsqlBatch(connection, transaction);
        foreach (var (contact, email, phone, linkedinUrl) in rows)
        {
            var orgKeys = keys ?? await keyring.ForAsync(contact.OrgId, cancellationToken);
            PiiSealing.Open(contact, orgKeys);
            contact.Email = email ?? contact.Email;
            contact.Phone = phone ?? contact.Phone;
            contact.LinkedinUrl = linkedinUrl ?? contact.LinkedinUrl;
            PiiSealing.Seal(contact, orgKeys);
            batch.BatchCommands.Add(BatchCommand("""
                UPDATE contacts SET email_sealed = $2, email_hash = $3, phone_sealed = $4, linkedin_url_sealed = $5, pii_key_id = $6,
                                    unsealed_email = NULL, unsealed_phone = NULL, unsealed_linkedin_url = NULL
                WHERE id = $1
                """, contact.Id, contact.EmailSealed, contact.EmailHash, contact.PhoneSealed, contact.LinkedinUrlSealed, contact.PiiKeyId));
        }
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Slack bot tokens, Google refresh tokens and TOTP secrets of <paramref name="orgId"/> (all orgs: null) that are sealed before org keys
    /// (version 1), or under another data key than <paramref name="targetKeyId"/>, resealed under their org's current data key.
    /// </summary>
    async Task<(int Resealed, int Unreadable)> ResealSecretsAsync(Guid? orgId, int? targetKeyId, CancellationToken cancellationToken)
    {
        (string Table, string Column, string BoundTo, string Key, string Purpose)[] tables =
        [
            ("slack_installations", "bot_token_encrypted", "team_id", "org_id", SlackWorkspaces.TokenPurpose),
            ("calendar_connections", "refresh_token_encrypted", "user_id::text", "user_id", GoogleCalendarAuth.TokenPurpose),
            ("admin_totp", "secret_encrypted", "user_id::text", "user_id", AdminSecondFactor.Purpose),
        ];
        var (resealed, unreadable) = (0, 0);
        foreach (var (table, column, boundTo, key, purpose) in tables)
        {
            var (done, failed) = await SystemSql.RunAsync(dataSources.Owner, async (connection, transaction) =>
            {
                var rows = new List<(Guid OrgId, string BoundTo, string Key, byte[] Sealed)>();
                // Sealed values only: version 1 (legacy) or 2 (org key) with a full header; the key id of version 2 is bytes 1-4.
                await using (var read = SystemSql.Command(connection, transaction, $"""
                                 SELECT org_id, {boundTo}, {key}::text, {column} FROM {table}
                                 WHERE ($1::uuid IS NULL OR org_id = $1) AND length({column}) >= 29
                                   AND (get_byte({column}, 0) = 1
                                        OR (get_byte({column}, 0) = 2 AND $2::int IS NOT NULL AND length({column}) >= 33
                                            AND (get_byte({column}, 1) << 24 | get_byte({column}, 2) << 16 | get_byte({column}, 3) << 8 | get_byte({column}, 4)) <> $2))
                                 FOR UPDATE
                                 """, orgId, targetKeyId))
                await using (var reader = await read.ExecuteReaderAsync(cancellationToken))
                    while (await reader.ReadAsync(cancellationToken))
                        rows.Add((reader.GetGuid(0), reader.GetString(1), reader.GetString(2), (byte[])reader[3]));
                var (ok, bad) = (0, 0);
                foreach (var row in rows)
                {
                    string plaintext;
                    try
                    {
                        plaintext = SecretBox.IsLegacy(row.Sealed)
                            ? secrets.OpenLegacy(purpose, row.BoundTo, row.Sealed)
                            : await secrets.OpenAsync(row.OrgId, purpose, row.BoundTo, row.Sealed, cancellationToken);
                    }
                    catch (CryptographicException e)
                    {
                        logger.LogWarning("A {Purpose} secret of org {OrgId} cannot be opened to reseal it: {Reason}", purpose, row.OrgId, e.Message);
                        bad++;
                        continue;
                    }
                    await using var update = SystemSql.Command(connection, transaction,
                        $"UPDATE {table} SET {column} = $1 WHERE org_id = $2 AND {key}::text = $3",
                        await secrets.SealAsync(row.OrgId, purpose, row.BoundTo, plaintext, cancellationToken, targetKeyId), row.OrgId, row.Key);
                    await update.ExecuteNonQueryAsync(cancellationToken);
                    ok++;
                }
                return (ok, bad);
            }, cancellationToken);
            resealed += done;
            unreadable += failed;
        }
        return (resealed, unreadable);
    }

    async Task<long> CountAsync(string sql, object first, CancellationToken cancellationToken) => await CountAsync(sql, first, null, cancellationToken);

    async Task<long> CountAsync(string sql, object first, object? second, CancellationToken cancellationToken) =>
        await SystemSql.RunAsync(dataSources.Owner, async (connection, transaction) =>
        {
            await using var command = SystemSql.Command(connection, transaction, sql, second is null ? [first] : [first, second]);
            return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken));
        }, cancellationToken);

    static NpgsqlBatchCommand BatchCommand(string sql, params object?[] values)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var value in values) command.Parameters.Add(new NpgsqlParameter { Value = value ?? DBNull.Value });
        return command;
    }
}

/// <summary>At start, after the migrations: says when the development master key is in use, and seals what is not sealed yet.</summary>
sealed class PiiStartup(PiiMaintenance maintenance, MasterKeys masters, ILogger<PiiStartup> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (masters.IsDevelopmentKey)
            logger.LogWarning("USE60_MASTER_KEY is not set: contact PII and secrets are sealed under the public development key, which protects " +
                              "nothing ({HowTo}; scripts/dev.sh does). Production refuses to start without a real key.", MasterKeyOptions.HowToMakeOne);
        try
        {
            var report = await maintenance.SealPassAsync(cancellationToken);
            if (report.Contacts + report.Events + report.Secrets > 0)
                logger.LogInformation("Sealed what was stored before PII encryption: {Contacts} contacts, {Events} calendar events, {Secrets} secrets",
                    report.Contacts, report.Events, report.Secrets);
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UndefinedTable or PostgresErrorCodes.UndefinedColumn)
        {
            logger.LogWarning("The database is not migrated to PII encryption yet (0021): nothing sealed at start. Run migrate, then restart.");
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
