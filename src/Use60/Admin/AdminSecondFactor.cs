using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Mvc.Filters;
using Microsoft.EntityFrameworkCore;
using QRCoder;
using Use60.Data;
using Use60.Orgs;
using Use60.Privacy;
using Use60.Security;

namespace Use60.Admin;

/// <summary>What a session still needs before it may use the admin site.</summary>
public enum SecondFactorNeed { None, Verify, Enroll }

/// <summary>
/// The admin site's second factor: a TOTP authenticator (enrolled with a QR code the app draws) and ten one-time recovery
/// codes. Anyone who enrolled is asked for a code at each sign-in; an owner can require it of every owner and admin. Work runs
/// in the signed-in user's own tenant scope; five wrong codes end the session.
/// </summary>
public sealed class AdminSecondFactor(Use60Db db, SecretBox secrets, SecurityAudit audit, TimeProvider clock)
{
    public const int RecoveryCodes = 10, MaxWrongCodes = 5;
    public const string Purpose = "admin-totp";
    const string Issuer = "use60";

    public sealed record Enrollment(string Secret, string Uri, string QrSvg);

    /// <summary>What <paramref name="session"/> still needs: nothing, a code, or enrolment first (the org requires a factor the user has not set up).</summary>
    public static async Task<SecondFactorNeed> NeedAsync(Use60Db db, AdminSession session, CancellationToken cancellationToken)
    {
        if (session.SecondFactorAt is not null) return SecondFactorNeed.None;
        var enrolled = await db.Database.SqlQuery<bool>($"""
            SELECT EXISTS (SELECT 1 FROM admin_totp WHERE user_id = {session.UserId} AND confirmed_at IS NOT NULL) AS "Value"
            """).SingleAsync(cancellationToken);
        if (enrolled) return SecondFactorNeed.Verify;
        var required = await db.OrgSettings.AsNoTracking().Select(s => s.RequireAdminSecondFactor).SingleOrDefaultAsync(cancellationToken);
        return required ? SecondFactorNeed.Enroll : SecondFactorNeed.None;
    }

    public async Task<bool> IsEnrolledAsync(Guid userId, CancellationToken cancellationToken) =>
        await db.Database.SqlQuery<bool>($"""
            SELECT EXISTS (SELECT 1 FROM admin_totp WHERE user_id = {userId} AND confirmed_at IS NOT NULL) AS "Value"
            """).SingleAsync(cancellationToken);

    /// <summary>
    /// The secret being enrolled, as text and as a QR code: the one already shown if the user has not confirmed it yet (their
    /// authenticator may hold it), else a fresh one.
    /// </summary>
    public async Task<Enrollment> BeginAsync(AppUser user, CancellationToken cancellationToken)
    {
        var secret = (await SecretAsync(user.Id, confirmed: false, cancellationToken))?.Key;
        if (secret is null)
        {
            secret = Totp.NewSecret();
            var sealedSecret = await secrets.SealAsync(user.OrgId, Purpose, user.Id.ToString(), Convert.ToBase64String(secret), cancellationToken);
            await db.Database.ExecuteSqlAsync($"""
                INSERT INTO admin_totp (org_id, user_id, secret_encrypted, created_at) VALUES ({user.OrgId}, {user.Id}, {sealedSecret}, {clock.GetUtcNow()})
                ON CONFLICT (org_id, user_id) DO NOTHING
                """, cancellationToken);
        }
        var uri = Totp.ProvisioningUri(secret, user.Email ?? user.Name, Issuer);
        using var qr = QRCodeGenerator.GenerateQrCode(uri, QRCodeGenerator.ECCLevel.M);
        return new Enrollment(Totp.Base32(secret), uri, new SvgQRCode(qr).GetGraphic(4));
    }

    /// <summary>Confirms the enrolment with a first code: the session counts as verified and the recovery codes are returned, shown once.</summary>
    public async Task<IReadOnlyList<string>?> ConfirmAsync(AppUser user, Guid sessionId, string? code, HttpContext http, CancellationToken cancellationToken)
    {
        if (await SecretAsync(user.Id, confirmed: false, cancellationToken) is not { } secret) return null;
        if (Totp.Verify(secret.Key, code, clock.GetUtcNow(), secret.LastUsedStep) is not { } step)
        {
            await WrongCodeAsync(user, sessionId, http, cancellationToken);
            return null;
        }
        var now = clock.GetUtcNow();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        await db.Database.ExecuteSqlAsync($"UPDATE admin_totp SET confirmed_at = {now}, last_used_step = {step} WHERE user_id = {user.Id}", cancellationToken);
        await db.Database.ExecuteSqlAsync($"DELETE FROM admin_recovery_codes WHERE user_id = {user.Id}", cancellationToken);
        var codes = new List<string>();
        for (var i = 0; i < RecoveryCodes; i++)
        {
            var recovery = NewRecoveryCode();
            codes.Add(recovery);
            await db.Database.ExecuteSqlAsync($"""
                INSERT INTO admin_recovery_codes (code_hash, org_id, user_id, created_at) VALUES ({Hash(recovery)}, {user.OrgId}, {user.Id}, {now})
                """, cancellationToken);
        }
        await PassAsync(sessionId, cancellationToken);
        audit.Record(db, AuditEvents.SecondFactorEnrolled, AuditSeverity.Medium, user.OrgId, user.Id, new { method = "totp" }, http);
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return codes;
    }

