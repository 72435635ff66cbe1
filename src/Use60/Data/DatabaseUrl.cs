using Npgsql;

namespace Use60.Data;

/// <summary>
/// Reads DATABASE_URL in either form hosts hand out: <c>postgres://user:pass@host:port/db?sslmode=require</c>
/// or an Npgsql connection string (<c>Host=...;Username=...</c>).
/// </summary>
public static class DatabaseUrl
{
    public const string Example = "postgres://use60_app:PASSWORD@127.0.0.1:5432/use60";

    public static bool TryParse(string? value, out NpgsqlConnectionStringBuilder builder, out string error)
    {
        builder = new NpgsqlConnectionStringBuilder();
        error = "";
        if (string.IsNullOrWhiteSpace(value))
        {
            error = "is empty";
            return false;
        }
        value = value.Trim();
        if (value.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) ||
            value.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase))
            return TryParseUrl(value, builder, out error);

        try
        {
            builder.ConnectionString = value;
        }
        catch (Exception e) when (e is ArgumentException or KeyNotFoundException or FormatException or InvalidCastException)
        {
            // The exception text can quote the value, password included: say what is wrong without it.
            error = "is neither a postgres:// URL nor a valid Npgsql connection string";
            return false;
        }
        if (string.IsNullOrEmpty(builder.Host))
        {
            error = "has no Host";
            return false;
        }
        return true;
    }

    static bool TryParseUrl(string value, NpgsqlConnectionStringBuilder builder, out string error)
    {
        error = "";
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
        {
            error = "is not a valid URL (expected postgres://user:password@host:port/database)";
            return false;
        }
        builder.Host = uri.Host.Trim('[', ']');
        builder.Port = uri.Port > 0 ? uri.Port : 5432;
        var database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        if (database.Length == 0)
        {
            error = "names no database (expected postgres://user:password@host:port/database)";
            return false;
        }
        builder.Database = database;
        var userInfo = uri.UserInfo.Split(':', 2);
        if (userInfo[0].Length > 0) builder.Username = Uri.UnescapeDataString(userInfo[0]);
        if (userInfo.Length == 2) builder.Password = Uri.UnescapeDataString(userInfo[1]);

        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = pair.Split('=', 2);
            var key = Uri.UnescapeDataString(parts[0]);
            var setting = parts.Length == 2 ? Uri.UnescapeDataString(parts[1]) : "";
            try
            {
                switch (key.ToLowerInvariant())
                {
                    case "sslmode":
                        builder.SslMode = Enum.Parse<SslMode>(setting.Replace("-", ""), ignoreCase: true);
                        break;
                    case "application_name":
                        builder.ApplicationName = setting;
                        break;
                    default:
                        builder[key] = setting; // any Npgsql keyword, e.g. Pooling=false, Timeout=5
                        break;
                }
            }
            catch (Exception e) when (e is ArgumentException or KeyNotFoundException or FormatException or InvalidCastException)
            {
                error = $"has a query parameter '{key}' that PostgreSQL clients do not understand";
                return false;
            }
        }
        return true;
    }

    /// <summary>The password inside a database URL or connection string, so logs can redact it on its own.</summary>
    public static bool TryGetPassword(string value, out string password)
    {
        password = "";
        if (!TryParse(value, out var builder, out _) || string.IsNullOrEmpty(builder.Password)) return false;
        password = builder.Password;
        return true;
    }
}
