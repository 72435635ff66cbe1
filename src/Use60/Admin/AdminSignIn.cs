using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Use60.Data;
using Use60.Hosting;
using Use60.Orgs;
using Use60.Security;

namespace Use60.Admin;

public enum LinkState { Valid, Used, Expired, Unknown }

public sealed record LinkHolder(AppUser User, Org Org);

/// <summary>
/// One-time sign-in links: valid for 10 minutes, usable once. Looking at a link (GET) spends nothing, so
/// link scanners and Slack's unfurler cannot use it up; the person's click (POST) redeems it.
/// </summary>
public sealed class AdminLoginLinks(SystemDb system, SecurityAudit audit, TimeProvider clock, IOptions<Use60Options> options)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(10);

    public async Task<Uri> CreateAsync(AppUser user, string via, CancellationToken cancellationToken)
    {
        var (token, hash) = OneTimeToken.New();
        await using var db = system.Open("create an admin sign-in link");
        var now = clock.GetUtcNow();
        db.AdminLoginLinks.Add(new AdminLoginLink
        {
            OrgId = user.OrgId,
            UserId = user.Id,
            TokenHash = hash,
            CreatedVia = via,
            CreatedAt = now,
            ExpiresAt = now + Lifetime,
        });
        audit.Record(db, AuditEvents.AdminLinkCreated, AuditSeverity.Info, user.OrgId, user.Id, new { via });
        await db.SaveChangesAsync(cancellationToken);
        return new Uri(options.Value.PublicUri, "admin/login?token=" + token);
    }

    public async Task<(LinkState State, LinkHolder? Holder)> PeekAsync(string? token, CancellationToken cancellationToken)
    {
        if (OneTimeToken.HashOf(token) is not { } hash) return (LinkState.Unknown, null);
        await using var db = system.Open("look at an admin sign-in link");
        var link = await db.AdminLoginLinks.AsNoTracking().SingleOrDefaultAsync(l => l.TokenHash == hash, cancellationToken);
        if (link is null) return (LinkState.Unknown, null);
        var holder = await HolderAsync(db, link, cancellationToken);
        return (StateOf(link), holder);
    }

    /// <summary>Spends the link (once, even under concurrent clicks) and opens an admin session for its holder.</summary>
    public async Task<(LinkState State, LinkHolder? Holder, AdminSession? Session)> RedeemAsync(string? token, HttpContext http,
        CancellationToken cancellationToken)
    {
        if (OneTimeToken.HashOf(token) is not { } hash) return (LinkState.Unknown, null, null);
        await using var db = system.Open("redeem an admin sign-in link");
        var now = clock.GetUtcNow();
        var claimed = await db.AdminLoginLinks
            .Where(l => l.TokenHash == hash && l.UsedAt == null && l.ExpiresAt > now)
            .ExecuteUpdateAsync(set => set.SetProperty(l => l.UsedAt, now), cancellationToken);
        var link = await db.AdminLoginLinks.AsNoTracking().SingleOrDefaultAsync(l => l.TokenHash == hash, cancellationToken);
        if (link is null) return (LinkState.Unknown, null, null);
        var holder = await HolderAsync(db, link, cancellationToken);
        if (claimed == 0 || holder is null)
        {
            var state = claimed == 0 ? StateOf(link, now) : LinkState.Unknown;
            audit.Record(db, AuditEvents.AdminSignInFailed, AuditSeverity.Low, link.OrgId, link.UserId,
                new { reason = state.ToString().ToLowerInvariant() }, http);
            await db.SaveChangesAsync(cancellationToken);
            return (state, holder, null);
        }

        var session = await OpenSessionAsync(db, holder.User, "link", link.CreatedVia, http, cancellationToken);
        return (LinkState.Valid, holder, session);
    }

    /// <summary>A new admin session for <paramref name="user"/>, however they proved who they are (a link, Slack), audited.</summary>
    public async Task<AdminSession> OpenSessionAsync(Use60Db db, AppUser user, string method, string? via, HttpContext http, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var session = new AdminSession
        {
            OrgId = user.OrgId,
            UserId = user.Id,
            CreatedAt = now,
            LastSeenAt = now,
            IpAddress = http.Connection.RemoteIpAddress,
            UserAgent = HttpContextExtensions.UserAgentOf(http),
        };
        db.AdminSessions.Add(session);
        audit.Record(db, AuditEvents.AdminSignIn, AuditSeverity.Info, user.OrgId, user.Id,
            new { method, via, session = session.Id, role = SnakeCase.ValueOf(user.Role) }, http);
        await db.SaveChangesAsync(cancellationToken);
        return session;
    }

    LinkState StateOf(AdminLoginLink link, DateTimeOffset? at = null) =>
        link.UsedAt is not null ? LinkState.Used : link.ExpiresAt <= (at ?? clock.GetUtcNow()) ? LinkState.Expired : LinkState.Valid;

    static async Task<LinkHolder?> HolderAsync(Use60Db db, AdminLoginLink link, CancellationToken cancellationToken)
    {
        var user = await db.Users.AsNoTracking().SingleOrDefaultAsync(u => u.Id == link.UserId, cancellationToken);
        var org = await db.Orgs.AsNoTracking().SingleOrDefaultAsync(o => o.Id == link.OrgId, cancellationToken);
        return user is null || org is null ? null : new LinkHolder(user, org);
    }

}

