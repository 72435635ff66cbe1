using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.Repositories;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Npgsql;
using Use60.Hosting;

namespace Use60.Data;

public static class DataFeature
{
    public static IServiceCollection AddData(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddValidatedOptions<DatabaseOptions>(configuration);
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<Use60DataSources>();
        services.AddScoped<TenantContext>();
        services.AddDbContext<Use60Db>((sp, db) => Use60DataSources.Configure(db, sp.GetRequiredService<Use60DataSources>().App),
            contextLifetime: ServiceLifetime.Scoped, optionsLifetime: ServiceLifetime.Singleton);
        services.AddSingleton<SystemDb>();
        services.AddSingleton<Migrator>();
        services.AddHostedService<DatabaseStartup>();
        services.AddHealthChecks().AddCheck<DatabaseReadinessCheck>("database", tags: [Health.ReadyTag]);
        services.AddCommand<MigrateCommand>();

        // Cookies and antiforgery tokens must be readable by every replica: the keys live in the database.
        services.AddDataProtection().SetApplicationName("use60");
        services.AddSingleton<IConfigureOptions<KeyManagementOptions>>(sp =>
            new ConfigureOptions<KeyManagementOptions>(o => o.XmlRepository = new DatabaseXmlRepository(sp.GetRequiredService<Use60DataSources>())));
        return services;
    }
}

/// <summary>The two PostgreSQL roles: the app's own (row-level security binds it) and the schema owner's.</summary>
public sealed class Use60DataSources(IOptions<DatabaseOptions> options) : IAsyncDisposable
{
    readonly Lazy<NpgsqlDataSource> app = new(() => Build(PreparingRepeats(options.Value.AppConnection()), "use60"));
    readonly Lazy<NpgsqlDataSource> owner = new(() => Build(options.Value.OwnerConnection(), "use60-owner"));
    readonly Lazy<NpgsqlDataSource> jobs = new(() => Build(options.Value.AppConnection(), "use60-jobs"));

    public NpgsqlDataSource App => app.Value;

    /// <summary>The scheduler's own pool (same role as <see cref="App"/>): Quartz's connections never carry a tenant's settings.</summary>
    public NpgsqlDataSource Jobs => jobs.Value;

    /// <summary>Migrations and <see cref="SystemDb"/> only.</summary>
    public NpgsqlDataSource Owner => owner.Value;

    /// <summary>host:port/database of DATABASE_URL, for messages (never the credentials).</summary>
    public string Describe()
    {
        var connection = options.Value.AppConnection();
        return $"{connection.Host}:{connection.Port}/{connection.Database}";
    }

    static NpgsqlDataSource Build(NpgsqlConnectionStringBuilder connection, string applicationName)
    {
        connection.ApplicationName ??= applicationName;
        return new NpgsqlDataSourceBuilder(connection.ConnectionString).Build();
    }

    /// <summary>
    /// The app's own statements come again and again (each rep's share of a job): prepared on a connection after their second
    /// use, PostgreSQL stops planning them every time. "Max Auto Prepare" in the URL wins (0 turns this off).
    /// </summary>
    static NpgsqlConnectionStringBuilder PreparingRepeats(NpgsqlConnectionStringBuilder connection)
    {
        if (!connection.Keys.Cast<string>().Contains("Max Auto Prepare"))
        {
            connection.MaxAutoPrepare = 64;
            connection.AutoPrepareMinUsages = 2;
        }
        return connection;
    }

    /// <summary>
    /// Every Use60Db: the tenant reaches PostgreSQL on each connection; on save, contacts are validated on their plaintext, card numbers
    /// are removed, and then contacts' PII is sealed (<see cref="Privacy.PiiSealing"/>, which also opens it on read). Save interceptors
    /// run in the order added.
    /// </summary>
    public static void Configure(DbContextOptionsBuilder db, NpgsqlDataSource dataSource) =>
        db.UseNpgsql(dataSource).AddInterceptors(TenantSessionInterceptor.Instance, Privacy.ContactValidation.Instance,
            Privacy.CardNumberRedactionInterceptor.Instance, Privacy.PiiSealing.Instance);

    public async ValueTask DisposeAsync()
    {
        if (app.IsValueCreated) await app.Value.DisposeAsync();
        if (owner.IsValueCreated) await owner.Value.DisposeAsync();
        if (jobs.IsValueCreated) await jobs.Value.DisposeAsync();
    }
}

/// <summary>
/// The one narrow path across tenants: the schema owner's connection with app.system on. Used for what no
/// tenant can do for itself (turning a sign-in link into a session, creating an org, finding whose
/// scheduled message is due); each caller names its purpose, and then does per-user work in that user's
/// own tenant scope.
/// </summary>
public sealed class SystemDb(Use60DataSources dataSources, Privacy.OrgKeyring keyring, TimeProvider clock, ILogger<SystemDb> logger)
{
    readonly Lazy<DbContextOptions<Use60Db>> options = new(() =>
    {
        var builder = new DbContextOptionsBuilder<Use60Db>();
        Use60DataSources.Configure(builder, dataSources.Owner);
        return builder.Options;
    });

