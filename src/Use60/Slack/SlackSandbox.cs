using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.EntityFrameworkCore;
using Use60.Data;
using Use60.Orgs;

using static Use60.Slack.SlackJson;

namespace Use60.Slack;

/// <summary>
/// Slack's Web API as the local sandbox plays it (no Slack configured): each rep's DM with the bot is rows in
/// slack_sandbox_messages, a modal is a row in slack_sandbox_views. Channel D{user id} is that user's DM.
/// </summary>
public sealed class SandboxSlackTransport(SystemDb system, TimeProvider clock) : ISlackTransport
{
    public const string ResponseUrlPrefix = "https://sandbox.use60.invalid/respond/";
    long lastTs;

    public static string DmChannelOf(string slackUserId) => "D" + slackUserId;

    /// <summary>A response_url for a user; one for a click also names the clicked message, which replace_original edits.</summary>
    public static string ResponseUrlFor(AppUser user, string? messageTs = null) =>
        $"{ResponseUrlPrefix}{user.OrgId}/{user.Id}/{Guid.NewGuid():N}" + (messageTs is null ? "" : "/" + messageTs);

    /// <summary>A trigger id names the user it was issued to, so views.open knows whose screen the modal goes to.</summary>
    public static string TriggerFor(AppUser user) => $"sandbox.{user.OrgId}.{user.Id}.{Guid.NewGuid():N}";

    public async Task<JsonObject> CallAsync(string method, IReadOnlyDictionary<string, string> arguments, string? token,
        CancellationToken cancellationToken)
    {
        await using var db = system.Open("the Slack sandbox");
        switch (method)
        {
            case "chat.postMessage":
            case "chat.postEphemeral":
            {
                var user = await DmUserAsync(db, method == "chat.postEphemeral" ? "D" + arguments["user"] : arguments["channel"], cancellationToken);
                if (user is null) return Error("channel_not_found");
                var ts = await AddMessageAsync(db, user, MessageOf(arguments), fromBot: true, ephemeral: method == "chat.postEphemeral", cancellationToken);
                return Ok(new() { ["channel"] = DmChannelOf(user.SlackUserId!), ["ts"] = ts, ["message_ts"] = ts });
            }
            case "chat.update":
            {
                var user = await DmUserAsync(db, arguments["channel"], cancellationToken);
                var ts = arguments["ts"];
                var message = user is null ? null : await db.SandboxMessages.SingleOrDefaultAsync(m => m.OrgId == user.OrgId && m.Ts == ts, cancellationToken);
                if (message is null) return Error("message_not_found");
                message.Message = MessageOf(arguments).ToJsonString();
                message.EditedAt = clock.GetUtcNow();
                await db.SaveChangesAsync(cancellationToken);
                return Ok(new() { ["channel"] = arguments["channel"], ["ts"] = ts });
            }
            case "conversations.open":
                return await DmUserAsync(db, "D" + arguments["users"], cancellationToken) is { } dmUser
                    ? Ok(new() { ["channel"] = new JsonObject { ["id"] = DmChannelOf(dmUser.SlackUserId!) } })
                    : Error("user_not_found");
            case "users.info":
            case "users.lookupByEmail":
            {
                var user = method == "users.info"
                    ? await db.Users.AsNoTracking().FirstOrDefaultAsync(u => u.SlackUserId == arguments["user"], cancellationToken)
                    : await db.Users.AsNoTracking().FirstOrDefaultAsync(u => u.Email!.ToLower() == arguments["email"].ToLower() && u.SlackUserId != null, cancellationToken);
                return user is null ? Error("user_not_found") : Ok(new()
                {
                    ["user"] = new JsonObject
                    {
                        ["id"] = user.SlackUserId, ["name"] = user.Name, ["real_name"] = user.Name, ["tz"] = user.TimeZone,
                        ["profile"] = new JsonObject { ["real_name"] = user.Name, ["email"] = user.Email },
                    },
                });
            }
            case "views.open":
            {
                var parts = arguments["trigger_id"].Split('.');
                if (parts is not ["sandbox", var org, var userId, _] || !Guid.TryParse(org, out var orgId) || !Guid.TryParse(userId, out var uid))
                    return Error("invalid_trigger_id");
                var viewId = "V" + Guid.NewGuid().ToString("N")[..10].ToUpperInvariant();
                await db.SandboxViews.Where(v => v.OrgId == orgId && v.UserId == uid && v.ClosedAt == null)
                    .ExecuteUpdateAsync(s => s.SetProperty(v => v.ClosedAt, clock.GetUtcNow()), cancellationToken);
                db.SandboxViews.Add(new SandboxView { ViewId = viewId, OrgId = orgId, UserId = uid, View = arguments["view"], OpenedAt = clock.GetUtcNow() });
                await db.SaveChangesAsync(cancellationToken);
                return Ok(new() { ["view"] = new JsonObject { ["id"] = viewId } });
            }
            case "views.update":
            {
                var updated = await db.SandboxViews.Where(v => v.ViewId == arguments["view_id"] && v.ClosedAt == null)
                    .ExecuteUpdateAsync(s => s.SetProperty(v => v.View, arguments["view"]), cancellationToken);
                return updated == 1 ? Ok(new() { ["view"] = new JsonObject { ["id"] = arguments["view_id"] } }) : Error("not_found");
            }
            case "views.publish":
            case "auth.test":
                return Ok(new() { ["team_id"] = "", ["user_id"] = "B0SANDBOX" });
            default:
                return Error("unknown_method");
        }
    }

