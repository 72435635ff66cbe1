using System.Collections.Concurrent;
using System.Security.Cryptography;
using Google.Apis.Auth.OAuth2;
using Google.Apis.Auth.OAuth2.Flows;
using Google.Apis.Auth.OAuth2.Responses;
using Google.Apis.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Use60.Data;
using Use60.Hosting;
using Use60.Orgs;
using Use60.Privacy;
using Use60.Security;

namespace Use60.Calendar;

public enum ConnectResult { Connected, BadState, Denied, Failed }

/// <summary>
/// Google's OAuth for a rep's calendar, through Google.Apis.Auth: the consent link (a single-use state naming the rep),
/// the callback's code exchange, the refresh token sealed at rest, and short-lived access tokens refreshed from it.
/// </summary>
public sealed class GoogleCalendarAuth : IDisposable
{
    /// <summary>Read-only: use60 reads meetings, it never changes the rep's calendar.</summary>
    public const string Scope = "https://www.googleapis.com/auth/calendar.readonly";

    public const string CallbackPath = "/calendar/google/callback";
    public static readonly TimeSpan StateLifetime = TimeSpan.FromMinutes(10);
    public const string TokenPurpose = "google-refresh-token";

    readonly GoogleOptions options;
    readonly Use60Options host;
    readonly SecretBox secrets;
    readonly TimeProvider clock;
    readonly GoogleClock googleClock;
    readonly ILogger<GoogleCalendarAuth> logger;
    readonly Lazy<GoogleAuthorizationCodeFlow> flow;
    readonly ConcurrentDictionary<Guid, (string Token, DateTimeOffset RefreshAfter)> accessTokens = new();

    /// <summary>An access token is refreshed this long before Google says it expires.</summary>
    static readonly TimeSpan RefreshMargin = TimeSpan.FromMinutes(5);

    public GoogleCalendarAuth(IOptions<GoogleOptions> options, IOptions<Use60Options> host, SecretBox secrets, TimeProvider clock,
        ILogger<GoogleCalendarAuth> logger)
    {
        this.options = options.Value;
        this.host = host.Value;
        this.secrets = secrets;
        this.clock = clock;
        googleClock = new GoogleClock(clock);
        this.logger = logger;
        flow = new(CreateFlow);
    }

    /// <summary>Google is configured and secrets can be sealed: reps may connect.</summary>
    public bool IsAvailable => options.IsConfigured && secrets.IsConfigured;

    public Uri RedirectUri => new(host.PublicUri, CallbackPath.TrimStart('/'));

    GoogleAuthorizationCodeFlow CreateFlow() => new(new Endpoints(options.AuthUrl, options.TokenUrl, new Uri(new Uri(options.TokenUrl), "revoke").ToString())
    {
        ClientSecrets = new ClientSecrets { ClientId = options.ClientId, ClientSecret = options.ClientSecret },
        Scopes = [Scope],
        // Always show consent, so Google always returns a refresh token (it omits it on a repeated grant otherwise).
        Prompt = "consent",
        Clock = googleClock,
        // A failing Google is retried by the sync's own backoff (next_sync_at), not by sleeping inside a request.
        DefaultExponentialBackOffPolicy = ExponentialBackOffPolicy.None,
    });

    /// <summary>Step 1: a single-use state for this rep, and Google's consent URL.</summary>
    public async Task<Uri> StartAsync(Use60Db db, AppUser rep, CancellationToken cancellationToken)
    {
        var (state, hash) = OneTimeToken.New();
        var now = clock.GetUtcNow();
        await db.Database.ExecuteSqlAsync($"""
            INSERT INTO calendar_oauth_states (state_hash, org_id, user_id, created_at, expires_at)
            VALUES ({hash}, {rep.OrgId}, {rep.Id}, {now}, {now + StateLifetime})
            """, cancellationToken);
        var request = flow.Value.CreateAuthorizationCodeRequest(RedirectUri.ToString());
        request.State = state;
        if (rep.Email is { Length: > 0 } email) ((Google.Apis.Auth.OAuth2.Requests.GoogleAuthorizationCodeRequestUrl)request).LoginHint = email;
        return request.Build();
    }

