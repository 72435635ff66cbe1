using Npgsql;
using Use60.Hosting;

namespace Use60.Data;

[ConfigSection("Database")]
public sealed class DatabaseOptions : IValidatedOptions
{
    [EnvironmentVariable("DATABASE_URL",
        "PostgreSQL connection the app runs as: a login role that is neither superuser, BYPASSRLS nor the tables' owner, " +
        "so row-level security applies to it. A postgres://user:password@host:port/db URL or an Npgsql connection string.",
        Secret = true)]
    public string? Url { get; set; }

    [EnvironmentVariable("DATABASE_OWNER_URL",
        "PostgreSQL connection of the role that owns the schema: applies migrations and runs the few cross-tenant " +
        "system operations (sign-in links, seeding). The same database as DATABASE_URL, as a different role.",
        Secret = true)]
    public string? OwnerUrl { get; set; }

    /// <summary>Apply pending migrations when the app starts (replicas take turns through an advisory lock).</summary>
    public bool ApplyMigrationsOnStart { get; set; } = true;

    /// <summary>How long start-up waits for PostgreSQL to accept connections before giving up.</summary>
    public int StartupTimeoutSeconds { get; set; } = 30;

    public NpgsqlConnectionStringBuilder AppConnection() => Parse(Url);

    public NpgsqlConnectionStringBuilder OwnerConnection() => Parse(OwnerUrl);

    static NpgsqlConnectionStringBuilder Parse(string? value) =>
        DatabaseUrl.TryParse(value, out var builder, out _) ? builder
            : throw new InvalidOperationException("the database URL was not validated at start");

    public IEnumerable<string> Validate()
    {
        var app = Check(Url, nameof(Url), "postgres://use60_app:PASSWORD@127.0.0.1:5432/use60");
        var owner = Check(OwnerUrl, nameof(OwnerUrl), "postgres://use60_owner:PASSWORD@127.0.0.1:5432/use60");
        foreach (var problem in new[] { app.Problem, owner.Problem }.OfType<string>()) yield return problem;
        if (app.Builder is { } a && owner.Builder is { } o)
        {
            if (string.Equals(a.Username, o.Username, StringComparison.Ordinal))
                yield return $"DATABASE_URL and DATABASE_OWNER_URL both log in as '{a.Username}'. The app must run as its own role " +
                             "that does not own the tables, or row-level security would not bind it (see README, \"Database roles\").";
        }
        if (StartupTimeoutSeconds is < 1 or > 600)
            yield return "Database__StartupTimeoutSeconds must be between 1 and 600.";
    }

    static (NpgsqlConnectionStringBuilder? Builder, string? Problem) Check(string? value, string property, string example)
    {
        var name = ValidatedOptions.NameOf<DatabaseOptions>(property);
        if (string.IsNullOrWhiteSpace(value))
            return (null, $"{name} is not set. Set it to a PostgreSQL URL like {example} or an Npgsql connection string " +
                          "(scripts/dev.sh sets it for a local database).");
        if (!DatabaseUrl.TryParse(value, out var builder, out var error))
            return (null, $"{name} {error}. Expected a URL like {example} or a connection string like Host=127.0.0.1;Port=5432;Database=use60;Username=...;Password=...");
        if (string.IsNullOrEmpty(builder.Username))
            return (null, $"{name} names no user. Expected a URL like {example}.");
        return (builder, null);
    }
}
