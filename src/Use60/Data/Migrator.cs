using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Use60.Data;

/// <summary>
/// Applies the numbered SQL files in Data/Migrations as the owner role, each once, in order, each in its own
/// transaction, recorded in schema_migrations with a checksum. Replicas starting together take turns through
/// a PostgreSQL advisory lock, so a migration is never applied twice or half-way. After every run the app
/// role's grants (grants.sql) are re-applied.
/// </summary>
public sealed partial class Migrator(Use60DataSources dataSources, IOptions<DatabaseOptions> options, ILogger<Migrator> logger)
{
    /// <summary>Arbitrary but fixed: every replica of every version must agree on it.</summary>
    const long AdvisoryLockKey = 0x75_73_65_36_30_6d_69_67; // "use60mig"

    public sealed record Migration(int Version, string Name, string Sql, string Checksum);

    public sealed record Report(int AlreadyApplied, IReadOnlyList<Migration> Applied);

    public static IReadOnlyList<Migration> All { get; } = Load();

    public static int LatestVersion => All[^1].Version;

    public async Task<Report> MigrateAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSources.Owner.OpenConnectionAsync(cancellationToken);
        logger.LogInformation("Checking database migrations (another replica may be applying them; this waits its turn)");
        await ExecuteAsync(connection, $"SELECT pg_advisory_lock({AdvisoryLockKey})", cancellationToken);
        try
        {
            await ExecuteAsync(connection, """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version    integer PRIMARY KEY,
                    name       text NOT NULL,
                    checksum   text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now())
                """, cancellationToken);
            var applied = await ReadAppliedAsync(connection, cancellationToken);
            CheckHistory(applied);

            var pending = All.Where(m => !applied.ContainsKey(m.Version)).ToList();
            foreach (var migration in pending)
            {
                logger.LogInformation("Applying migration {Version:0000} {Name}", migration.Version, migration.Name);
                await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
                await ExecuteAsync(connection, migration.Sql, cancellationToken);
                await using (var record = new NpgsqlCommand(
                                 "INSERT INTO schema_migrations (version, name, checksum) VALUES (@version, @name, @checksum)", connection))
                {
                    record.Parameters.AddWithValue("version", migration.Version);
                    record.Parameters.AddWithValue("name", migration.Name);
                    record.Parameters.AddWithValue("checksum", migration.Checksum);
                    await record.ExecuteNonQueryAsync(cancellationToken);
                }
                await transaction.CommitAsync(cancellationToken);
            }

            await GrantAppRoleAsync(connection, cancellationToken);
            logger.LogInformation(pending.Count == 0
                ? "Database schema is up to date at migration {Latest:0000}"
                : "Database schema migrated to {Latest:0000}", LatestVersion);
            return new Report(applied.Count, pending);
        }
        finally
        {
            await ExecuteAsync(connection, $"SELECT pg_advisory_unlock({AdvisoryLockKey})", CancellationToken.None);
        }
    }

    void CheckHistory(Dictionary<int, (string Name, string Checksum)> applied)
    {
        foreach (var migration in All)
            if (applied.TryGetValue(migration.Version, out var recorded) && recorded.Checksum != migration.Checksum)
                throw new StartupException(
                    $"Migration {migration.Version:0000} {migration.Name} was changed after it was applied to this database " +
                    $"(recorded checksum {recorded.Checksum[..12]}, file {migration.Checksum[..12]}). Applied migrations are history: " +
                    "put the change in a new numbered migration instead.");
        var unknown = applied.Keys.Where(v => v > LatestVersion).Order().ToList();
        if (unknown.Count > 0)
            logger.LogWarning("The database has migrations this build does not know ({Versions}): a newer version of use60 " +
                              "has migrated it. Running anyway, as during a rolling deployment.", string.Join(", ", unknown));
    }

    async Task GrantAppRoleAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var appRole = options.Value.AppConnection().Username!;
        await using var quote = new NpgsqlCommand("SELECT quote_ident(rolname) FROM pg_roles WHERE rolname = @role", connection);
        quote.Parameters.AddWithValue("role", appRole);
        if (await quote.ExecuteScalarAsync(cancellationToken) is not string quoted)
            throw new StartupException($"DATABASE_URL logs in as '{appRole}', but no such role exists in this database cluster. " +
                                       "Create it (see README, \"Database roles\") or fix the URL.");
        await ExecuteAsync(connection, GrantsSql.Replace("{app_role}", quoted), cancellationToken);
    }

    static async Task<Dictionary<int, (string Name, string Checksum)>> ReadAppliedAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var applied = new Dictionary<int, (string, string)>();
        await using var command = new NpgsqlCommand("SELECT version, name, checksum FROM schema_migrations", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) applied[reader.GetInt32(0)] = (reader.GetString(1), reader.GetString(2));
        return applied;
    }

    static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    static string GrantsSql => ReadResource("grants.sql");

    static IReadOnlyList<Migration> Load()
    {
        var migrations = new List<Migration>();
        foreach (var resource in typeof(Migrator).Assembly.GetManifestResourceNames())
        {
            var match = MigrationFile().Match(resource);
            if (!match.Success) continue;
            var sql = ReadResource(match.Value);
            var checksum = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sql)));
            migrations.Add(new Migration(int.Parse(match.Groups["version"].Value), match.Groups["name"].Value, sql, checksum));
        }
        migrations.Sort((a, b) => a.Version.CompareTo(b.Version));
        var duplicate = migrations.GroupBy(m => m.Version).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new InvalidOperationException($"Two migrations are numbered {duplicate.Key:0000}.");
        return migrations;
    }

    static string ReadResource(string fileName)
    {
        var name = typeof(Migrator).Assembly.GetManifestResourceNames().Single(n => n.EndsWith("." + fileName, StringComparison.Ordinal));
        using var stream = typeof(Migrator).Assembly.GetManifestResourceStream(name)!;
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd().Replace("\r\n", "\n");
    }

    [GeneratedRegex(@"(?<version>\d{4})_(?<name>[a-z0-9_]+)\.sql$")]
    private static partial Regex MigrationFile();
}

/// <summary>A problem that stops the app from starting, explained for the person running it (no stack trace).</summary>
public sealed class StartupException(string message, Exception? inner = null) : Exception(message, inner);
