using System.Data.Common;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Npgsql;

namespace Use60.Data;

/// <summary>
/// Whose data this scope works with. It reaches PostgreSQL as the settings app.org_id and app.user_id, which
/// the row-level security policies read. A scope (a request, a Slack event, one rep's share of a job) enters
/// one tenant once; work for another tenant takes a new scope. An empty context sees no tenant rows at all.
/// </summary>
public sealed class TenantContext
{
    public Guid? OrgId { get; private set; }
    public Guid? UserId { get; private set; }

    /// <summary>The narrow cross-tenant path (<see cref="SystemDb"/>); only the schema owner's connections use it.</summary>
    public bool IsSystem { get; private init; }

    public static TenantContext System { get; } = new() { IsSystem = true };

    public bool IsSet => OrgId is not null;

    public TenantContext Enter(Guid orgId, Guid userId)
    {
        if (IsSystem) throw new InvalidOperationException("The system context cannot enter a tenant.");
        if (OrgId is { } org && (org != orgId || UserId != userId))
            throw new InvalidOperationException("This scope already works for another tenant; create a new scope for each tenant.");
        OrgId = orgId;
        UserId = userId;
        return this;
    }

    public override string ToString() => IsSystem ? "system" : IsSet ? $"org {OrgId} user {UserId}" : "no tenant";
}

/// <summary>
/// Hands the tenant to PostgreSQL every time a connection is opened, overwriting whatever a pooled connection
/// carried before, so one tenant's settings can never leak into the next request through the pool.
/// </summary>
sealed class TenantSessionInterceptor : DbConnectionInterceptor
{
    public static readonly TenantSessionInterceptor Instance = new();

    public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData)
    {
        using var command = CreateCommand(connection, eventData);
        command.ExecuteNonQuery();
    }

    public override async Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        await using var command = CreateCommand(connection, eventData);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    static DbCommand CreateCommand(DbConnection connection, ConnectionEndEventData eventData)
    {
        var tenant = (eventData.Context as Use60Db)?.Tenant
                     ?? throw new InvalidOperationException("TenantSessionInterceptor is for Use60Db only.");
        var command = connection.CreateCommand();
        command.CommandText = TenantSession.Sql;
        foreach (var value in TenantSession.Values(tenant))
        {
            var parameter = command.CreateParameter();
            parameter.Value = value;
            command.Parameters.Add(parameter);
        }
        return command;
    }
}

/// <summary>The statement that puts a tenant on a session: run when EF opens a connection, or first in a <see cref="DbBatch"/> that opens one.</summary>
static class TenantSession
{
    public const string Sql = "SELECT set_config('app.org_id', $1, false), set_config('app.user_id', $2, false), set_config('app.system', $3, false)";

    public static string[] Values(TenantContext tenant) =>
        [tenant.OrgId?.ToString() ?? "", tenant.UserId?.ToString() ?? "", tenant.IsSystem ? "on" : ""];

    public static NpgsqlBatchCommand BatchCommand(TenantContext tenant)
    {
        var command = new NpgsqlBatchCommand(Sql);
        foreach (var value in Values(tenant)) command.Parameters.Add(new NpgsqlParameter { Value = value });
        return command;
    }
}

public static class TenantScopes
{
    /// <summary>A new service scope whose database work runs as one rep: what a job does for each rep it found due.</summary>
    public static AsyncServiceScope CreateTenantScope(this IServiceScopeFactory scopes, Guid orgId, Guid userId)
    {
        var scope = scopes.CreateAsyncScope();
        scope.ServiceProvider.GetRequiredService<TenantContext>().Enter(orgId, userId);
        return scope;
    }
}
