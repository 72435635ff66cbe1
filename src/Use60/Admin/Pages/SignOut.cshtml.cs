using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Use60.Data;
using Use60.Security;

namespace Use60.Admin.Pages;

/// <summary>Open to anyone signed in, members too (the 403 page offers it): ends the session on the server.</summary>
[AllowAnonymous]
public sealed class SignOutModel(Use60Db db, SecurityAudit audit, TimeProvider clock) : PageModel
{
    public bool SignedOut { get; private set; }

    public async Task<IActionResult> OnPostAsync(CancellationToken cancellationToken)
    {
        if (AdminClaims.Read(User) is (var orgId, var userId, var sessionId) && db.Tenant.IsSet)
        {
            await db.AdminSessions.Where(s => s.Id == sessionId && s.RevokedAt == null)
                .ExecuteUpdateAsync(set => set.SetProperty(s => s.RevokedAt, clock.GetUtcNow()), cancellationToken);
            audit.Record(db, AuditEvents.AdminSignOut, AuditSeverity.Info, orgId, userId, new { session = sessionId }, HttpContext);
            await db.SaveChangesAsync(cancellationToken);
        }
        await HttpContext.SignOutAsync(AdminClaims.Scheme);
        SignedOut = true;
        return Page();
    }

    public IActionResult OnGet() => User.Identity?.IsAuthenticated == true ? Page() : Redirect("/admin/signin");
}
