using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Use60.Admin;
using Use60.Data;

namespace Use60.Copilot.Pages;

/// <summary>
/// One skill's versions (/admin/skills/{key}/history): every revision — who, when, what it restored, and the lines that changed against the
/// one before — and Restore, which saves an earlier one as a new revision (audited); history is never rewritten.
/// </summary>
public sealed class SkillHistoryModel(Use60Db db, SkillOverrides overrides) : PageModel
{
    /// <summary>A revision as shown; <see cref="Changes"/> compares what the copilot read after it with what it read before (the built-in where none).</summary>
    public sealed record Line(SkillOverrides.Revision Revision, string Who, LineDiff Changes, bool Current);

    public string Key { get; private set; } = "";
    public bool HasBuiltIn { get; private set; }
    public IReadOnlyList<Line> Lines { get; private set; } = [];

    [TempData]
    public string? Notice { get; set; }

    public async Task<IActionResult> OnGetAsync(string key, CancellationToken cancellationToken)
    {
        if (SkillOverrides.KeyProblem(key) is not null) return NotFound();
        (Key, HasBuiltIn) = (key, SkillCatalog.BuiltInText(key) is not null);
        var history = await overrides.HistoryAsync(AdminClaims.Signed(User).OrgId, key, cancellationToken);
        var names = await db.Users.AsNoTracking().ToDictionaryAsync(u => u.Id, u => u.Name, cancellationToken);
        string InEffect(string? document) => document ?? SkillCatalog.BuiltInText(key) ?? "";
        Lines = [.. history.Select((revision, i) => new Line(revision,
            revision.ChangedBy is { } who ? names.GetValueOrDefault(who, "a former member") : "use60",
            LineDiff.Of(InEffect(i + 1 < history.Count ? history[i + 1].Document : null), InEffect(revision.Document)),
            i == 0))];
        return Page();
    }

    public async Task<IActionResult> OnPostRestoreAsync(string key, [FromForm] int revision, CancellationToken cancellationToken)
    {
        if (SkillOverrides.KeyProblem(key) is not null) return NotFound();
        var (orgId, me) = AdminClaims.Signed(User);
        var chosen = (await overrides.HistoryAsync(orgId, key, cancellationToken)).FirstOrDefault(r => r.Number == revision);
        if (chosen is null)
            Notice = "There is no such version.";
        else if (chosen.Document is { } document && SkillOverrides.DocumentProblem(key, document) is { } problem)
            Notice = $"Version {revision} cannot be restored as it is: {problem} Open it in the editor, mend it and save.";
        else
            Notice = await overrides.ChangeAsync(orgId, key, chosen.Document, me, HttpContext, cancellationToken, restoredFrom: revision) == SkillOverrides.Outcome.Saved
                ? $"Version {revision} restored, as a new version; the copilot uses it from the next message."
                : $"Version {revision} is what the skill already says.";
        return Redirect(SkillsModel.HistoryPath(key));
    }
}
