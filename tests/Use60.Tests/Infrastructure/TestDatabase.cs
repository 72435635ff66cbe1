using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using Use60.Data;

namespace Use60.Tests.Infrastructure;

/// <summary>
/// A fresh database on the throwaway cluster that scripts/test.sh starts, owned by use60_owner and used by
/// the app as use60_app, exactly as in production. Dropped when disposed.
/// </summary>
public sealed class TestDatabase : IAsyncDisposable
{
    public string Name { get; }
    public string AppConnectionString { get; }
    public string OwnerConnectionString { get; }

    TestDatabase(string name)
    {
        Name = name;
        AppConnectionString = $"{Env("USE60_TEST_PG_APP")};Database={name}";
        OwnerConnectionString = $"{Env("USE60_TEST_PG_OWNER")};Database={name}";
    }

    public static async Task<TestDatabase> CreateAsync(bool migrate = true)
    {
        var database = new TestDatabase("t_" + Guid.NewGuid().ToString("N")[..16]);
        await using (var connection = new NpgsqlConnection(Env("USE60_TEST_PG_SUPERUSER")))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {database.Name} OWNER use60_owner", connection);
            await create.ExecuteNonQueryAsync();
        }
        if (migrate) await database.MigrateAsync();
        return database;
    }

    public DatabaseOptions Options => new() { Url = AppConnectionString, OwnerUrl = OwnerConnectionString };

    /// <summary>The app's own migrator, run as the owner, as at start-up.</summary>
    public async Task<Migrator.Report> MigrateAsync()
    {
        await using var sources = new Use60DataSources(Microsoft.Extensions.Options.Options.Create(Options));
        return await new Migrator(sources, Microsoft.Extensions.Options.Options.Create(Options), NullLogger<Migrator>.Instance)
            .MigrateAsync(CancellationToken.None);
    }

    /// <summary>Runs SQL as the given role (connection string), outside the app: for probing what the database itself allows.</summary>
    public static async Task<T?> ScalarAsync<T>(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        var value = await command.ExecuteScalarAsync();
        return value is DBNull or null ? default : (T)value;
    }

    public static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    public string SuperuserConnectionString => new NpgsqlConnectionStringBuilder(Env("USE60_TEST_PG_SUPERUSER")) { Database = Name }.ConnectionString;

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await using var connection = new NpgsqlConnection(Env("USE60_TEST_PG_SUPERUSER"));
        await connection.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {Name} WITH (FORCE)", connection);
        await drop.ExecuteNonQueryAsync();
    }

    public static string Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } value
        ? value
        : throw new InvalidOperationException(
            $"{name} is not set. Run the tests with scripts/test.sh: it starts the throwaway PostgreSQL they need.");
}
