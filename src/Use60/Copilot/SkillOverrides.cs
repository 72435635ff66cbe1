using System.Text;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Use60.Data;
using Use60.Security;

namespace Use60.Copilot;

/// <summary>
/// The org's own versions of skills and sequences, changed by owners and admins in their own tenant scope. Each change — a save, a
/// revert to the built-in, a restore — upserts or deletes the override, appends an append-only revision and writes an audit entry
/// with the document before and after, in one transaction.
/// </summary>
public sealed partial class SkillOverrides(Use60Db db, SecurityAudit audit, TimeProvider clock)
{
    /// <summary>The most a skill document may hold, in UTF-8 bytes: the copilot reads the whole of it on each use.</summary>
    public const int MaxDocumentBytes = 64 * 1024;

    /// <summary>One revision of a skill; <see cref="Document"/> null means the override was removed (the built-in, if any, applies).</summary>
    public sealed record Revision(int Number, string? Document, Guid? ChangedBy, DateTimeOffset ChangedAt, int? RestoredFrom);

    public enum Outcome { Saved, Unchanged, Conflict }

    /// <summary>What is wrong with <paramref name="key"/> as a skill key (the rule of <c>skill_overrides.skill_key</c>); null when nothing.</summary>
    public static string? KeyProblem(string? key) => key is not null && KeyRule().IsMatch(key)
        ? null
        : "A key is 2 to 80 lowercase letters, digits and hyphens, starting with a letter or digit, such as house-follow-up.";

    /// <summary>What stops <paramref name="document"/> from being saved as the skill <paramref name="key"/>, in words for the admin; null when nothing.</summary>
    public static string? DocumentProblem(string key, string? document)
    {
        document ??= "";   // a form posted without the field
        var bytes = Encoding.UTF8.GetByteCount(document);
        if (bytes > MaxDocumentBytes)
            return $"The document is {bytes / 1024.0:0.#} KB; a skill can be at most {MaxDocumentBytes / 1024} KB. Shorten it, or split it into two skills.";
        SkillDocument skill;
        try
        {
            skill = SkillCatalog.Parse(document, SkillCatalog.OrgSource);
        }
        catch (SkillFormatException e)
        {
            return e.Message;
        }
        if (skill.Key != key)
            return $"The front matter says key: {skill.Key}, but this page is the skill {key}. Keep 'key: {key}' here; to make another skill, start a new one from the Skills page.";
        if (skill.Steps.FirstOrDefault(s => !CopilotActions.Names.Contains(s.Action)) is { } unknown)
            return $"Step '{unknown.Id}' runs '{unknown.Action}', which is not an action. Actions: {string.Join(", ", CopilotActions.Names)}.";
        return null;
    }

    /// <summary>
    /// Makes <paramref name="document"/> the org's version of <paramref name="key"/>, or removes the org's version when it is null. The caller has
    /// checked it with <see cref="DocumentProblem"/>. <paramref name="basedOn"/>, the latest revision the admin saw, refuses the change
    /// (<see cref="Outcome.Conflict"/>) when someone else changed the skill since.
    /// </summary>
    public async Task<Outcome> ChangeAsync(Guid orgId, string key, string? document, Guid changedBy, HttpContext? http, CancellationToken cancellationToken,
        int? basedOn = null, int? restoredFrom = null)
    {
        document = document?.Replace("\r\n", "\n");
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        // One change of a skill at a time, until commit: the next revision number and the check against basedOn stay true.
        await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock(hashtext('skill_overrides'), hashtext({orgId + "/" + key}))", cancellationToken);
        var latest = await LatestRevisionAsync(orgId, key, cancellationToken);
        if (basedOn is { } seen && seen != latest) return Outcome.Conflict;
        var current = await db.SkillOverrides.SingleOrDefaultAsync(s => s.OrgId == orgId && s.SkillKey == key, cancellationToken);
        var before = current?.Document;
        if (before == document) return Outcome.Unchanged;
        if (document is null) db.SkillOverrides.Remove(current!);
        else if (current is null) db.SkillOverrides.Add(new SkillOverride { OrgId = orgId, SkillKey = key, Document = document, UpdatedBy = changedBy });
        else (current.Document, current.UpdatedBy) = (document, changedBy);
        var revision = latest + 1;
        await db.Database.ExecuteSqlAsync($"""
            INSERT INTO skill_override_revisions (org_id, skill_key, revision, document, changed_by, changed_at, restored_from)
            VALUES ({orgId}, {key}, {revision}, {document}, {changedBy}, {clock.GetUtcNow()}, {restoredFrom})
            """, cancellationToken);
        audit.Record(db, restoredFrom is null ? AuditEvents.SkillChanged : AuditEvents.SkillRestored, AuditSeverity.Low, orgId, changedBy,
            new { skill = key, revision, restored_from = restoredFrom, before, after = document }, http);
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return Outcome.Saved;
    }

    /// <summary>The number of the skill's latest revision; 0 before the first.</summary>
    public async Task<int> LatestRevisionAsync(Guid orgId, string key, CancellationToken cancellationToken) =>
        await db.Database.SqlQuery<int>($"""
            SELECT coalesce(max(revision), 0) AS "Value" FROM skill_override_revisions WHERE org_id = {orgId} AND skill_key = {key}
            """).SingleAsync(cancellationToken);

    /// <summary>Every revision of the skill, newest first.</summary>
    public async Task<IReadOnlyList<Revision>> HistoryAsync(Guid orgId, string key, CancellationToken cancellationToken) =>
        await db.Database.SqlQuery<Revision>($"""
            SELECT revision AS "Number", document AS "Document", changed_by AS "ChangedBy", changed_at AS "ChangedAt", restored_from AS "RestoredFrom"
            FROM skill_override_revisions WHERE org_id = {orgId} AND skill_key = {key} ORDER BY revision DESC
            """).ToListAsync(cancellationToken);

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{1,79}$")]
    private static partial Regex KeyRule();
}
