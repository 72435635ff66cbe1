using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Use60.Data;
using Use60.Security;

namespace Use60.Admin.Pages;

/// <summary>A clear 403: who is signed in and why they cannot go further. Each refusal is audited.</summary>
[AllowAnonymous]
public sealed class ForbiddenModel(Use60Db db, SecurityAudit audit) : PageModel
{
    public async Task OnGetAsync([FromQuery] string? returnUrl, CancellationToken cancellationToken)
    {
        Response.StatusCode = StatusCodes.Status403Forbidden;
        if (AdminClaims.Read(User) is (var orgId, var userId, _) && db.Tenant.IsSet)
        {
            audit.Record(db, AuditEvents.AdminAccessDenied, AuditSeverity.Low, orgId, userId,
                new { path = returnUrl is { Length: > 0 } && returnUrl.StartsWith('/') ? returnUrl[..Math.Min(returnUrl.Length, 200)] : null },
                HttpContext);
            await db.SaveChangesAsync(cancellationToken);
        }
    }
}
