using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.OAuth;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Use60.Data;
using Use60.Orgs;
using Use60.Security;
using Use60.Slack;

namespace Use60.Admin;

/// <summary>
/// "Sign in with Slack" for the admin site, when SLACK_CLIENT_ID and SLACK_CLIENT_SECRET are set: Slack's OpenID Connect
/// endpoints through ASP.NET Core's OAuth handler, which checks the state (and its correlation cookie); the nonce sent with the
/// request must come back in the ID token. The Slack user is found by workspace and user id, and gets an admin session like a
/// sign-in link gives.
/// </summary>
public static class SlackSignIn
{
    public const string Scheme = "slack-oidc";
    public const string StartPath = "/admin/signin/slack", CallbackPath = "/admin/signin/slack/callback";
    const string NonceKey = "nonce";

    public static AuthenticationBuilder AddSlackSignIn(this AuthenticationBuilder authentication)
    {
        // Configured from SlackOptions when first used; RemoveUnlessConfigured drops the scheme when there is no Slack client.
        authentication.Services.AddOptions<OAuthOptions>(Scheme).Configure<IOptions<SlackOptions>>((options, slackOptions) =>
        {
            var slack = slackOptions.Value;
            var api = new Uri(slack.ApiUrl.TrimEnd('/') + "/");
            options.ClientId = slack.ClientId!;
            options.ClientSecret = slack.ClientSecret!;
            options.AuthorizationEndpoint = new Uri(api, "../openid/connect/authorize").ToString();
            options.TokenEndpoint = new Uri(api, "openid.connect.token").ToString();
        });
        return authentication.AddOAuth(Scheme, "Slack", options =>
        {
            options.CallbackPath = CallbackPath;
            options.SignInScheme = AdminClaims.Scheme;
            options.Scope.Clear();
            foreach (var scope in SlackScopes.SignIn) options.Scope.Add(scope);
            options.CorrelationCookie.Path = "/admin";
            options.CorrelationCookie.SameSite = SameSiteMode.Lax;
            // Like the admin cookie: Secure over HTTPS, and still usable on a local http:// install.
            options.CorrelationCookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            options.Events.OnRedirectToAuthorizationEndpoint = context =>
            {
                // The nonce rides in the protected state too, so the callback knows which one to expect in the ID token.
                var nonce = context.Properties.Items[NonceKey]!;
                context.Response.Redirect(context.RedirectUri + "&nonce=" + Uri.EscapeDataString(nonce));
                return Task.CompletedTask;
            };
            options.Events.OnCreatingTicket = CreatingTicketAsync;
            options.Events.OnRemoteFailure = context =>
            {
                var reason = context.Failure?.Message ?? "";
                context.HttpContext.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(SlackSignIn))
                    .LogWarning("Sign in with Slack failed: {Reason}", reason);
                context.Response.Redirect("/admin/signin?failed=" + Uri.EscapeDataString(reason.StartsWith("use60:", StringComparison.Ordinal) ? reason[6..] : "slack"));
                context.HandleResponse();
                return Task.CompletedTask;
            };
        });
    }

    /// <summary>Without SLACK_CLIENT_ID and SLACK_CLIENT_SECRET there is no Slack sign-in (its handler would refuse every request otherwise).</summary>
    public static void RemoveUnlessConfigured(IServiceProvider services)
    {
        var slack = services.GetRequiredService<IOptions<SlackOptions>>().Value;
        if (string.IsNullOrWhiteSpace(slack.ClientId) || string.IsNullOrWhiteSpace(slack.ClientSecret))
            services.GetRequiredService<IAuthenticationSchemeProvider>().RemoveScheme(Scheme);
    }

    /// <summary>Starts the flow with a fresh nonce.</summary>
    public static IResult Start() => Results.Challenge(new AuthenticationProperties
    {
        RedirectUri = "/admin",
        Items = { [NonceKey] = Convert.ToHexString(RandomNumberGenerator.GetBytes(16)) },
    }, [Scheme]);

    static async Task CreatingTicketAsync(OAuthCreatingTicketContext context)
    {
        var claims = IdTokenClaims(context.TokenResponse.Response?.RootElement.TryGetProperty("id_token", out var token) == true ? token.GetString() : null);
        string? Claim(string name) => claims.TryGetValue(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
        if (Claim("nonce") is not { } nonce || !context.Properties.Items.TryGetValue(NonceKey, out var expected) || nonce != expected)
            throw new AuthenticationFailureException("use60:nonce");
        if (Claim("aud") != context.Options.ClientId) throw new AuthenticationFailureException("use60:audience");
        var team = Claim("https://slack.com/team_id");
        var slackUser = Claim("https://slack.com/user_id") ?? Claim("sub");
        if (team is null || slackUser is null) throw new AuthenticationFailureException("use60:claims");

        var services = context.HttpContext.RequestServices;
        await using var db = services.GetRequiredService<SystemDb>().Open("sign in with Slack");
        var user = await (from u in db.Users.AsNoTracking()
                          join o in db.Orgs.AsNoTracking() on u.OrgId equals o.Id
                          where o.SlackTeamId == team && u.SlackUserId == slackUser
                          select u).SingleOrDefaultAsync(context.HttpContext.RequestAborted);
        if (user is null)
        {
            services.GetRequiredService<SecurityAudit>().Record(db, AuditEvents.AdminSignInFailed, AuditSeverity.Low, null, null,
                new { method = "slack", reason = "unknown_user", team }, context.HttpContext);
            await db.SaveChangesAsync(context.HttpContext.RequestAborted);
            throw new AuthenticationFailureException("use60:unknown");
        }
        var session = await services.GetRequiredService<AdminLoginLinks>().OpenSessionAsync(db, user, "slack", null, context.HttpContext,
            context.HttpContext.RequestAborted);
        context.Principal = AdminClaims.Create(user, session);
    }

    /// <summary>
    /// The ID token's claims. It came straight from Slack's token endpoint over TLS in exchange for our code and secret, so (as
    /// OpenID Connect Core 3.1.3.7 allows for this flow) its signature is not checked again; its audience and nonce are.
    /// </summary>
    static Dictionary<string, JsonElement> IdTokenClaims(string? idToken)
    {
        var parts = idToken?.Split('.') ?? [];
        if (parts.Length != 3) throw new AuthenticationFailureException("use60:token");
        try
        {
            var payload = System.Buffers.Text.Base64Url.DecodeFromChars(parts[1]);
            return JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(payload) ?? throw new AuthenticationFailureException("use60:token");
        }
        catch (Exception e) when (e is FormatException or JsonException)
        {
            throw new AuthenticationFailureException("use60:token");
        }
    }
}