    public async Task PostToResponseUrlAsync(string responseUrl, JsonObject body, CancellationToken cancellationToken)
    {
        var parts = responseUrl.StartsWith(ResponseUrlPrefix, StringComparison.Ordinal) ? responseUrl[ResponseUrlPrefix.Length..].Split('/') : [];
        if (parts.Length is not (3 or 4) || !Guid.TryParse(parts[0], out var orgId) || !Guid.TryParse(parts[1], out var uid))
            throw new SlackApiException("response_url", "expired_url", SlackFailure.Permanent);
        await using var db = system.Open("the Slack sandbox");
        var user = await db.Users.AsNoTracking().SingleAsync(u => u.OrgId == orgId && u.Id == uid, cancellationToken);
        if (body["replace_original"]?.GetValue<bool>() == true && parts is [_, _, _, var ts])
        {
            body.Remove("replace_original");
            var replaced = await db.SandboxMessages.Where(m => m.UserId == uid && m.Ts == ts)
                .ExecuteUpdateAsync(s => s.SetProperty(m => m.Message, body.ToJsonString()).SetProperty(m => m.EditedAt, clock.GetUtcNow()), cancellationToken);
            if (replaced == 1) return;
        }
        var ephemeral = body["response_type"]?.GetValue<string>() != "in_channel";
        await AddMessageAsync(db, user, body, fromBot: true, ephemeral, cancellationToken);
    }

    /// <summary>Stores a message in a rep's DM; returns its ts.</summary>
    public async Task<string> AddMessageAsync(Use60Db db, AppUser user, JsonObject message, bool fromBot, bool ephemeral, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var ts = NextTs(now);
        message.Remove("response_type");
        db.SandboxMessages.Add(new SandboxMessage
        {
            OrgId = user.OrgId, UserId = user.Id, Ts = ts, FromBot = fromBot, Ephemeral = ephemeral, Message = message.ToJsonString(), PostedAt = now,
        });
        await db.SaveChangesAsync(cancellationToken);
        return ts;
    }

    /// <summary>Slack's ts: seconds.microseconds, unique within the sandbox.</summary>
    string NextTs(DateTimeOffset now)
    {
        var micros = now.ToUnixTimeMilliseconds() * 1000;
        long last, next;
        do
        {
            last = Interlocked.Read(ref lastTs);
            next = Math.Max(micros, last + 1);
        } while (Interlocked.CompareExchange(ref lastTs, next, last) != last);
        return (next / 1_000_000).ToString(CultureInfo.InvariantCulture) + "." + (next % 1_000_000).ToString("000000", CultureInfo.InvariantCulture);
    }

    static async Task<AppUser?> DmUserAsync(Use60Db db, string channel, CancellationToken cancellationToken)
    {
        var slackUserId = channel.StartsWith('D') ? channel[1..] : channel.StartsWith('U') ? channel : null;
        return slackUserId is null ? null : await db.Users.AsNoTracking().FirstOrDefaultAsync(u => u.SlackUserId == slackUserId, cancellationToken);
    }

    static JsonObject MessageOf(IReadOnlyDictionary<string, string> arguments)
    {
        var message = new JsonObject { ["text"] = arguments.GetValueOrDefault("text") ?? "" };
        if (arguments.TryGetValue("blocks", out var blocks)) message["blocks"] = JsonNode.Parse(blocks);
        return message;
    }

    static JsonObject Ok(JsonObject fields)
    {
        fields["ok"] = true;
        return fields;
    }

