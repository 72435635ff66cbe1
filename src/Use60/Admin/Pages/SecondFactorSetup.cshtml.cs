using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Use60.Data;
using Use60.Orgs;

namespace Use60.Admin.Pages;

/// <summary>/admin/2fa/setup: enrol an authenticator app by its QR code, confirm with a first code, and get the recovery codes once.</summary>
public sealed class SecondFactorSetupModel(Use60Db db, AdminSecondFactor factor, Privacy.SecretBox secrets) : PageModel
{
    /// <summary>The shared secret is kept sealed with USE60_MASTER_KEY; without one there is nothing to enrol into.</summary>
    public bool Available => secrets.IsConfigured;

    public AdminSecondFactor.Enrollment? Enrollment { get; private set; }
    public IReadOnlyList<string>? RecoveryCodes { get; private set; }
    public bool Enrolled { get; private set; }
    public int CodesLeft { get; private set; }
    public bool Required { get; private set; }
    public string? Problem { get; private set; }

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        if (Available) await LoadAsync(cancellationToken);
    }

    public async Task<IActionResult> OnPostAsync([FromForm] string? code, CancellationToken cancellationToken)
    {
        if (!Available) return Page();
        var user = await MeAsync(cancellationToken);
        RecoveryCodes = await factor.ConfirmAsync(user, AdminClaims.Read(User)!.Value.SessionId, code, HttpContext, cancellationToken);
        if (RecoveryCodes is null)
        {
            Problem = "That code didn't match: type the 6-digit code your app shows now for use60.";
            Response.StatusCode = StatusCodes.Status400BadRequest;
            await LoadAsync(cancellationToken);
        }
        return Page();
    }

    async Task LoadAsync(CancellationToken cancellationToken)
    {
        var user = await MeAsync(cancellationToken);
        Required = await db.OrgSettings.AsNoTracking().Select(s => s.RequireAdminSecondFactor).SingleOrDefaultAsync(cancellationToken);
        Enrolled = await factor.IsEnrolledAsync(user.Id, cancellationToken);
        if (Enrolled) CodesLeft = await factor.RecoveryCodesLeftAsync(user.Id, cancellationToken);
        else Enrollment = await factor.BeginAsync(user, cancellationToken);
    }

    async Task<AppUser> MeAsync(CancellationToken cancellationToken)
    {
        var me = AdminClaims.Signed(User).UserId;
        return await db.Users.AsNoTracking().SingleAsync(u => u.Id == me, cancellationToken);
    }
}