/// <summary>The admin cookie carries only who and which session; each request checks the session on the server.</summary>
public static class AdminClaims
{
    public const string Scheme = "use60-admin";
    public const string OrgId = "use60:org";
    public const string SessionId = "use60:sid";

    /// <summary>Present while the session still needs its second factor: Verify or Enroll.</summary>
    public const string SecondFactor = "use60:2fa";

    /// <summary>Sessions end after this long without a request, on the server and in the cookie.</summary>
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromHours(12);

    public static ClaimsPrincipal Create(AppUser user, AdminSession session, SecondFactorNeed need = SecondFactorNeed.None) => new(new ClaimsIdentity(
    [
        new Claim(ClaimTypes.NameIdentifier, user.Id.ToString()),
        new Claim(OrgId, user.OrgId.ToString()),
        new Claim(SessionId, session.Id.ToString()),
        new Claim(ClaimTypes.Name, user.Name),
        new Claim(ClaimTypes.Role, SnakeCase.ValueOf(user.Role)),
        .. need == SecondFactorNeed.None ? Array.Empty<Claim>() : [new Claim(SecondFactor, need.ToString())],
    ], Scheme, ClaimTypes.Name, ClaimTypes.Role));

    public static (Guid OrgId, Guid UserId, Guid SessionId)? Read(ClaimsPrincipal? principal) =>
        Guid.TryParse(principal?.FindFirstValue(OrgId), out var org) &&
        Guid.TryParse(principal?.FindFirstValue(ClaimTypes.NameIdentifier), out var user) &&
        Guid.TryParse(principal?.FindFirstValue(SessionId), out var session)
            ? (org, user, session)
            : null;

    /// <summary>The signed-in admin of a page behind the admin-site policy (which guarantees one).</summary>
    public static (Guid OrgId, Guid UserId) Signed(ClaimsPrincipal principal) =>
        Read(principal) is (var org, var user, _) ? (org, user) : throw new InvalidOperationException("An admin page without an admin.");
}

/// <summary>
/// Checks every admin request's session in the database (in the user's own tenant scope): a revoked, idle or
/// unknown session is refused, and a role changed since sign-in takes effect at once. The request then works
/// in that user's tenant.
/// </summary>
sealed class AdminCookieEvents(IServiceScopeFactory scopes, TimeProvider clock) : CookieAuthenticationEvents
{
    static readonly TimeSpan TouchEvery = TimeSpan.FromMinutes(1);

    public override async Task ValidatePrincipal(CookieValidatePrincipalContext context)
    {
        if (AdminClaims.Read(context.Principal) is not (var orgId, var userId, var sessionId))
        {
            await RejectAsync(context);
            return;
        }
        AppUser? user;
        AdminSession? session;
        SecondFactorNeed need;
        await using (var scope = scopes.CreateAsyncScope())
        {
            scope.ServiceProvider.GetRequiredService<TenantContext>().Enter(orgId, userId);
            var db = scope.ServiceProvider.GetRequiredService<Use60Db>();
            var ct = context.HttpContext.RequestAborted;
            session = await db.AdminSessions.SingleOrDefaultAsync(s => s.Id == sessionId, ct);
            user = await db.Users.AsNoTracking().SingleOrDefaultAsync(u => u.Id == userId, ct);
            var now = clock.GetUtcNow();
            if (session is null || user is null || session.RevokedAt is not null || now - session.LastSeenAt > AdminClaims.IdleTimeout)
            {
                await RejectAsync(context);
                return;
            }
            if (now - session.LastSeenAt > TouchEvery)
            {
                session.LastSeenAt = now;
                await db.SaveChangesAsync(ct);
            }
            need = await AdminSecondFactor.NeedAsync(db, session, ct);
        }
        context.HttpContext.RequestServices.GetRequiredService<TenantContext>().Enter(orgId, userId);
        if (context.Principal!.FindFirstValue(ClaimTypes.Role) != SnakeCase.ValueOf(user.Role) ||
            context.Principal!.FindFirstValue(ClaimTypes.Name) != user.Name ||
            context.Principal!.FindFirstValue(AdminClaims.SecondFactor) != (need == SecondFactorNeed.None ? null : need.ToString()))
        {
            context.ReplacePrincipal(AdminClaims.Create(user, session, need));
            context.ShouldRenew = true;
        }
    }

    static async Task RejectAsync(CookieValidatePrincipalContext context)
    {
        context.RejectPrincipal();
        await context.HttpContext.SignOutAsync(AdminClaims.Scheme);
    }
}