    /// <summary>Checks a code from the authenticator, or a recovery code (spent by its use); true when the session may go on.</summary>
    public async Task<bool> VerifyAsync(AppUser user, Guid sessionId, string? code, HttpContext http, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        string method;
        if (await SecretAsync(user.Id, confirmed: true, cancellationToken) is { } secret && Totp.Verify(secret.Key, code, now, secret.LastUsedStep) is { } step)
        {
            // Claimed with a condition, so the same code typed twice (or in two tabs) passes once.
            var claimed = await db.Database.ExecuteSqlAsync($"""
                UPDATE admin_totp SET last_used_step = {step} WHERE user_id = {user.Id} AND last_used_step < {step}
                """, cancellationToken);
            if (claimed == 0) return await WrongCodeAsync(user, sessionId, http, cancellationToken);
            method = "totp";
        }
        else if (RecoveryShape(code) is { } recovery && await db.Database.ExecuteSqlAsync($"""
                     UPDATE admin_recovery_codes SET used_at = {now} WHERE code_hash = {Hash(recovery)} AND user_id = {user.Id} AND used_at IS NULL
                     """, cancellationToken) == 1)
            method = "recovery_code";
        else return await WrongCodeAsync(user, sessionId, http, cancellationToken);

        await PassAsync(sessionId, cancellationToken);
        audit.Record(db, AuditEvents.SecondFactorPassed, AuditSeverity.Info, user.OrgId, user.Id, new { method }, http);
        await db.SaveChangesAsync(cancellationToken);
        return true;
    }

    public async Task<int> RecoveryCodesLeftAsync(Guid userId, CancellationToken cancellationToken) =>
        await db.Database.SqlQuery<int>($"SELECT count(*)::int AS \"Value\" FROM admin_recovery_codes WHERE user_id = {userId} AND used_at IS NULL")
            .SingleAsync(cancellationToken);

    async Task PassAsync(Guid sessionId, CancellationToken cancellationToken) =>
        await db.AdminSessions.Where(s => s.Id == sessionId).ExecuteUpdateAsync(s => s.SetProperty(x => x.SecondFactorAt, clock.GetUtcNow()), cancellationToken);

    async Task<bool> WrongCodeAsync(AppUser user, Guid sessionId, HttpContext http, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var failed = await db.AdminSessions.Where(s => s.Id == sessionId).Select(s => s.FailedCodes).SingleAsync(cancellationToken) + 1;
        await db.AdminSessions.Where(s => s.Id == sessionId).ExecuteUpdateAsync(s => s
            .SetProperty(x => x.FailedCodes, failed).SetProperty(x => x.RevokedAt, x => failed >= MaxWrongCodes ? now : x.RevokedAt), cancellationToken);
        audit.Record(db, AuditEvents.SecondFactorFailed, failed >= MaxWrongCodes ? AuditSeverity.High : AuditSeverity.Low, user.OrgId, user.Id,
            new { wrong_codes = failed, session_ended = failed >= MaxWrongCodes }, http);
        await db.SaveChangesAsync(cancellationToken);
        return false;
    }

    sealed record StoredSecret(Guid OrgId, byte[] Sealed, long LastUsedStep);

    async Task<(byte[] Key, long LastUsedStep)?> SecretAsync(Guid userId, bool confirmed, CancellationToken cancellationToken)
    {
        var row = await db.Database.SqlQuery<StoredSecret>($"""
            SELECT org_id AS "OrgId", secret_encrypted AS "Sealed", last_used_step AS "LastUsedStep" FROM admin_totp
            WHERE user_id = {userId} AND (confirmed_at IS NOT NULL) = {confirmed}
            """).SingleOrDefaultAsync(cancellationToken);
        return row is null ? null
            : (Convert.FromBase64String(await secrets.OpenAsync(row.OrgId, Purpose, userId.ToString(), row.Sealed, cancellationToken)), row.LastUsedStep);
    }

    /// <summary>xxxxx-xxxxx in base32 letters and digits (50 random bits): easy to type from paper.</summary>
    static string NewRecoveryCode()
    {
        var text = Totp.Base32(RandomNumberGenerator.GetBytes(7)).ToLowerInvariant()[..10];
        return text[..5] + "-" + text[5..];
    }

    static string? RecoveryShape(string? code)
    {
        var letters = new string((code ?? "").Where(char.IsLetterOrDigit).Select(char.ToLowerInvariant).ToArray());
        return letters.Length == 10 ? letters[..5] + "-" + letters[5..] : null;
    }

    static byte[] Hash(string code) => SHA256.HashData(Encoding.UTF8.GetBytes(code));
}

/// <summary>Until a session's second factor is checked, every admin page sends it to the code (or enrolment) page.</summary>
sealed class SecondFactorFilter : IAsyncPageFilter
{
    public const string VerifyPath = "/admin/2fa", EnrollPath = "/admin/2fa/setup";
    static readonly string[] Open = [VerifyPath, EnrollPath, "/admin/signout", "/admin/forbidden", "/admin/error", "/admin/login", "/admin/signin"];

    public Task OnPageHandlerSelectionAsync(PageHandlerSelectedContext context) => Task.CompletedTask;

    public async Task OnPageHandlerExecutionAsync(PageHandlerExecutingContext context, PageHandlerExecutionDelegate next)
    {
        var need = context.HttpContext.User.FindFirst(AdminClaims.SecondFactor)?.Value;
        var path = context.HttpContext.Request.Path.Value ?? "";
        if (need is not null && !Open.Any(p => path.Equals(p, StringComparison.OrdinalIgnoreCase)))
        {
            context.Result = new Microsoft.AspNetCore.Mvc.RedirectResult(need == nameof(SecondFactorNeed.Enroll) ? EnrollPath : VerifyPath);
            return;
        }
        await next();
    }
}
