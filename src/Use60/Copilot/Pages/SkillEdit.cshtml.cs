using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Use60.Admin;
using Use60.Data;

namespace Use60.Copilot.Pages;

/// <summary>
/// One skill's editor (/admin/skills/{key}): the org's version, or the built-in to start from, or a template for a new key. Saving checks
/// the document with the copilot's own parser and shows what is wrong beside it, keeping what was typed; Revert removes the org's version.
/// </summary>
public sealed class SkillEditModel(Use60Db db, SkillOverrides overrides) : PageModel
{
    [BindProperty]
    public string Document { get; set; } = "";

    /// <summary>The latest revision when the editor was opened: a save on top of someone else's newer one is refused, not lost.</summary>
    [BindProperty]
    public int BasedOn { get; set; }

    public string Key { get; private set; } = "";
    public bool HasBuiltIn { get; private set; }
    public SkillOverride? Current { get; private set; }
    public string? UpdatedBy { get; private set; }
    public string? Problem { get; private set; }

    [TempData]
    public string? Notice { get; set; }

    public async Task<IActionResult> OnGetAsync(string key, CancellationToken cancellationToken)
    {
        if (!await LoadAsync(key, cancellationToken)) return NotFound();
        Document = Current?.Document ?? SkillCatalog.BuiltInText(key) ?? Template(key);
        BasedOn = await overrides.LatestRevisionAsync(AdminClaims.Signed(User).OrgId, key, cancellationToken);
        return Page();
    }

    public async Task<IActionResult> OnPostSaveAsync(string key, CancellationToken cancellationToken)
    {
        if (!await LoadAsync(key, cancellationToken)) return NotFound();
        var (orgId, me) = AdminClaims.Signed(User);
        Problem = SkillOverrides.DocumentProblem(key, Document);
        if (Problem is not null) return Page();
        switch (await overrides.ChangeAsync(orgId, key, Document, me, HttpContext, cancellationToken, basedOn: BasedOn))
        {
            case SkillOverrides.Outcome.Conflict:
                Problem = "Someone else saved this skill after you opened it. Your text is kept here: see their change under Versions, then save again to replace it.";
                BasedOn = await overrides.LatestRevisionAsync(orgId, key, cancellationToken);
                await LoadAsync(key, cancellationToken);
                return Page();
            case SkillOverrides.Outcome.Unchanged:
                Notice = "Nothing changed.";
                break;
            default:
                Notice = "Saved: the copilot uses this version from the next message.";
                break;
        }
        return Redirect(SkillsModel.EditPath(key));
    }

    public async Task<IActionResult> OnPostRevertAsync(string key, CancellationToken cancellationToken)
    {
        if (!await LoadAsync(key, cancellationToken)) return NotFound();
        var (orgId, me) = AdminClaims.Signed(User);
        var removed = await overrides.ChangeAsync(orgId, key, null, me, HttpContext, cancellationToken) == SkillOverrides.Outcome.Saved;
        Notice = (removed, HasBuiltIn) switch
        {
            (true, true) => "Reverted: the copilot uses the built-in version again. Yours is kept under Versions.",
            (true, false) => "Removed: the copilot no longer has this skill. It is kept under Versions.",
            (false, true) => "This is already the built-in version.",
            _ => "There is no saved version to remove.",
        };
        return Redirect(SkillsModel.EditPath(key));
    }

    /// <summary>False when <paramref name="key"/> cannot be a skill's key (the page does not exist).</summary>
    async Task<bool> LoadAsync(string key, CancellationToken cancellationToken)
    {
        if (SkillOverrides.KeyProblem(key) is not null) return false;
        Key = key;
        HasBuiltIn = SkillCatalog.BuiltInText(key) is not null;
        var orgId = AdminClaims.Signed(User).OrgId;
        Current = await db.SkillOverrides.AsNoTracking().SingleOrDefaultAsync(o => o.OrgId == orgId && o.SkillKey == key, cancellationToken);
        UpdatedBy = Current?.UpdatedBy is { } by ? await db.Users.AsNoTracking().Where(u => u.Id == by).Select(u => u.Name).SingleOrDefaultAsync(cancellationToken) : null;
        return true;
    }

    /// <summary>A new skill's starting document: it reads as it is, so the admin changes what it says rather than fixing its form.</summary>
    static string Template(string key)
    {
        var name = string.Join(' ', key.Split('-', StringSplitOptions.RemoveEmptyEntries).Select((w, i) => i == 0 ? char.ToUpperInvariant(w[0]) + w[1..] : w));
        return $"""
            ---
            key: {key}
            name: {name}
            description: What this skill does and when to use it, in one sentence; the copilot reads it to choose a skill.
            category: general
            inputs:
              - name: topic
                description: what the rep asked about
                required: false
            actions: []
            ---
            # {name}

            What the copilot should do, step by step, and how the answer should read.

            """;
    }
}
