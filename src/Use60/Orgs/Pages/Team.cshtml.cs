using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Use60.Admin;
using Use60.Data;
using Use60.Security;

namespace Use60.Orgs.Pages;

/// <summary>
/// Team (/admin/team): the org's members with their role and time zone. Owners change roles (owner, admin, member, viewer as
/// in the seeds' role table); admins and viewers see the team but change nothing. An org always keeps at least one owner.
/// </summary>
[ViewersCanSee]
public sealed class TeamModel(Use60Db db, SecurityAudit audit) : PageModel
{
    public const string PagePath = "/admin/team";

    public IReadOnlyList<AppUser> Members { get; private set; } = [];
    public bool CanChangeRoles { get; private set; }
    public Guid Me { get; private set; }

    [TempData]
    public string? Notice { get; set; }

    public static readonly (UserRole Role, string Text)[] Roles =
    [
        (UserRole.Owner, "Owner — everything, including roles and connecting accounts"),
        (UserRole.Admin, "Admin — the admin site, settings and data"),
        (UserRole.Member, "Member — uses use60 in Slack; sees shared data"),
        (UserRole.Viewer, "Viewer — sees shared data, changes nothing"),
    ];

    public async Task OnGetAsync(CancellationToken cancellationToken) => await LoadAsync(cancellationToken);

    public async Task<IActionResult> OnPostRoleAsync([FromForm] Guid userId, [FromForm] string? role, CancellationToken cancellationToken)
    {
        await LoadAsync(cancellationToken);
        if (!CanChangeRoles)
        {
            Notice = "Only owners change roles.";
            return RedirectToPage();
        }
        var member = Members.FirstOrDefault(m => m.Id == userId);
        var chosen = Roles.Select(r => r.Role).Where(r => SnakeCase.ValueOf(r) == role).ToList();
        if (member is null || chosen is not [var newRole])
        {
            Notice = "Pick a member and one of the four roles.";
            return RedirectToPage();
        }
        if (member.Role == newRole) return RedirectToPage();
        if (member.Role == UserRole.Owner && Members.Count(m => m.Role == UserRole.Owner) == 1)
        {
            Notice = $"{member.Name} is the only owner: make someone else an owner first, so the org always has one.";
            return RedirectToPage();
        }
        var before = member.Role;
        await db.Users.Where(u => u.Id == member.Id).ExecuteUpdateAsync(s => s.SetProperty(u => u.Role, newRole), cancellationToken);
        audit.Record(db, AuditEvents.RoleChanged, AuditSeverity.Medium, member.OrgId, Me,
            new { member = member.Id, before = SnakeCase.ValueOf(before), after = SnakeCase.ValueOf(newRole) }, HttpContext);
        await db.SaveChangesAsync(cancellationToken);
        Notice = $"{member.Name} is now {Article(newRole)} {SnakeCase.ValueOf(newRole)}.";
        return RedirectToPage();
    }

    async Task LoadAsync(CancellationToken cancellationToken)
    {
        var me = Me = AdminClaims.Signed(User).UserId;
        Members = await db.Users.AsNoTracking().OrderBy(u => u.Role).ThenBy(u => u.Name).ToListAsync(cancellationToken);
        CanChangeRoles = Members.Any(m => m.Id == me && m.Role == UserRole.Owner);
    }

    static string Article(UserRole role) => role is UserRole.Owner or UserRole.Admin ? "an" : "a";
}