    static JsonObject Error(string error) => new() { ["ok"] = false, ["error"] = error };
}

/// <summary>
/// The sandbox page's side of Slack: a rep typing a DM or a /sixty command, clicking a button, submitting a
/// modal. Each becomes the signed HTTP request Slack would send, to this app's own /slack endpoints.
/// </summary>
public sealed class SlackSandbox(SystemDb system, SandboxSlackTransport transport, SlackSigningSecret secret, IServer server,
    IHttpClientFactory httpClients, TimeProvider clock)
{
    public const string PagePath = "/admin/slack";

    public sealed record Conversation(IReadOnlyList<SandboxMessage> Messages, SandboxView? OpenView);

    public async Task<IReadOnlyList<AppUser>> UsersAsync(Guid orgId, CancellationToken cancellationToken)
    {
        await using var db = system.Open("list the Slack sandbox's users");
        return await db.Users.AsNoTracking().Where(u => u.OrgId == orgId && u.SlackUserId != null).OrderBy(u => u.Name).ToListAsync(cancellationToken);
    }

    public async Task<Conversation> ConversationAsync(AppUser user, CancellationToken cancellationToken)
    {
        await using var db = system.Open("read a Slack sandbox DM");
        var messages = await db.SandboxMessages.AsNoTracking().Where(m => m.OrgId == user.OrgId && m.UserId == user.Id)
            .OrderByDescending(m => m.Id).Take(100).ToListAsync(cancellationToken);
        messages.Reverse();
        var view = await db.SandboxViews.AsNoTracking().Where(v => v.OrgId == user.OrgId && v.UserId == user.Id && v.ClosedAt == null)
            .OrderByDescending(v => v.OpenedAt).FirstOrDefaultAsync(cancellationToken);
        return new Conversation(messages, view);
    }

    /// <summary>A DM to the bot, or a slash command when the text starts with "/".</summary>
    public async Task SendAsync(Org org, AppUser user, string text, CancellationToken cancellationToken)
    {
        text = text.Trim();
        if (text.Length == 0) return;
        var command = text.StartsWith('/');
        // What people type reaches the app as Slack sends it: &, < and > escaped (a typed <b> is text, not one of Slack's <…> links).
        text = text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
        string ts;
        await using (var db = system.Open("the Slack sandbox"))
            ts = await transport.AddMessageAsync(db, user, new JsonObject { ["text"] = text }, fromBot: false, ephemeral: command, cancellationToken);
        var channel = SandboxSlackTransport.DmChannelOf(user.SlackUserId!);
        if (command)
        {
            var space = text.IndexOf(' ');
            var fields = new Dictionary<string, string>
            {
                ["token"] = "sandbox", ["team_id"] = org.SlackTeamId!, ["team_domain"] = "sandbox", ["channel_id"] = channel,
                ["channel_name"] = "directmessage", ["user_id"] = user.SlackUserId!, ["user_name"] = user.Name,
                ["command"] = space < 0 ? text : text[..space], ["text"] = space < 0 ? "" : text[(space + 1)..],
                ["api_app_id"] = "A0SANDBOX", ["response_url"] = SandboxSlackTransport.ResponseUrlFor(user),
                ["trigger_id"] = SandboxSlackTransport.TriggerFor(user),
            };
            var answer = await PostSignedAsync("slack/commands", new FormUrlEncodedContent(fields), cancellationToken);
            // Slack shows a command's immediate answer as a message only its sender sees.
            if (answer is not null) await transport.PostToResponseUrlAsync(fields["response_url"], answer, cancellationToken);
            return;
        }
        var envelope = new JsonObject
        {
            ["token"] = "sandbox", ["team_id"] = org.SlackTeamId, ["api_app_id"] = "A0SANDBOX", ["type"] = "event_callback",
            ["event_id"] = "Ev" + Guid.NewGuid().ToString("N")[..12].ToUpperInvariant(), ["event_time"] = clock.GetUtcNow().ToUnixTimeSeconds(),
            ["event"] = new JsonObject
            {
                ["type"] = "message", ["channel_type"] = "im", ["channel"] = channel, ["user"] = user.SlackUserId, ["text"] = text, ["ts"] = ts,
                ["event_ts"] = ts,
            },
        };
        await PostSignedAsync("slack/events", Json(envelope), cancellationToken);
    }

    /// <summary>
    /// A click on a button, or a pick in a select or overflow menu, of a message in the DM. The payload describes the element as the
    /// stored message has it (its type, and for a menu the picked option), as Slack would; false when the message has no such
    /// element or option.
    /// </summary>
    public async Task<bool> ClickAsync(Org org, AppUser user, long messageId, string blockId, string actionId, string? value,
        CancellationToken cancellationToken)
    {
        SandboxMessage? message;
        await using (var db = system.Open("the Slack sandbox"))
            message = await db.SandboxMessages.AsNoTracking().SingleOrDefaultAsync(m => m.Id == messageId && m.UserId == user.Id, cancellationToken);
        if (message is null || JsonNode.Parse(message.Message) is not JsonObject stored) return false;
        if (SandboxBlocks.ElementIn(stored, blockId, actionId) is not { } element) return false;

        var type = Str(element["type"]) ?? "button";
        var action = new JsonObject
        {
            ["type"] = type, ["action_id"] = actionId, ["block_id"] = blockId,
            ["action_ts"] = clock.GetUtcNow().ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture),
        };
        if (type == "button")
        {
            action["text"] = element["text"]?.DeepClone();
            action["value"] = Str(element["value"]);
        }
        else if (type == "datepicker")
        {
            if (!DateOnly.TryParseExact(value, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out _)) return false;
            action["selected_date"] = value;
        }
        else if (SandboxBlocks.OptionsOf(element).FirstOrDefault(o => Str(o["value"]) == value) is { } option)
            action["selected_option"] = option.DeepClone();
        else return false;

        var channel = SandboxSlackTransport.DmChannelOf(user.SlackUserId!);
        var payload = Interaction("block_actions", org, user);
        payload["container"] = new JsonObject { ["type"] = "message", ["channel_id"] = channel, ["message_ts"] = message.Ts };
        payload["channel"] = new JsonObject { ["id"] = channel, ["name"] = "directmessage" };
        payload["message"] = stored;
        payload["response_url"] = SandboxSlackTransport.ResponseUrlFor(user, message.Ts);
        payload["actions"] = new JsonArray(action);
        await PostSignedAsync("slack/interactions", PayloadForm(payload), cancellationToken);
        return true;
    }

    /// <summary>Submits the open modal with the values typed into it (block id → action id → value).</summary>
    public async Task SubmitViewAsync(Org org, AppUser user, string viewId, IReadOnlyDictionary<string, (string ActionId, string Type, string? Value)> inputs,
        CancellationToken cancellationToken)
    {
        var view = await OpenViewAsync(user, viewId, cancellationToken);
        if (view is null) return;
        var values = new JsonObject();
        foreach (var (blockId, (actionId, type, value)) in inputs)
        {
            var input = new JsonObject { ["type"] = type };
            switch (type)
            {
                case "static_select" or "external_select":
                    input["selected_option"] = value is null ? null : new JsonObject { ["value"] = value };
                    break;
                case "checkboxes":
                    input["selected_options"] = new JsonArray([.. (value ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries)
                        .Select(v => (JsonNode)new JsonObject { ["value"] = v })]);
                    break;
                default:
                    input["value"] = value;
                    break;
            }
            values[blockId] = new JsonObject { [actionId] = input };
        }
        var payload = Interaction("view_submission", org, user);
        var viewJson = JsonNode.Parse(view.View)!.AsObject();
        viewJson["id"] = viewId;
        viewJson["state"] = new JsonObject { ["values"] = values };
        payload["view"] = viewJson;
        var answer = await PostSignedAsync("slack/interactions", PayloadForm(payload), cancellationToken);
        await using var db = system.Open("the Slack sandbox");
        if (answer?["response_action"]?.GetValue<string>() == "errors")
        {
            viewJson["errors"] = answer["errors"]?.DeepClone();
            viewJson.Remove("state");
            viewJson["submitted"] = values.DeepClone();
            await db.SandboxViews.Where(v => v.ViewId == viewId).ExecuteUpdateAsync(s => s.SetProperty(v => v.View, viewJson.ToJsonString()), cancellationToken);
        }
        else
            await db.SandboxViews.Where(v => v.ViewId == viewId).ExecuteUpdateAsync(s => s.SetProperty(v => v.ClosedAt, clock.GetUtcNow()), cancellationToken);
    }

    public async Task CloseViewAsync(Org org, AppUser user, string viewId, CancellationToken cancellationToken)
    {
        var view = await OpenViewAsync(user, viewId, cancellationToken);
        if (view is null) return;
        await using (var db = system.Open("the Slack sandbox"))
            await db.SandboxViews.Where(v => v.ViewId == viewId).ExecuteUpdateAsync(s => s.SetProperty(v => v.ClosedAt, clock.GetUtcNow()), cancellationToken);
        var viewJson = JsonNode.Parse(view.View)!.AsObject();
        if (viewJson["notify_on_close"]?.GetValue<bool>() != true) return;
        var payload = Interaction("view_closed", org, user);
        viewJson["id"] = viewId;
        payload["view"] = viewJson;
        await PostSignedAsync("slack/interactions", PayloadForm(payload), cancellationToken);
    }

    async Task<SandboxView?> OpenViewAsync(AppUser user, string viewId, CancellationToken cancellationToken)
    {
        await using var db = system.Open("the Slack sandbox");
        return await db.SandboxViews.AsNoTracking().SingleOrDefaultAsync(v => v.ViewId == viewId && v.UserId == user.Id && v.ClosedAt == null, cancellationToken);
    }

    static JsonObject Interaction(string type, Org org, AppUser user) => new()
    {
        ["type"] = type, ["api_app_id"] = "A0SANDBOX", ["token"] = "sandbox",
        ["team"] = new JsonObject { ["id"] = org.SlackTeamId, ["domain"] = "sandbox" },
        ["user"] = new JsonObject { ["id"] = user.SlackUserId, ["name"] = user.Name, ["team_id"] = org.SlackTeamId },
        ["trigger_id"] = SandboxSlackTransport.TriggerFor(user),
    };

    static FormUrlEncodedContent PayloadForm(JsonObject payload) => new([KeyValuePair.Create("payload", payload.ToJsonString())]);

    static StringContent Json(JsonObject body) => new(body.ToJsonString(), Encoding.UTF8, "application/json");

    /// <summary>Signs the request as Slack does and sends it to this app's own listening address (never a host a browser named).</summary>
    async Task<JsonObject?> PostSignedAsync(string path, HttpContent content, CancellationToken cancellationToken)
    {
        var body = await content.ReadAsByteArrayAsync(cancellationToken);
        var timestamp = clock.GetUtcNow().ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(OwnAddress(), path)) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = content.Headers.ContentType;
        request.Headers.Add(SlackSignature.TimestampHeader, timestamp);
        request.Headers.Add(SlackSignature.SignatureHeader,
            SlackSignature.Sign((await secret.GetAsync(cancellationToken))!, timestamp, body));
        using var response = await httpClients.CreateClient("slack-sandbox").SendAsync(request, cancellationToken);
        response.EnsureSuccessStatusCode();
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        return text.Length == 0 ? null : JsonNode.Parse(text) as JsonObject;
    }

    Uri OwnAddress()
    {
        var address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
                      ?? throw new InvalidOperationException("The server has no listening address yet.");
        var uri = new UriBuilder(address.Replace("://+", "://127.0.0.1").Replace("://*", "://127.0.0.1").Replace("://[::]", "://127.0.0.1")
            .Replace("://0.0.0.0", "://127.0.0.1")) { Path = "/" };
        return uri.Uri;
    }
}

