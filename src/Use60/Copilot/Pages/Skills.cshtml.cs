using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Use60.Admin;
using Use60.Data;

namespace Use60.Copilot.Pages;

/// <summary>
/// Skills (/admin/skills): every skill and sequence the org's copilot sees — built in, the org's version of a built-in, or the org's
/// own — with a way into each one's editor and history, and a start for a new skill.
/// </summary>
public sealed class SkillsModel(Use60Db db, SkillCatalog catalog) : PageModel
{
    public const string PagePath = "/admin/skills";

    public enum Origin { BuiltIn, Overridden, OrgOnly }

    /// <summary>One skill; <see cref="Problem"/> says when the org's stored version no longer reads (and what the copilot does instead).</summary>
    public sealed record Row(string Key, string Name, string Category, bool IsSequence, Origin Origin, DateTimeOffset? UpdatedAt, string? Problem);

    public IReadOnlyList<Row> Rows { get; private set; } = [];

    /// <summary>The key typed for a new skill, kept when it is refused.</summary>
    public string? NewKey { get; private set; }

    public string? NewKeyProblem { get; private set; }

    public static string EditPath(string key) => $"{PagePath}/{key}";

    public static string HistoryPath(string key) => $"{PagePath}/{key}/history";

    [TempData]
    public string? Notice { get; set; }

    /// <summary>The list; with <paramref name="new"/>, the editor of that key (a new skill, or the existing one) when the key is a valid one.</summary>
    public async Task<IActionResult> OnGetAsync([FromQuery(Name = "new")] string? @new, CancellationToken cancellationToken)
    {
        if (@new is not null)
        {
            NewKey = @new.Trim();
            NewKeyProblem = SkillOverrides.KeyProblem(NewKey);
            if (NewKeyProblem is null) return Redirect(EditPath(NewKey));
        }
        var orgId = AdminClaims.Signed(User).OrgId;
        var skills = await catalog.ListAsync(orgId, cancellationToken);
        var stored = await db.SkillOverrides.AsNoTracking().ToDictionaryAsync(o => o.SkillKey, o => o.UpdatedAt, cancellationToken);
        var rows = skills.Select(s => new Row(s.Key, s.Name, s.Category, s.IsSequence,
            s.Source != SkillCatalog.OrgSource ? Origin.BuiltIn : SkillCatalog.BuiltInText(s.Key) is null ? Origin.OrgOnly : Origin.Overridden,
            stored.TryGetValue(s.Key, out var at) ? at : null,
            stored.ContainsKey(s.Key) && s.Source != SkillCatalog.OrgSource ? "The org's version no longer reads; the copilot uses the built-in." : null)).ToList();
        // An org-only skill that no longer reads is invisible to the copilot: list it so that it can be mended or removed.
        rows.AddRange(stored.Where(o => skills.All(s => s.Key != o.Key)).Select(o => new Row(o.Key, o.Key, "—", false, Origin.OrgOnly, o.Value,
            "This version no longer reads; the copilot does not see the skill.")));
        Rows = rows;
        return Page();
    }

    public static string Describe(Origin origin) => origin switch
    {
        Origin.BuiltIn => "Built in",
        Origin.Overridden => "Org's version of a built-in",
        _ => "Org's own",
    };
}