    public sealed record Connected(Guid OrgId, Guid UserId, string? AccountEmail);

    /// <summary>
    /// Step 2, from Google's redirect: the state is claimed (once, unexpired), the code exchanged, and the refresh token
    /// stored sealed. Returns who connected on success.
    /// </summary>
    public async Task<(ConnectResult Result, Connected? Who)> CompleteAsync(SystemDb system, SecurityAudit audit, GoogleCalendarClient client,
        string? code, string? state, string? error, HttpContext http, CancellationToken cancellationToken)
    {
        await using var db = system.Open("complete a Google Calendar connect");
        var now = clock.GetUtcNow();
        var hash = OneTimeToken.HashOf(state);
        var claimed = hash is null ? null : await db.Database.SqlQuery<StateOwner>($"""
            UPDATE calendar_oauth_states SET used_at = {now}
            WHERE state_hash = {hash} AND used_at IS NULL AND expires_at > {now}
            RETURNING org_id AS "OrgId", user_id AS "UserId"
            """).AsAsyncEnumerable().SingleOrDefaultAsync(cancellationToken);
        if (claimed is null)
        {
            audit.Record(db, AuditEvents.CalendarConnectRefused, AuditSeverity.Medium, null, null, new { reason = "bad_state" }, http);
            await db.SaveChangesAsync(cancellationToken);
            return (ConnectResult.BadState, null);
        }
        if (error is not null || string.IsNullOrEmpty(code))
        {
            logger.LogInformation("User {UserId} declined Google Calendar access ({Error})", claimed.UserId, error ?? "no code");
            return (ConnectResult.Denied, null);
        }

        TokenResponse token;
        string? account;
        try
        {
            token = await flow.Value.ExchangeCodeForTokenAsync(claimed.UserId.ToString(), code, RedirectUri.ToString(), cancellationToken);
            if (string.IsNullOrEmpty(token.RefreshToken)) throw new InvalidOperationException("Google returned no refresh token.");
            account = await client.PrimaryCalendarIdAsync(token.AccessToken, cancellationToken);
        }
        catch (Exception e) when (e is TokenResponseException or GoogleCalendarException or InvalidOperationException or HttpRequestException)
        {
            logger.LogWarning("Google Calendar connect of user {UserId} failed: {Reason}", claimed.UserId, Describe(e));
            return (ConnectResult.Failed, null);
        }

        var connection = await db.CalendarConnections.SingleOrDefaultAsync(c => c.OrgId == claimed.OrgId && c.UserId == claimed.UserId, cancellationToken);
        if (connection is null)
        {
            connection = new CalendarConnection { OrgId = claimed.OrgId, UserId = claimed.UserId, RefreshTokenEncrypted = [] };
            db.CalendarConnections.Add(connection);
        }
        connection.RefreshTokenEncrypted = await SealAsync(claimed.OrgId, claimed.UserId, token.RefreshToken, cancellationToken);
        connection.AccountEmail = account;
        connection.Status = CalendarConnectionStatus.Active;
        connection.ConnectedAt = now;
        connection.Failures = 0;
        connection.NextSyncAt = null;
        connection.LastError = null;
        // A (re)connected account starts with a full sync: another account's sync token means nothing for it.
        await db.Database.ExecuteSqlAsync($"DELETE FROM calendar_sync_tokens WHERE org_id = {claimed.OrgId} AND user_id = {claimed.UserId}", cancellationToken);
        audit.Record(db, AuditEvents.CalendarConnected, AuditSeverity.Info, claimed.OrgId, claimed.UserId, new { provider = "google", scope = Scope }, http);
        await db.SaveChangesAsync(cancellationToken);
        Remember(claimed.UserId, token);
        logger.LogInformation("User {UserId} connected Google Calendar", claimed.UserId);
        return (ConnectResult.Connected, new Connected(claimed.OrgId, claimed.UserId, account));
    }

    sealed record StateOwner(Guid OrgId, Guid UserId);

