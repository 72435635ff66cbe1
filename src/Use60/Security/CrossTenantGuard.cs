using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using Use60.Data;
using Use60.Orgs;

namespace Use60.Security;

/// <summary>
/// A signed Slack interaction comes from a workspace we know, but what its buttons carry (a pending action's id, a deal's, a task's, a
/// user's) was written by whoever built the payload. Row-level security already hides another org's rows from the handler; this says so
/// out loud: an interaction naming any row of another org is refused before its handler runs and written to the security audit log.
/// </summary>
public sealed partial class CrossTenantGuard(SystemDb system, SecurityAudit audit, ILogger<CrossTenantGuard> logger)
{
    [GeneratedRegex("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")]
    private static partial Regex GuidPattern();

    /// <summary>More ids than any message of ours carries is not a click: only the first ones are looked up.</summary>
    const int MaxIds = 200;

    string? lookup;

    /// <summary>True (and audited) when <paramref name="payload"/> names a row that belongs to an org other than <paramref name="orgId"/>.</summary>
    public async Task<bool> NamesAnotherOrgAsync(Guid orgId, Guid userId, string what, JsonObject payload, CancellationToken cancellationToken)
    {
        var ids = GuidPattern().Matches(payload.ToJsonString()).Select(m => Guid.TryParse(m.Value, out var id) ? id : Guid.Empty)
            .Where(id => id != Guid.Empty && id != orgId).Distinct().Take(MaxIds).ToArray();
        if (ids.Length == 0) return false;
        await using var db = system.Open("look for another org's ids in a Slack interaction");
        var tables = await db.Database.SqlQueryRaw<string>(lookup ??= Lookup(db),
            new NpgsqlParameter("ids", ids), new NpgsqlParameter("org", orgId)).ToListAsync(cancellationToken);
        if (tables.Count == 0) return false;
        logger.LogWarning("A Slack {What} from org {OrgId} named rows of another org ({Tables}); refused", what, orgId, string.Join(", ", tables));
        audit.Record(db, AuditEvents.CrossTenantReference, AuditSeverity.High, orgId, userId, new { what, tables = tables.Distinct().Order() });
        await db.SaveChangesAsync(CancellationToken.None);
        return true;
    }

    /// <summary>One query over every tenant table keyed by a uuid id (from the model, so a new table is covered), and the orgs themselves.</summary>
    static string Lookup(Use60Db db)
    {
        var parts = new List<string> { "SELECT 'orgs' AS \"Value\" FROM orgs WHERE id = ANY(@ids) AND id <> @org" };
        foreach (var entity in db.Model.GetEntityTypes())
        {
            if (entity.GetTableName() is not { } table || entity.ClrType == typeof(Org)) continue;
            if (entity.FindPrimaryKey()?.Properties is not [{ ClrType: var keyType } key] || keyType != typeof(Guid)) continue;
            if (entity.FindProperty("OrgId") is not { } org) continue;
            parts.Add($"SELECT '{table}' FROM \"{table}\" WHERE \"{key.GetColumnName()}\" = ANY(@ids) AND \"{org.GetColumnName()}\" <> @org");
        }
        return string.Join(" UNION ALL ", parts);
    }
}
