using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Use60.Data;

using static Use60.Slack.SlackJson;

namespace Use60.Slack;

/// <summary>
/// What to do with each kind of Slack callback once it is known to be genuine, whichever way it came (HTTP or
/// Socket Mode): store it in the inbox, and answer within Slack's 3 seconds — with the handler's own answer
/// when it is ready in time, else with an acknowledgement (a command says "working on it").
/// </summary>
public sealed class SlackReceiver(SlackInbox inbox, SlackListeners listeners, SlackWorkspaces workspaces, IServiceScopeFactory scopes,
    TimeProvider clock, ILogger<SlackReceiver> logger)
{
    /// <summary>How long a callback's answer waits for its handler; Slack allows 3 s in all, network included.</summary>
    public static readonly TimeSpan AckBudget = TimeSpan.FromSeconds(2);

    public static JsonObject WorkingOnIt => new() { ["response_type"] = "ephemeral", ["text"] = ":hourglass_flowing_sand: Working on it…" };

    /// <summary>An Events API envelope; returns the answer to url_verification, else null (an empty 200).</summary>
    public async Task<JsonObject?> EventAsync(JsonObject envelope, CancellationToken cancellationToken)
    {
        switch (Str(envelope["type"]))
        {
            case "url_verification":
                return new JsonObject { ["challenge"] = Str(envelope["challenge"]) ?? "" };
            case "event_callback" when Str(envelope["event_id"]) is { } eventId:
                BoundedId(eventId, "event_id");
                BoundedId(Str(envelope["team_id"]), "team_id");
                if (await inbox.AcceptAsync(InboxKind.Event, "event:" + eventId, Str(envelope["team_id"]), envelope, null, cancellationToken) is null)
                    logger.LogInformation("Slack delivered event {EventId} again; it was stored before and is not handled twice", eventId);
                return null;
            case "app_rate_limited":
                logger.LogWarning("Slack is dropping events for workspace {TeamId}: the app exceeded the Events API rate limit", Str(envelope["team_id"]));
                return null;
            default:
                logger.LogWarning("Ignoring a Slack event envelope of type {Type}", Str(envelope["type"]));
                return null;
        }
    }

    /// <summary>A slash command's fields; returns the answer (the handler's, or "working on it").</summary>
    public async Task<JsonObject?> CommandAsync(JsonObject fields, CancellationToken cancellationToken)
    {
        var inline = new InlineReply();
        var key = "command:" + (BoundedId(Str(fields["trigger_id"]), "trigger_id") ?? Digest(fields));
        BoundedId(Str(fields["team_id"]), "team_id");
        if (await inbox.AcceptAsync(InboxKind.Command, key, Str(fields["team_id"]), fields, inline, cancellationToken) is null) return null;
        return await inline.WaitAsync(AckBudget, WorkingOnIt, clock, cancellationToken);
    }

    /// <summary>An interaction payload; a view submission may answer with errors or a new view, everything else with an empty 200.</summary>
    public async Task<JsonObject?> InteractionAsync(JsonObject payload, CancellationToken cancellationToken)
    {
        var type = Str(payload["type"]);
        var key = "interaction:" + (BoundedId(Str(payload["trigger_id"]), "trigger_id") ?? Digest(payload));
        var inline = type == "view_submission" ? new InlineReply() : null;
        var teamId = BoundedId(Str((payload["team"] as JsonObject)?["id"]) ?? Str((payload["user"] as JsonObject)?["team_id"]), "team.id");
        if (await inbox.AcceptAsync(InboxKind.Interaction, key, teamId, payload, inline, cancellationToken) is null || inline is null) return null;
        return await inline.WaitAsync(AckBudget, null, clock, cancellationToken);
    }

    /// <summary>An external select asking for options: answered here and now (it changes nothing, so it needs no inbox).</summary>
    public async Task<JsonObject> OptionsAsync(JsonObject payload, CancellationToken cancellationToken)
    {
        var actionId = Str(payload["action_id"]) ?? "";
        var handler = listeners.FindOptions(actionId);
        var none = new JsonObject { ["options"] = new JsonArray() };
        if (handler is null)
        {
            logger.LogWarning("Nothing gives options for {ActionId}", actionId);
            return none;
        }
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        budget.CancelAfter(AckBudget);
        try
        {
            var teamId = Str((payload["team"] as JsonObject)?["id"]) ?? Str((payload["user"] as JsonObject)?["team_id"]);
            var org = teamId is null ? null : await workspaces.FindOrgAsync(teamId, budget.Token);
            var user = org is null || Str((payload["user"] as JsonObject)?["id"]) is not { } slackUserId
                ? null : await workspaces.FindOrCreateUserAsync(org, slackUserId, budget.Token);
            if (org is null || user is null) return none;
            await using var scope = scopes.CreateAsyncScope();
            scope.ServiceProvider.GetRequiredService<TenantContext>().Enter(org.Id, user.Id);
            var request = new SlackRequest(InboxKind.Interaction, payload, org, user, scope.ServiceProvider, budget.Token);
            var options = BlockKitLimits.FitOptions(await handler(request, Str(payload["value"]) ?? ""));
            return new JsonObject { ["options"] = new JsonArray([.. options.Select(o => (JsonNode)o.ToJson())]) };
        }
        catch (Exception e) when (e is OperationCanceledException or SlackApiException && !cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning("Options for {ActionId} were not ready in time: {Reason}", actionId, e.Message);
            return none;
        }
    }

    /// <summary>An id that keys the inbox: one longer than any of Slack's is not Slack's (a FormatException: the endpoint answers 400).</summary>
    static string? BoundedId(string? id, string what) => id is { Length: > Hosting.RequestBodies.MaxIdLength }
        ? throw new FormatException($"The {what} is longer than {Hosting.RequestBodies.MaxIdLength} characters.")
        : id;

    /// <summary>A stand-in dedupe key for a callback without a trigger id (view_closed): the same payload twice is the same callback.</summary>
    static string Digest(JsonObject payload) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(payload.ToJsonString())));
}