/// <summary>Reading the Block Kit JSON of a stored sandbox message or modal, for the page and the clicks it sends.</summary>
public static class SandboxBlocks
{
    public static IReadOnlyList<JsonObject> Objects(JsonNode? node) => node is JsonArray array ? [.. array.OfType<JsonObject>()] : [];

    /// <summary>Slack gives every block an id; a block the app sent without one gets a stable stand-in here.</summary>
    public static string BlockIdOf(JsonObject block, int index) => Str(block["block_id"]) ?? $"sandbox_block_{index}";

    /// <summary>A select's or overflow menu's options, flattening option groups.</summary>
    public static IReadOnlyList<JsonObject> OptionsOf(JsonObject element) =>
        element["options"] is JsonArray ? Objects(element["options"])
            : [.. Objects(element["option_groups"]).SelectMany(g => Objects(g["options"]))];

    /// <summary>The interactive element of a message with that block and action id: in an actions block, or a section's accessory.</summary>
    public static JsonObject? ElementIn(JsonObject message, string blockId, string actionId) =>
        Objects(message["blocks"]).Select((block, index) => (block, index))
            .Where(b => BlockIdOf(b.block, b.index) == blockId)
            .SelectMany(b => b.block["accessory"] is JsonObject accessory ? [accessory] : Objects(b.block["elements"]))
            .FirstOrDefault(e => Str(e["action_id"]) == actionId);
}
