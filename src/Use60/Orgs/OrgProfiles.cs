using Microsoft.EntityFrameworkCore;
using Use60.Data;
using Use60.Security;

namespace Use60.Orgs;

/// <summary>
/// Changes to the org profile, in the admin's own tenant scope: each one saved with a new append-only revision and an audit
/// entry holding the profile before and after, in one transaction.
/// </summary>
public sealed class OrgProfiles(Use60Db db, SecurityAudit audit, TimeProvider clock)
{
    public sealed record Revision(int Number, string Profile, Guid? ChangedBy, DateTimeOffset ChangedAt, int? RestoredFrom);

    /// <summary>Saves <paramref name="profile"/> as the org's; false when it is what is there already (nothing saved).</summary>
    public async Task<bool> SaveAsync(OrgProfile profile, Guid changedBy, HttpContext? http, CancellationToken cancellationToken, int? restoredFrom = null)
    {
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        // One change of the org's profile at a time, until commit: two saves at once would both take the same next revision number.
        await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock(hashtextextended({"org_profile:" + profile.OrgId}, 0))", cancellationToken);
        var current = await db.OrgProfiles.SingleOrDefaultAsync(p => p.OrgId == profile.OrgId, cancellationToken);
        var before = OrgProfileForm.Snapshot(current);
        var after = OrgProfileForm.Snapshot(profile);
        if (before == after) return false;
        if (current is null) db.OrgProfiles.Add(profile);
        else
        {
            (current.CompanyName, current.Products, current.Competitors) = (profile.CompanyName, profile.Products, profile.Competitors);
            (current.PainPoints, current.ValuePropositions, current.BrandVoice) = (profile.PainPoints, profile.ValuePropositions, profile.BrandVoice);
        }
        var now = clock.GetUtcNow();
        await db.Database.ExecuteSqlAsync($"""
            INSERT INTO org_profile_revisions (org_id, revision, profile, changed_by, changed_at, restored_from)
            SELECT {profile.OrgId}, coalesce(max(revision), 0) + 1, {after}::jsonb, {changedBy}, {now}, {restoredFrom}
            FROM org_profile_revisions WHERE org_id = {profile.OrgId}
            """, cancellationToken);
        audit.Record(db, restoredFrom is null ? AuditEvents.SettingsChanged : AuditEvents.ProfileRestored, AuditSeverity.Low, profile.OrgId, changedBy,
            new { section = "profile", restored_from = restoredFrom, before = Parse(before), after = Parse(after) }, http);
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    public async Task<IReadOnlyList<Revision>> HistoryAsync(CancellationToken cancellationToken) =>
        await db.Database.SqlQuery<Revision>($"""
            SELECT revision AS "Number", profile::text AS "Profile", changed_by AS "ChangedBy", changed_at AS "ChangedAt", restored_from AS "RestoredFrom"
            FROM org_profile_revisions ORDER BY revision DESC
            """).ToListAsync(cancellationToken);

    static System.Text.Json.JsonElement? Parse(string json) =>
        System.Text.Json.JsonSerializer.Deserialize<System.Text.Json.JsonElement?>(json);
}
