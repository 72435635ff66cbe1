using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Use60.Admin;
using Use60.Data;

namespace Use60.Orgs.Pages;

/// <summary>
/// Versions (/admin/versions): every revision of the org profile — who, when, what changed against the one before — and Restore,
/// which saves an earlier one as a new revision (audited); history is never rewritten.
/// </summary>
public sealed class VersionsModel(Use60Db db, OrgProfiles profiles) : PageModel
{
    public const string PagePath = "/admin/versions";

    public sealed record Change(string Field, LineDiff Lines);

    public sealed record Line(OrgProfiles.Revision Revision, string Who, IReadOnlyList<Change> Changes, bool Current);

    public IReadOnlyList<Line> Lines { get; private set; } = [];

    [TempData]
    public string? Notice { get; set; }

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        var orgId = Admin().OrgId;
        var history = await profiles.HistoryAsync(cancellationToken);
        var names = await db.Users.AsNoTracking().ToDictionaryAsync(u => u.Id, u => u.Name, cancellationToken);
        Lines = [.. history.Select((revision, i) => new Line(revision,
            revision.ChangedBy is { } who ? names.GetValueOrDefault(who, "a former member") : "use60",
            Diff(i + 1 < history.Count ? OrgProfileForm.Of(OrgProfileForm.FromSnapshot(orgId, history[i + 1].Profile)) : new OrgProfileForm(),
                OrgProfileForm.Of(OrgProfileForm.FromSnapshot(orgId, revision.Profile))),
            i == 0))];
    }

    public async Task<IActionResult> OnPostRestoreAsync([FromForm] int revision, CancellationToken cancellationToken)
    {
        var (orgId, me) = Admin();
        var chosen = (await profiles.HistoryAsync(cancellationToken)).FirstOrDefault(r => r.Number == revision);
        if (chosen is null)
        {
            Notice = "There is no such revision.";
            return RedirectToPage();
        }
        var restored = await profiles.SaveAsync(OrgProfileForm.FromSnapshot(orgId, chosen.Profile), me, HttpContext, cancellationToken, restoredFrom: revision);
        Notice = restored ? $"Revision {revision} restored, as a new revision." : $"Revision {revision} is what the profile already says.";
        return RedirectToPage();
    }

    /// <summary>Per field, the lines that went and the lines that came.</summary>
    public static IReadOnlyList<Change> Diff(OrgProfileForm before, OrgProfileForm after)
    {
        var fields = new (string Name, Func<OrgProfileForm, string> Text)[]
        {
            ("Company name", f => f.CompanyName), ("Products", f => f.Products), ("Competitors", f => f.Competitors),
            ("Pain points", f => f.PainPoints), ("Why customers choose you", f => f.ValuePropositions), ("Brand voice", f => f.BrandVoice),
        };
        var changes = new List<Change>();
        foreach (var (name, text) in fields)
        {
            var lines = LineDiff.Of(text(before), text(after));
            if (!lines.IsEmpty) changes.Add(new Change(name, lines));
        }
        return changes;
    }

    (Guid OrgId, Guid UserId) Admin() => AdminClaims.Signed(User);
}