    /// <summary>A current access token for the rep, refreshed from the sealed refresh token when the cached one is stale.</summary>
    /// <exception cref="GoogleCalendarException">AccessRevoked when Google refuses the refresh token; Unavailable when it cannot answer.</exception>
    public async Task<string> AccessTokenAsync(CalendarConnection connection, CancellationToken cancellationToken)
    {
        if (accessTokens.TryGetValue(connection.UserId, out var cached) && clock.GetUtcNow() < cached.RefreshAfter) return cached.Token;
        string refreshToken;
        try
        {
            refreshToken = await secrets.OpenAsync(connection.OrgId, TokenPurpose, connection.UserId.ToString(), connection.RefreshTokenEncrypted, cancellationToken);
        }
        catch (CryptographicException e)
        {
            throw new GoogleCalendarException(GoogleFailure.AccessRevoked, "The stored Google token cannot be decrypted (was USE60_MASTER_KEY changed?).", inner: e);
        }
        try
        {
            var token = await flow.Value.RefreshTokenAsync(connection.UserId.ToString(), refreshToken, cancellationToken);
            Remember(connection.UserId, token);
            return token.AccessToken;
        }
        catch (TokenResponseException e) when (e.Error?.Error == "invalid_grant")
        {
            throw new GoogleCalendarException(GoogleFailure.AccessRevoked, "Google no longer accepts use60's access to this calendar (invalid_grant).", inner: e);
        }
        catch (Exception e) when (e is TokenResponseException or HttpRequestException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            throw new GoogleCalendarException(GoogleFailure.Unavailable, "Google's token endpoint failed: " + Describe(e), inner: e);
        }
    }

    void Remember(Guid userId, TokenResponse token) =>
        accessTokens[userId] = (token.AccessToken, clock.GetUtcNow() + TimeSpan.FromSeconds(token.ExpiresInSeconds ?? 0) - RefreshMargin);

    /// <summary>Drops the cached access token (Google refused it), so the next call refreshes.</summary>
    public void Forget(Guid userId) => accessTokens.TryRemove(userId, out _);

    /// <summary>Disconnect: tells Google to revoke the grant (best effort: the row is deleted whatever Google says).</summary>
    public async Task RevokeAsync(CalendarConnection connection, CancellationToken cancellationToken)
    {
        Forget(connection.UserId);
        try
        {
            var refreshToken = await secrets.OpenAsync(connection.OrgId, TokenPurpose, connection.UserId.ToString(), connection.RefreshTokenEncrypted, cancellationToken);
            await flow.Value.RevokeTokenAsync(connection.UserId.ToString(), refreshToken, cancellationToken);
        }
        // Google.Apis throws a NullReferenceException for an error without a JSON body; any failure here only means Google did not confirm.
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning("Google did not confirm revoking the calendar grant of user {UserId}: {Reason}", connection.UserId, Describe(e));
        }
    }

    Task<byte[]> SealAsync(Guid orgId, Guid userId, string refreshToken, CancellationToken cancellationToken) =>
        secrets.SealAsync(orgId, TokenPurpose, userId.ToString(), refreshToken, cancellationToken);

    /// <summary>What went wrong, without echoing anything secret (Google's error code and description only).</summary>
    static string Describe(Exception e) => e is TokenResponseException t ? $"{t.Error?.Error} {t.Error?.ErrorDescription}".Trim() : e.Message;

    public void Dispose()
    {
        if (flow.IsValueCreated) flow.Value.Dispose();
    }

    /// <summary>Google's flow with configurable endpoints (the tests' fake Google); the base constructor is protected.</summary>
    sealed class Endpoints(string authUrl, string tokenUrl, string revokeUrl) : GoogleAuthorizationCodeFlow.Initializer(authUrl, tokenUrl, revokeUrl);

    /// <summary>Google.Apis's clock, from the app's <see cref="TimeProvider"/>: token expiry follows the same time as everything else.</summary>
    sealed class GoogleClock(TimeProvider clock) : Google.Apis.Util.IClock
    {
        public DateTime Now => clock.GetLocalNow().DateTime;
        public DateTime UtcNow => clock.GetUtcNow().UtcDateTime;
    }
}
