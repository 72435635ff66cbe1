using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.EntityFrameworkCore;
using Use60.Admin;
using Use60.Data;
using Use60.Orgs;
using Use60.Security;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>"Sign in with Slack" through Slack's OpenID Connect endpoints (the fake Slack on loopback): state and nonce checked.</summary>
public sealed class SlackSignInTests
{
    const string ClientId = "1234.5678";

    [Fact]
    public async Task Sign_in_with_slack_checks_state_and_nonce_and_opens_an_admin_session_for_the_slack_user()
    {
        await using var slack = await FakeSlack.StartAsync();
        await using var database = await TestDatabase.CreateAsync();
        await using var app = new Use60App(database, new Dictionary<string, string?>
        {
            ["Slack:SigningSecret"] = SlackRequests.Secret, ["Slack:ClientId"] = ClientId, ["Slack:ClientSecret"] = "client-secret",
            ["Slack:ApiUrl"] = slack.ApiUrl, ["Privacy:MasterKey"] = Convert.ToBase64String(new byte[32]),
        });
        var org = await TestData.CreateOrgAsync(app.Services, "Slackers", UserRole.Owner, UserRole.Member);
        var owner = org[0];

        var browser = app.Browser();
        var signIn = await AdminPages.HtmlAsync(await browser.GetAsync("/admin/signin"));
        Assert.Equal(SlackSignIn.StartPath, signIn.QuerySelector("[data-field=slack]")!.GetAttribute("href"));

        // A good round trip: the nonce Slack is given comes back in the ID token.
        var (state, nonce) = await StartAsync(browser, slack);
        slack.Script("openid.connect.token", new FakeSlack.Scripted(200, TokenResponse(nonce, org.Org.SlackTeamId!, owner.SlackUserId!)));
        var landed = await browser.GetAsync($"{SlackSignIn.CallbackPath}?code=the-code&state={Uri.EscapeDataString(state)}");
        Assert.Equal("/admin", landed.Headers.Location?.OriginalString);
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/admin")).StatusCode);
        var exchange = slack.CallsOf("openid.connect.token").Last();
        Assert.Equal(("the-code", "authorization_code"), (exchange.Args["code"], exchange.Args["grant_type"]));
        await using (var db = app.Service<SystemDb>().Open("test"))
        {
            var entry = await db.SecurityAuditLog.AsNoTracking().Where(a => a.UserId == owner.Id && a.EventType == AuditEvents.AdminSignIn).SingleAsync();
            Assert.Equal("slack", (string)JsonNode.Parse(entry.Details)!["method"]!);
        }

        // A replayed or forged state, a nonce that does not match, or someone Slack knows but use60 does not: no session.
        var other = app.Browser();
        Assert.Contains("failed=", (await other.GetAsync($"{SlackSignIn.CallbackPath}?code=x&state={Uri.EscapeDataString(state)}")).Headers.Location?.OriginalString);
        (state, _) = await StartAsync(other, slack);
        slack.Script("openid.connect.token", new FakeSlack.Scripted(200, TokenResponse("not-the-nonce", org.Org.SlackTeamId!, owner.SlackUserId!)));
        Assert.Equal("/admin/signin?failed=nonce", (await other.GetAsync($"{SlackSignIn.CallbackPath}?code=c&state={Uri.EscapeDataString(state)}")).Headers.Location?.OriginalString);
        Assert.Equal(HttpStatusCode.Redirect, (await other.GetAsync("/admin")).StatusCode);
        (state, nonce) = await StartAsync(other, slack);
        slack.Script("openid.connect.token", new FakeSlack.Scripted(200, TokenResponse(nonce, org.Org.SlackTeamId!, "U0STRANGER")));
        var unknown = await other.GetAsync($"{SlackSignIn.CallbackPath}?code=c&state={Uri.EscapeDataString(state)}");
        Assert.Equal("/admin/signin?failed=unknown", unknown.Headers.Location?.OriginalString);
        Assert.Contains("not a member of an org here", (await AdminPages.HtmlAsync(await other.GetAsync(unknown.Headers.Location))).QuerySelector("[data-field=problem]")!.TextContent);

        // A member signs in fine, and meets the 403 page like any member.
        (state, nonce) = await StartAsync(other, slack);
        slack.Script("openid.connect.token", new FakeSlack.Scripted(200, TokenResponse(nonce, org.Org.SlackTeamId!, org[1].SlackUserId!)));
        await other.GetAsync($"{SlackSignIn.CallbackPath}?code=c&state={Uri.EscapeDataString(state)}");
        Assert.Equal("/admin/forbidden", (await other.GetAsync("/admin")).Headers.Location?.AbsolutePath);
    }

    [Fact]
    public async Task Without_a_slack_client_there_is_no_slack_button_and_the_start_path_goes_back_to_sign_in()
    {
        await using var database = await TestDatabase.CreateAsync();
        await using var app = new Use60App(database);
        var browser = app.Browser();
        Assert.Null((await AdminPages.HtmlAsync(await browser.GetAsync("/admin/signin"))).QuerySelector("[data-field=slack]"));
        Assert.Equal("/admin/signin", (await browser.GetAsync(SlackSignIn.StartPath)).Headers.Location?.OriginalString);
    }

    /// <summary>Follows "Sign in with Slack" to Slack's authorize URL: checks what it asks for, and returns its state and nonce.</summary>
    static async Task<(string State, string Nonce)> StartAsync(HttpClient browser, FakeSlack slack)
    {
        var start = await browser.GetAsync(SlackSignIn.StartPath);
        Assert.Equal(HttpStatusCode.Redirect, start.StatusCode);
        var authorize = start.Headers.Location!;
        Assert.Equal(new Uri(slack.BaseAddress, "openid/connect/authorize").AbsolutePath, authorize.AbsolutePath);
        var query = QueryHelpers.ParseQuery(authorize.Query);
        Assert.Equal((ClientId, "openid email profile", "code"), (query["client_id"].ToString(), query["scope"].ToString(), query["response_type"].ToString()));
        Assert.EndsWith(SlackSignIn.CallbackPath, query["redirect_uri"].ToString());
        return (query["state"].ToString(), query["nonce"].ToString());
    }

    static JsonObject TokenResponse(string nonce, string team, string user)
    {
        static string Part(JsonObject json) => Convert.ToBase64String(Encoding.UTF8.GetBytes(json.ToJsonString())).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var idToken = Part(new JsonObject { ["alg"] = "RS256", ["typ"] = "JWT" }) + "." + Part(new JsonObject
        {
            ["iss"] = "https://slack.com", ["aud"] = ClientId, ["sub"] = user, ["nonce"] = nonce, ["https://slack.com/team_id"] = team,
            ["https://slack.com/user_id"] = user, ["email"] = "someone@example.com",
        }) + ".c2lnbmF0dXJl";
        return new JsonObject { ["ok"] = true, ["access_token"] = "xoxp-oidc", ["token_type"] = "Bearer", ["id_token"] = idToken };
    }
}
