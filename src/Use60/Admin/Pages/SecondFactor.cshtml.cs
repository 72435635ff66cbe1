using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Use60.Data;

namespace Use60.Admin.Pages;

/// <summary>/admin/2fa: the code from the authenticator app (or a recovery code) that completes signing in.</summary>
public sealed class SecondFactorModel(Use60Db db, AdminSecondFactor factor) : PageModel
{
    public string? Problem { get; private set; }

    public IActionResult OnGet() => User.FindFirst(AdminClaims.SecondFactor) is null ? LocalRedirect("/admin") : Page();

    public async Task<IActionResult> OnPostAsync([FromForm] string? code, CancellationToken cancellationToken)
    {
        if (AdminClaims.Read(User) is not (_, var userId, var sessionId)) return LocalRedirect("/admin/signin");
        var user = await db.Users.AsNoTracking().SingleAsync(u => u.Id == userId, cancellationToken);
        if (await factor.VerifyAsync(user, sessionId, code, HttpContext, cancellationToken)) return LocalRedirect("/admin");
        var wrong = await db.AdminSessions.AsNoTracking().Where(s => s.Id == sessionId).Select(s => s.FailedCodes).SingleAsync(cancellationToken);
        if (wrong >= AdminSecondFactor.MaxWrongCodes)
        {
            await HttpContext.SignOutAsync(AdminClaims.Scheme);
            return LocalRedirect("/admin/signin?ended=codes");
        }
        Problem = $"That code didn't match. Check your authenticator app's clock and try the current code; {AdminSecondFactor.MaxWrongCodes - wrong} tries left.";
        Response.StatusCode = StatusCodes.Status400BadRequest;
        return Page();
    }
}
