using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;
using Use60.Data;
using Use60.Hosting;
using Use60.Orgs;
using Use60.Privacy;
using Use60.Security;

namespace Use60.Slack;

/// <summary>The bot scopes the code needs, and nothing more; the install link and the app manifest both ask for exactly these.</summary>
public static class SlackScopes
{
    /// <summary>User scopes of "Sign in with Slack" (OpenID Connect) on the admin site.</summary>
    public static readonly IReadOnlyList<string> SignIn = ["openid", "email", "profile"];

    public static readonly IReadOnlyList<string> Bot =
    [
        "app_mentions:read",  // app_mention
        "chat:write",         // chat.postMessage, chat.postEphemeral, chat.update
        "commands",           // /sixty
        "im:history",         // message.im
        "im:write",           // conversations.open
        "users:read",         // users.info: name and time zone on first contact
        "users:read.email",   // users.info email, users.lookupByEmail
    ];
}

public enum InstallResult { Installed, BadState, Denied, Failed }

/// <summary>
/// Which workspace is which org, and its bot token: SLACK_BOT_TOKEN in single-workspace mode, the encrypted
/// token of its OAuth install otherwise, none in the local sandbox. Finds (or creates, on first contact) the
/// org and the user behind a Slack request.
/// </summary>
public sealed class SlackWorkspaces(SystemDb system, SlackApi api, SecretBox secrets, SecurityAudit audit, IOptions<SlackOptions> options,
    IOptions<Use60Options> host, TimeProvider clock, ILogger<SlackWorkspaces> logger)
{
    /// <summary>The token the sandbox transport is called with; it checks none.</summary>
    public const string SandboxToken = "xoxb-sandbox";

    public const string TokenPurpose = "slack-bot-token";
    static readonly TimeSpan StateLifetime = TimeSpan.FromMinutes(10);

    public Uri InstallUrl => new(host.Value.PublicUri, "slack/install");

    Uri RedirectUri => new(host.Value.PublicUri, "slack/oauth/callback");

    /// <summary>The org's bot token, or null when the org has none that works (not installed, uninstalled, revoked).</summary>
    public async Task<string?> BotTokenAsync(Guid orgId, CancellationToken cancellationToken)
    {
        if (options.Value.IsSandbox) return SandboxToken;
        await using var db = system.Open("read a workspace's bot token");
        var org = await db.Orgs.AsNoTracking().SingleOrDefaultAsync(o => o.Id == orgId, cancellationToken);
        if (org is null || org.SlackDisabledAt is not null) return null;
        if (options.Value.IsSingleWorkspace) return options.Value.BotToken!.Trim();
        var installation = await db.SlackInstallations.AsNoTracking().SingleOrDefaultAsync(i => i.OrgId == orgId, cancellationToken);
        return installation is null ? null : await secrets.OpenAsync(orgId, TokenPurpose, installation.TeamId, installation.BotTokenEncrypted, cancellationToken);
    }

    /// <summary>
    /// The org of a workspace. In single-workspace mode the workspace SLACK_BOT_TOKEN belongs to becomes an org
    /// on its first request; otherwise an unknown team has not installed the app (null).
    /// </summary>
    public async Task<Org?> FindOrgAsync(string teamId, CancellationToken cancellationToken)
    {
        await using var db = system.Open("find the org of a Slack workspace");
        var org = await db.Orgs.AsNoTracking().SingleOrDefaultAsync(o => o.SlackTeamId == teamId, cancellationToken);
        if (org is not null || !options.Value.IsSingleWorkspace) return org;

        var auth = await api.AuthTestAsync(options.Value.BotToken!.Trim(), cancellationToken);
        if (auth.TeamId != teamId)
        {
            logger.LogWarning("A request came from workspace {TeamId}, but SLACK_BOT_TOKEN belongs to {TokenTeamId}; ignoring it", teamId, auth.TeamId);
            return null;
        }
        org = new Org { Name = Bounded(auth.Team), SlackTeamId = teamId };
        db.Orgs.Add(org);
        await SaveIgnoringRaceAsync(db, cancellationToken);
        logger.LogInformation("Workspace {TeamId} ({Team}) is now org {OrgId}", teamId, auth.Team, org.Id);
        return await db.Orgs.AsNoTracking().SingleAsync(o => o.SlackTeamId == teamId, cancellationToken);
    }

    /// <summary>The user behind a Slack user id; created on first contact from users.info (name, email, time zone).</summary>
    public async Task<AppUser?> FindOrCreateUserAsync(Org org, string slackUserId, CancellationToken cancellationToken)
    {
        await using (var read = system.Open("find the user behind a Slack user id"))
        {
            var known = await read.Users.AsNoTracking().SingleOrDefaultAsync(u => u.OrgId == org.Id && u.SlackUserId == slackUserId, cancellationToken);
            if (known is not null) return known;
        }
        if (await BotTokenAsync(org.Id, cancellationToken) is not { } token) return null;
        var info = await api.UserInfoAsync(token, slackUserId, cancellationToken);
        if (info.IsBot || info.Deleted) return null;
        // A single-workspace org starts with nobody: whoever installed it is the first to use it, and runs it.
        bool hasOwner;
        await using (var read = system.Open("check that an org has an owner"))
            hasOwner = await read.Users.AnyAsync(u => u.OrgId == org.Id && u.Role == UserRole.Owner, cancellationToken);
        return await AddUserAsync(org, info, hasOwner ? UserRole.Member : UserRole.Owner, cancellationToken);
    }

    /// <summary>app_uninstalled or tokens_revoked: stop using the workspace's tokens.</summary>
    public async Task DisableAsync(Org org, string reason, CancellationToken cancellationToken)
    {
        await using var db = system.Open("disable a workspace's tokens");
        await db.Orgs.Where(o => o.Id == org.Id).ExecuteUpdateAsync(s => s.SetProperty(o => o.SlackDisabledAt, clock.GetUtcNow()), cancellationToken);
        audit.Record(db, AuditEvents.SlackTokensDisabled, AuditSeverity.Medium, org.Id, null, new { reason });
        await db.SaveChangesAsync(cancellationToken);
        logger.LogWarning("Slack tokens of org {OrgId} are disabled: {Reason}", org.Id, reason);
    }

    /// <summary>Step 1 of OAuth v2: a single-use state and Slack's authorize URL.</summary>
    public async Task<Uri> StartInstallAsync(CancellationToken cancellationToken)
    {
        var (state, hash) = OneTimeToken.New();
        await using var db = system.Open("start a Slack install");
        var now = clock.GetUtcNow();
        db.SlackOAuthStates.Add(new SlackOAuthState { StateHash = hash, CreatedAt = now, ExpiresAt = now + StateLifetime });
        await db.SaveChangesAsync(cancellationToken);
        var query = QueryString.Create(new Dictionary<string, string?>
        {
            ["client_id"] = options.Value.ClientId, ["scope"] = string.Join(',', SlackScopes.Bot),
            ["redirect_uri"] = RedirectUri.ToString(), ["state"] = state,
        });
        return new Uri(new Uri(options.Value.ApiUrl), "../oauth/v2/authorize" + query);
    }

    /// <summary>Step 2: check the state (once, unexpired), exchange the code, store the token encrypted, create or reconnect the org.</summary>
    public async Task<(InstallResult Result, Org? Org)> CompleteInstallAsync(string? code, string? state, string? error, HttpContext http,
        CancellationToken cancellationToken)
    {
        await using var db = system.Open("complete a Slack install");
        var now = clock.GetUtcNow();
        var hash = OneTimeToken.HashOf(state);
        var claimed = hash is not null && await db.SlackOAuthStates
            .Where(s => s.StateHash == hash && s.UsedAt == null && s.ExpiresAt > now)
            .ExecuteUpdateAsync(s => s.SetProperty(x => x.UsedAt, now), cancellationToken) == 1;
        if (!claimed)
        {
            audit.Record(db, AuditEvents.SlackInstallRefused, AuditSeverity.Medium, null, null, new { reason = "bad_state" }, http);
            await db.SaveChangesAsync(cancellationToken);
            return (InstallResult.BadState, null);
        }
        if (error is not null || string.IsNullOrEmpty(code)) return (InstallResult.Denied, null);

        SlackOAuthAccess access;
        try
        {
            access = await api.OAuthAccessAsync(code, RedirectUri.ToString(), cancellationToken);
        }
        catch (SlackApiException e)
        {
            logger.LogWarning("Slack refused the OAuth code: {Error}", e.Error);
            return (InstallResult.Failed, null);
        }

        var org = await db.Orgs.SingleOrDefaultAsync(o => o.SlackTeamId == access.TeamId, cancellationToken);
        if (org is null)
        {
            org = new Org { Name = Bounded(access.TeamName), SlackTeamId = access.TeamId };
            db.Orgs.Add(org);
            await db.SaveChangesAsync(cancellationToken); // the org exists before its keys do (org_keys references it)
        }
        org.SlackDisabledAt = null;
        var installation = await db.SlackInstallations.SingleOrDefaultAsync(i => i.OrgId == org.Id, cancellationToken);
        if (installation is null)
        {
            installation = new SlackInstallation { OrgId = org.Id, TeamId = access.TeamId, TeamName = access.TeamName, BotTokenEncrypted = [], InstalledAt = now };
            db.SlackInstallations.Add(installation);
        }
        installation.TeamName = access.TeamName;
        installation.BotUserId = access.BotUserId;
        installation.BotTokenEncrypted = await secrets.SealAsync(org.Id, TokenPurpose, access.TeamId, access.BotToken, cancellationToken);
        installation.Scopes = access.Scopes;
        installation.InstalledBy = access.InstallerUserId;
        installation.UpdatedAt = now;
        audit.Record(db, AuditEvents.SlackInstalled, AuditSeverity.Info, org.Id, null, new { team = access.TeamId, scopes = access.Scopes }, http);
        await db.SaveChangesAsync(cancellationToken);

        // Whoever installed the app runs it: they become the org's owner if it has none yet.
        if (access.InstallerUserId is not null && !await db.Users.AnyAsync(u => u.OrgId == org.Id && u.SlackUserId == access.InstallerUserId, cancellationToken))
        {
            var hasOwner = await db.Users.AnyAsync(u => u.OrgId == org.Id && u.Role == UserRole.Owner, cancellationToken);
            var info = await api.UserInfoAsync(access.BotToken, access.InstallerUserId, cancellationToken);
            await AddUserAsync(org, info, hasOwner ? UserRole.Member : UserRole.Owner, cancellationToken);
        }
        logger.LogInformation("Workspace {TeamId} ({Team}) installed use60 as org {OrgId}", access.TeamId, access.TeamName, org.Id);
        return (InstallResult.Installed, org);
    }

    async Task<AppUser> AddUserAsync(Org org, SlackUserInfo info, UserRole role, CancellationToken cancellationToken)
    {
        await using var db = system.Open("add a Slack user on first contact");
        var email = info.Email?.Trim();
        // Someone added before they used Slack (by email) is linked rather than duplicated.
        var user = email is null ? null
            : await db.Users.SingleOrDefaultAsync(u => u.OrgId == org.Id && u.SlackUserId == null && u.Email!.ToLower() == email.ToLower(), cancellationToken);
        if (user is null)
        {
            user = new AppUser { OrgId = org.Id, Name = Bounded(info.Name), Email = email, Role = role };
            db.Users.Add(user);
        }
        user.SlackUserId = info.Id;
        if (TimeZones.TryFind(info.TimeZone, out _)) user.TimeZone = info.TimeZone!;
        await SaveIgnoringRaceAsync(db, cancellationToken);
        logger.LogInformation("Slack user {SlackUserId} joined org {OrgId} as {Role}", info.Id, org.Id, role);
        return await db.Users.AsNoTracking().SingleAsync(u => u.OrgId == org.Id && u.SlackUserId == info.Id, cancellationToken);
    }

    /// <summary>Two replicas meeting the same new workspace or user at once: the second insert loses, and reads the first's row.</summary>
    static async Task SaveIgnoringRaceAsync(Use60Db db, CancellationToken cancellationToken)
    {
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException e) when (e.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation })
        {
            db.ChangeTracker.Clear();
        }
    }

    static string Bounded(string name) => string.IsNullOrWhiteSpace(name) ? "Slack workspace" : name.Trim()[..Math.Min(name.Trim().Length, 200)];

}
