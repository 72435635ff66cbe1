using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using Use60.Data;
using Use60.Orgs;
using Use60.Slack;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>Multi-workspace installs through OAuth v2, and Socket Mode, each against the fake Slack.</summary>
public sealed class SlackConnectionsTests
{
    [Fact]
    public async Task An_oauth_install_stores_the_bot_token_encrypted_creates_the_org_and_its_owner_and_the_token_then_works()
    {
        await using var slack = await FakeSlack.StartAsync();
        slack.TeamId = "T0OAUTH0001";
        await using var database = await TestDatabase.CreateAsync();
        await using var app = new Use60App(database, new Dictionary<string, string?>
        {
            ["Slack:SigningSecret"] = SlackRequests.Secret, ["Slack:ClientId"] = "1234.5678", ["Slack:ClientSecret"] = "client-secret",
            ["Slack:ApiUrl"] = slack.ApiUrl, ["Privacy:MasterKey"] = Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray()),
        });
        var browser = app.Browser();

        var start = await browser.GetAsync("slack/install");
        Assert.Equal(HttpStatusCode.Redirect, start.StatusCode);
        var authorize = start.Headers.Location!;
        Assert.Equal(new Uri(slack.BaseAddress, "oauth/v2/authorize").AbsolutePath, authorize.AbsolutePath);
        var query = QueryHelpers.ParseQuery(authorize.Query);
        Assert.Equal("1234.5678", query["client_id"]);
        Assert.Equal(string.Join(',', SlackScopes.Bot), query["scope"]);
        Assert.Equal("http://127.0.0.1:5175/slack/oauth/callback", query["redirect_uri"]);
        var state = query["state"].ToString();

        Assert.Equal(HttpStatusCode.BadRequest, (await browser.GetAsync("slack/oauth/callback?code=abc&state=forged")).StatusCode);
        var done = await browser.GetAsync($"slack/oauth/callback?code=the-code&state={state}");
        Assert.Equal(HttpStatusCode.OK, done.StatusCode);
        Assert.Contains("use60 is installed", await done.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.BadRequest, (await browser.GetAsync($"slack/oauth/callback?code=the-code&state={state}")).StatusCode);
        var exchange = Assert.Single(slack.CallsOf("oauth.v2.access"));
        Assert.Equal(("the-code", "client-secret"), (exchange.Args["code"], exchange.Args["client_secret"]));

        await using (var db = app.Service<SystemDb>().Open("test"))
        {
            var org = await db.Orgs.AsNoTracking().SingleAsync(o => o.SlackTeamId == "T0OAUTH0001");
            var installation = await db.SlackInstallations.AsNoTracking().SingleAsync(i => i.OrgId == org.Id);
            Assert.Equal(("Fake Team", "U0BOT"), (installation.TeamName, installation.BotUserId));
            var owner = await db.Users.AsNoTracking().SingleAsync(u => u.OrgId == org.Id);
            Assert.Equal(("U0INSTALLER", UserRole.Owner), (owner.SlackUserId, owner.Role));
            Assert.Equal(slack.BotToken, await app.Service<SlackWorkspaces>().BotTokenAsync(org.Id, CancellationToken.None));
        }
        Assert.Equal(0, await CountPlaintextAsync(database, slack.BotToken));

        // The stored token is the one used for the workspace's replies.
        var requests = new SlackRequests(app.Client(), SlackRequests.Secret, slack.TeamId);
        Assert.Contains("sent you a sign-in link", await (await requests.CommandAsync("U0INSTALLER", "login")).Content.ReadAsStringAsync());
        await FakeSlack.WaitUntilAsync(() => slack.CallsOf("chat.postMessage").Any(), "the DM with the link");
        Assert.All(slack.CallsOf("chat.postMessage"), c => Assert.Equal(slack.BotToken, c.Token));