    public Use60Db Open(string purpose)
    {
        logger.LogDebug("Cross-tenant database access: {Purpose}", purpose);
        return new Use60Db(options.Value, TenantContext.System, clock, keyring);
    }
}

/// <summary>Start-up: wait for PostgreSQL, apply migrations, and refuse to run as a role that row-level security would not bind.</summary>
sealed class DatabaseStartup(Use60DataSources dataSources, Migrator migrator, IOptions<DatabaseOptions> options,
    TimeProvider clock, ILogger<DatabaseStartup> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await WaitForDatabaseAsync(cancellationToken);
        if (options.Value.ApplyMigrationsOnStart) await migrator.MigrateAsync(cancellationToken);
        await AppRoleGuard.CheckAsync(dataSources.App, cancellationToken);
    }

    async Task WaitForDatabaseAsync(CancellationToken cancellationToken)
    {
        var deadline = clock.GetUtcNow().AddSeconds(options.Value.StartupTimeoutSeconds);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var connection = await dataSources.App.OpenConnectionAsync(cancellationToken);
                return;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException && clock.GetUtcNow() < deadline)
            {
                if (attempt == 1) logger.LogWarning("Waiting for PostgreSQL at {Database}: {Reason}", dataSources.Describe(), e.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), clock, cancellationToken);
            }
            catch (NpgsqlException e)
            {
                throw new StartupException($"Cannot reach PostgreSQL at {dataSources.Describe()} as DATABASE_URL's role: {e.Message}. " +
                                           "Check that it is running and that DATABASE_URL is right (scripts/dev.sh starts a local one).", e);
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

static class AppRoleGuard
{
    /// <summary>A superuser, a BYPASSRLS role or the tables' owner would see every tenant's rows: refuse to run as one.</summary>
    public static async Task CheckAsync(NpgsqlDataSource app, CancellationToken cancellationToken)
    {
        await using var command = app.CreateCommand("""
            SELECT current_user, r.rolsuper, r.rolbypassrls,
                   EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND pg_has_role(current_user, c.relowner, 'USAGE'))
            FROM pg_roles r WHERE r.rolname = current_user
            """);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var (role, superuser, bypass, owner) = (reader.GetString(0), reader.GetBoolean(1), reader.GetBoolean(2), reader.GetBoolean(3));
        var why = superuser ? "is a superuser" : bypass ? "has BYPASSRLS" : owner ? "owns the tables (or is a member of their owner)" : null;
        if (why is not null)
            throw new StartupException($"DATABASE_URL connects as '{role}', which {why}: row-level security would not keep tenants apart. " +
                                       "Point DATABASE_URL at a plain login role and DATABASE_OWNER_URL at the owner (see README, \"Database roles\").");
    }
}

sealed class DatabaseReadinessCheck(Use60DataSources dataSources) : IHealthCheck
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        try
        {
            await using var command = dataSources.App.CreateCommand("SELECT coalesce(max(version), 0) FROM schema_migrations");
            var version = Convert.ToInt32(await command.ExecuteScalarAsync(timeout.Token));
            return version >= Migrator.LatestVersion
                ? HealthCheckResult.Healthy($"reachable, migrated to {version:0000}")
                : HealthCheckResult.Unhealthy($"reachable, but migrations are pending (at {version:0000}, this build needs {Migrator.LatestVersion:0000})");
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return HealthCheckResult.Unhealthy("reachable, but no migrations have been applied");
        }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy("unreachable");
        }
    }
}

/// <summary>Stores ASP.NET Core's data-protection key ring in PostgreSQL, shared by all replicas.</summary>
sealed class DatabaseXmlRepository(Use60DataSources dataSources) : IXmlRepository
{
    public IReadOnlyCollection<XElement> GetAllElements()
    {
        using var command = dataSources.App.CreateCommand("SELECT xml FROM data_protection_keys ORDER BY id");
        using var reader = command.ExecuteReader();
        var elements = new List<XElement>();
        while (reader.Read()) elements.Add(XElement.Parse(reader.GetString(0)));
        return elements;
    }

    public void StoreElement(XElement element, string friendlyName)
    {
        using var command = dataSources.App.CreateCommand("INSERT INTO data_protection_keys (friendly_name, xml) VALUES ($1, $2)");
        command.Parameters.Add(new NpgsqlParameter { Value = friendlyName });
        command.Parameters.Add(new NpgsqlParameter { Value = element.ToString(SaveOptions.DisableFormatting) });
        command.ExecuteNonQuery();
    }
}

sealed class MigrateCommand(Migrator migrator) : ICommand
{
    public string Name => "migrate";
    public string Usage => "migrate";
    public string Summary => "apply pending database migrations (as DATABASE_OWNER_URL) and exit";

    public async Task<int> RunAsync(CommandContext context)
    {
        var report = await migrator.MigrateAsync(context.CancellationToken);
        context.Out.WriteLine(report.Applied.Count == 0
            ? $"Database is up to date ({report.AlreadyApplied} migrations applied earlier)."
            : $"Applied {report.Applied.Count} migration(s): {string.Join(", ", report.Applied.Select(m => $"{m.Version:0000}_{m.Name}"))}.");
        return 0;
    }
}