        // tokens_revoked: nothing more is sent with that token.
        await requests.EventAsync(new JsonObject
        {
            ["type"] = "event_callback", ["team_id"] = slack.TeamId, ["event_id"] = "Ev0REVOKED1",
            ["event"] = new JsonObject { ["type"] = "tokens_revoked", ["tokens"] = new JsonObject { ["bot"] = new JsonArray("U0BOT") } },
        });
        await using (var db = app.Service<SystemDb>().Open("test"))
            await FakeSlack.WaitUntilAsync(() => db.Orgs.AsNoTracking().Single(o => o.SlackTeamId == slack.TeamId).SlackDisabledAt is not null, "the org disabled");
        var orgId = (await app.Service<SlackWorkspaces>().FindOrgAsync(slack.TeamId, CancellationToken.None))!.Id;
        Assert.Null(await app.Service<SlackWorkspaces>().BotTokenAsync(orgId, CancellationToken.None));
    }

    [Fact]
    public async Task Socket_mode_receives_envelopes_acks_them_with_the_answer_and_reconnects_after_a_drop_or_a_disconnect()
    {
        await using var slack = await FakeSlack.StartAsync();
        await using var database = await TestDatabase.CreateAsync();
        await using var app = new Use60App(database, new Dictionary<string, string?>
        {
            ["Slack:AppToken"] = "xapp-1-socket-test", ["Slack:BotToken"] = slack.BotToken, ["Slack:ApiUrl"] = slack.ApiUrl,
        });
        var org = await TestData.CreateOrgAsync(app.Services, "Socketry", UserRole.Owner, UserRole.Member);
        slack.TeamId = org.Org.SlackTeamId!;
        var requests = new SlackRequests(app.Client(), SlackRequests.Secret, slack.TeamId);
        _ = app.BaseAddress; // starts the app, and with it the Socket Mode client

        await FakeSlack.WaitUntilAsync(() => slack.SocketConnections == 1, "the first connection");
        Assert.Equal("xapp-1-socket-test", Assert.Single(slack.CallsOf("apps.connections.open")).Token);

        await slack.SendAsync(new JsonObject
        {
            ["type"] = "events_api", ["envelope_id"] = "env-event-1", ["accepts_response_payload"] = false,
            ["payload"] = requests.DirectMessage("Ev0SOCKET01", org[1].SlackUserId!, "hi over a socket"),
        });
        await FakeSlack.WaitUntilAsync(() => slack.SocketAcks.Any(a => a["envelope_id"]?.GetValue<string>() == "env-event-1"), "the event's ack");
        await FakeSlack.WaitUntilAsync(() => slack.CallsOf("chat.postMessage").Any(c => c.Args["channel"] == "D" + org[1].SlackUserId), "the reply");

        await slack.SendAsync(new JsonObject
        {
            ["type"] = "slash_commands", ["envelope_id"] = "env-command-1", ["accepts_response_payload"] = true,
            ["payload"] = new JsonObject
            {
                ["team_id"] = slack.TeamId, ["user_id"] = org[1].SlackUserId, ["command"] = "/sixty", ["text"] = "help",
                ["channel_id"] = "C0GENERAL", ["response_url"] = slack.ResponseUrl("socket"), ["trigger_id"] = "123.456.socket",
            },
        });
        await FakeSlack.WaitUntilAsync(() => slack.SocketAcks.Any(a => a["envelope_id"]?.GetValue<string>() == "env-command-1"), "the command's ack");
        var ack = slack.SocketAcks.Single(a => a["envelope_id"]?.GetValue<string>() == "env-command-1");
        Assert.Contains("Here is what I can do", ack["payload"]!["text"]!.GetValue<string>());

        await slack.DropSocketAsync();
        await FakeSlack.WaitUntilAsync(() => slack.SocketConnections == 2, "a reconnect after the drop");
        await slack.SendAsync(new JsonObject { ["type"] = "disconnect", ["reason"] = "refresh_requested" });
        await FakeSlack.WaitUntilAsync(() => slack.SocketConnections == 3, "a reconnect after a disconnect message");

        // With no signing secret (Socket Mode only), nothing is accepted over HTTP.
        Assert.Equal(HttpStatusCode.Unauthorized, (await requests.CommandAsync(org[1].SlackUserId!, "help")).StatusCode);
    }

    /// <summary>Rows of any table whose text form contains <paramref name="secret"/>, plus bytea columns holding its bytes.</summary>
    static async Task<long> CountPlaintextAsync(TestDatabase database, string secret)
    {
        await using var connection = new NpgsqlConnection(database.OwnerConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT set_config('app.system', 'on', false)", connection);
        await command.ExecuteNonQueryAsync();
        command.CommandText = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'";
        var tables = new List<string>();
        await using (var reader = await command.ExecuteReaderAsync())
            while (await reader.ReadAsync()) tables.Add(reader.GetString(0));
        command.Parameters.Add(new NpgsqlParameter { Value = secret });
        long found = 0;
        foreach (var table in tables)
        {
            command.CommandText = $"SELECT count(*) FROM \"{table}\" t WHERE t::text LIKE '%' || $1 || '%'";
            found += (long)(await command.ExecuteScalarAsync())!;
        }
        command.CommandText = "SELECT count(*) FROM slack_installations WHERE position(convert_to($1, 'UTF8') IN bot_token_encrypted) > 0";
        return found + (long)(await command.ExecuteScalarAsync())!;
    }
}
