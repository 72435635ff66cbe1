using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Use60.Data;

using static Use60.Slack.SlackJson;

namespace Use60.Slack;

/// <summary>
/// Handles one inbox row, in a scope of its own: resolves the org and user, enters their tenant, routes the
/// callback to its listener, and stores the outcome together with the replies' outbox rows in one
/// transaction, so a reply is neither lost nor sent twice.
/// </summary>
public sealed partial class SlackInboxProcessor(IServiceProvider services, SystemDb system, SlackListeners listeners, SlackWorkspaces workspaces,
    SlackOutbox outbox, SlackApi api, TimeProvider clock, ILogger<SlackInboxProcessor> logger)
{
    public const int MaxAttempts = 5;
    const string IgnoredMessage = "message.ignored";

    [System.Text.RegularExpressions.GeneratedRegex(@"^\s*<@[A-Z0-9]+(\|[^>]*)?>")]
    private static partial System.Text.RegularExpressions.Regex MentionPattern();

    /// <summary>
    /// A claimed row's lease, renewed every third of it while its handler runs: short, so that a row whose worker was killed
    /// is retaken within seconds of a restart, however long a live handler (an LLM answer) takes.
    /// </summary>
    public static readonly TimeSpan Lease = TimeSpan.FromSeconds(20);

    sealed record Outcome(InboxOutcome Result, string? Error = null);

    public async Task ProcessAsync(long id, InlineReply? inline, CancellationToken cancellationToken)
    {
        var item = await ClaimAsync(id, cancellationToken);
        if (item is null)
        {
            inline?.Abandon();
            return;
        }
        using var done = new CancellationTokenSource();
        var renewing = RenewLeaseAsync(item.Id, done.Token);
        try
        {
            await ProcessClaimedAsync(item, inline, cancellationToken);
        }
        finally
        {
            await done.CancelAsync();
            await renewing;
        }
    }

    async Task RenewLeaseAsync(long id, CancellationToken done)
    {
        try
        {
            while (true)
            {
                await Task.Delay(Lease / 3, clock, done);
                try
                {
                    await using var db = system.Open("renew the lease on a Slack callback");
                    var until = clock.GetUtcNow() + Lease;
                    await db.SlackInbox.Where(i => i.Id == id && i.ProcessedAt == null)
                        .ExecuteUpdateAsync(s => s.SetProperty(i => i.LockedUntil, until), done);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // Finishing checks that no one else finished the row first, so a lapsed lease costs work, never a second reply.
                    logger.LogWarning("Could not renew the lease on Slack callback {InboxId}: {Reason}", id, e.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    async Task ProcessClaimedAsync(InboxItem item, InlineReply? inline, CancellationToken cancellationToken)
    {
        var payload = JsonNode.Parse(item.Payload)!.AsObject();
        var (teamId, slackUserId) = Who(item.Kind, payload);

        var org = teamId is null ? null : await workspaces.FindOrgAsync(teamId, cancellationToken);
        if (org is null)
        {
            await FinishUnknownWorkspaceAsync(item, payload, inline, cancellationToken);
            return;
        }
        var eventName = item.Kind == InboxKind.Event ? EventName(payload) : null;
        if (eventName == IgnoredMessage)
        {
            await FinishAsync(item, new Outcome(InboxOutcome.Ignored, "not a message to the bot"), null, [], inline, cancellationToken);
            return;
        }
        var orgEvent = eventName is SlackEvents.AppUninstalled or SlackEvents.TokensRevoked;
        var user = orgEvent || slackUserId is null ? null : await workspaces.FindOrCreateUserAsync(org, slackUserId, cancellationToken);
        if (user is null && !orgEvent)
        {
            await FinishAsync(item, new Outcome(InboxOutcome.Ignored, "no user (a bot, a deleted user, or no token)"), null, [], inline, cancellationToken);
            return;
        }

        var tenant = services.GetRequiredService<TenantContext>();
        if (user is not null) tenant.Enter(org.Id, user.Id);
        var (handler, text, what) = Route(item.Kind, payload);
        var request = new SlackRequest(item.Kind, payload, org, user, services, cancellationToken) { Text = text };
        Outcome outcome;
        if (handler is not null && item.Kind == InboxKind.Interaction && user is not null
            && await services.GetRequiredService<Security.CrossTenantGuard>().NamesAnotherOrgAsync(org.Id, user.Id, what, payload, cancellationToken))
        {
            // The ids in a payload are whatever its sender wrote: another org's are refused (and audited) before any handler sees them.
            request.Reply(new SlackMessage("That button doesn't belong to your workspace, so I haven't done anything."));
            await FinishAsync(item, new Outcome(InboxOutcome.Ignored, "names another org's rows"), request, request.Replies, inline, cancellationToken);
            return;
        }
        if (handler is null)
        {
            outcome = new Outcome(InboxOutcome.Unhandled);
            logger.LogWarning("Nothing handles Slack {What}; the user is told so", what);
            if (user is not null) Unhandled(item.Kind, what, request);
        }
        else
        {
            try
            {
                await handler(request);
                outcome = new Outcome(InboxOutcome.Handled);
                logger.LogInformation("Handled Slack {What} for user {UserId} of org {OrgId}", what, user?.Id, org.Id);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                logger.LogError(e, "Slack {What} (inbox {InboxId}) failed in its listener", what, item.Id);
                outcome = new Outcome(InboxOutcome.Failed, $"{e.GetType().Name}: {e.Message}");
                request = new SlackRequest(item.Kind, payload, org, user, services, cancellationToken);
                if (user is not null)
                    request.Reply(new SlackMessage($":warning: Sorry, something went wrong on our side while doing that. It has been logged (reference {item.Id}); please try again in a moment."));
            }
        }
        await FinishAsync(item, outcome, request, request.Replies, inline, cancellationToken);
    }

    async Task<InboxItem?> ClaimAsync(long id, CancellationToken cancellationToken)
    {
        await using var db = system.Open("claim a Slack callback");
        var now = clock.GetUtcNow();
        var until = now + Lease;
        var claimed = await db.SlackInbox
            .Where(i => i.Id == id && i.ProcessedAt == null && i.Attempts < MaxAttempts && (i.LockedUntil == null || i.LockedUntil < now))
            .ExecuteUpdateAsync(s => s.SetProperty(i => i.LockedUntil, until).SetProperty(i => i.Attempts, i => i.Attempts + 1), cancellationToken);
        return claimed == 0 ? null : await db.SlackInbox.AsNoTracking().SingleAsync(i => i.Id == id, cancellationToken);
    }

    /// <summary>Marks the row processed and queues its replies in one transaction; the first reply may ride on the acknowledgement.</summary>
    async Task FinishAsync(InboxItem item, Outcome outcome, SlackRequest? request, IReadOnlyList<PendingReply> replies, InlineReply? inline,
        CancellationToken cancellationToken)
    {
        JsonObject? inlineBody = null;
        var queued = replies.ToList();
        var tookWindow = inline is not null && inline.TryTake();
        if (tookWindow)
        {
            if (item.Kind == InboxKind.Interaction) inlineBody = request?.ViewResponse;
            else if (item.Kind == InboxKind.Command && queued.FirstOrDefault(r => r.Target is ReplyTarget.Person or ReplyTarget.Channel) is { } first
                     && BlockKitLimits.Fit(first.Message) is [var single])
            {
                inlineBody = CommandAnswer(single, first.Target);
                queued.Remove(first);
            }
        }

        try
        {
            await using var db = system.Open("finish a Slack callback");
            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
            if (request is not null)
                foreach (var reply in queued) outbox.Add(db, ToOutbox(item, request, reply));
            var now = clock.GetUtcNow();
            // Only the first worker to finish a row records it and queues its replies: a worker whose lease lapsed (it stalled, or
            // the database was away) may still be running when another retakes the row.
            var finished = await db.SlackInbox.Where(i => i.Id == item.Id && i.ProcessedAt == null).ExecuteUpdateAsync(s => s
                .SetProperty(i => i.ProcessedAt, now).SetProperty(i => i.LockedUntil, (DateTimeOffset?)null)
                .SetProperty(i => i.Outcome, outcome.Result).SetProperty(i => i.Error, outcome.Error), cancellationToken);
            if (finished == 0)
            {
                logger.LogWarning("Slack callback {InboxId} was finished by another worker meanwhile; this one's replies are dropped", item.Id);
                inline?.Abandon();
                return;
            }
            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }
        catch
        {
            inline?.Abandon();
            throw;
        }
        if (queued.Count > 0) outbox.Notify();
        if (tookWindow) inline!.Complete(inlineBody);
    }

    OutboxDraft ToOutbox(InboxItem item, SlackRequest request, PendingReply reply)
    {
        var source = $"inbox {item.Id}";
        var user = request.User;
        var channel = request.ChannelId;
        return reply.Target switch
        {
            ReplyTarget.DirectMessage => OutboxDraft.Dm(request.Org.Id, user.Id, reply.Message, source),
            ReplyTarget.Original when request.ResponseUrl is { } url =>
                OutboxDraft.Respond(request.Org.Id, user.Id, url, item.ReceivedAt + SlackOutbox.ResponseUrlLifetime, reply.Message, inChannel: false, source)
                    with { ReplaceOriginal = true },
            ReplyTarget.Person when request.ResponseUrl is { } url =>
                OutboxDraft.Respond(request.Org.Id, user.Id, url, item.ReceivedAt + SlackOutbox.ResponseUrlLifetime, reply.Message, inChannel: false, source),
            ReplyTarget.Channel when request.ResponseUrl is { } url =>
                OutboxDraft.Respond(request.Org.Id, user.Id, url, item.ReceivedAt + SlackOutbox.ResponseUrlLifetime, reply.Message, inChannel: true, source),
            // Events have no response_url: answer in the conversation (threaded under an @mention).
            _ when channel is not null && item.Kind == InboxKind.Event =>
                OutboxDraft.Post(request.Org.Id, user.Id, channel, ThreadOf(request.Event), reply.Message, source),
            _ => OutboxDraft.Dm(request.Org.Id, user.Id, reply.Message, source),
        };
    }

    static string? ThreadOf(JsonObject? slackEvent) =>
        slackEvent?["type"]?.GetValue<string>() == "app_mention" ? (slackEvent["thread_ts"] ?? slackEvent["ts"])?.GetValue<string>() : null;

    static JsonObject CommandAnswer(SlackMessage message, ReplyTarget target)
    {
        var body = message.ToJson();
        body["response_type"] = target == ReplyTarget.Channel ? "in_channel" : "ephemeral";
        return body;
    }

    /// <summary>A workspace that never installed the app (or whose token does not match): point whoever asked to the install link.</summary>
    async Task FinishUnknownWorkspaceAsync(InboxItem item, JsonObject payload, InlineReply? inline, CancellationToken cancellationToken)
    {
        var message = new SlackMessage($"use60 isn't set up for this Slack workspace yet. A workspace admin can add it here: {workspaces.InstallUrl}");
        var responseUrl = SlackRequest.ResponseUrlOf(payload);
        logger.LogWarning("Slack {Kind} from workspace {TeamId}, which has not installed use60", item.Kind, item.TeamId);
        var answered = false;
        if (inline is not null && item.Kind == InboxKind.Command && inline.TryTake())
        {
            inline.Complete(CommandAnswer(message, ReplyTarget.Person));
            answered = true;
        }
        else if (responseUrl is not null)
        {
            try
            {
                await api.PostToResponseUrlAsync(responseUrl, CommandAnswer(message, ReplyTarget.Person), cancellationToken);
                answered = true;
            }
            catch (SlackApiException e)
            {
                logger.LogWarning("Could not tell workspace {TeamId} to install use60: {Error}", item.TeamId, e.Error);
            }
        }
        else inline?.Abandon();
        await using var db = system.Open("finish a Slack callback from an unknown workspace");
        var now = clock.GetUtcNow();
        await db.SlackInbox.Where(i => i.Id == item.Id).ExecuteUpdateAsync(s => s
            .SetProperty(i => i.ProcessedAt, now).SetProperty(i => i.Outcome, InboxOutcome.Ignored)
            .SetProperty(i => i.Error, answered ? "unknown workspace; told to install" : "unknown workspace"), cancellationToken);
    }

    (SlackHandler? Handler, string Text, string What) Route(InboxKind kind, JsonObject payload)
    {
        switch (kind)
        {
            case InboxKind.Command:
            {
                var command = Str(payload["command"]) ?? "";
                var words = (Str(payload["text"]) ?? "").Trim();
                var space = words.IndexOfAny([' ', '\n', '\t']);
                var name = space < 0 ? words : words[..space];
                var rest = space < 0 ? "" : words[(space + 1)..].Trim();
                if (name.Length == 0) name = "help";
                if (listeners.FindSubcommand(command, name) is { } subcommand) return (subcommand.Handler, rest, $"command {command} {name}");
                return (listeners.FindFallback(command), words, $"command {command} (free text)");
            }
            case InboxKind.Event:
            {
                var name = EventName(payload) ?? "unknown";
                // "@use60 what's due?" reaches the listener as "what's due?".
                var text = MentionPattern().Replace(Str(payload["event"]?["text"]) ?? "", "").Trim();
                return (listeners.FindEvent(name), text, $"event {name}");
            }
            default:
            {
                var type = Str(payload["type"]) ?? "unknown";
                switch (type)
                {
                    case "block_actions":
                        var actionId = Str(payload["actions"]?[0]?["action_id"]) ?? "";
                        return (listeners.FindAction(actionId), "", $"action {actionId}");
                    case "view_submission":
                    case "view_closed":
                        var callbackId = Str(payload["view"]?["callback_id"]) ?? "";
                        return (type == "view_submission" ? listeners.FindSubmission(callbackId) : listeners.FindClosing(callbackId), "",
                            $"{type} {callbackId}");
                    case "shortcut":
                    case "message_action":
                        var shortcut = Str(payload["callback_id"]) ?? "";
                        return (listeners.FindShortcut(shortcut), "", $"shortcut {shortcut}");
                    default:
                        return (null, "", $"interaction {type}");
                }
            }
        }
    }

    /// <summary>Never silence: whoever clicked or typed something nothing handles is told what they can do.</summary>
    void Unhandled(InboxKind kind, string what, SlackRequest request)
    {
        switch (kind)
        {
            case InboxKind.Command:
                request.Reply(SlackHelp.Message(listeners, Str(request.Payload["command"]) ?? SlackHelp.Sixty,
                    $"I don't know `{Str(request.Payload["command"])} {Str(request.Payload["text"])?.Trim()}`."));
                break;
            case InboxKind.Interaction when what.StartsWith("view_closed", StringComparison.Ordinal):
                break;
            case InboxKind.Interaction:
                request.Reply(new SlackMessage("That button or form no longer does anything here. Type `/sixty help` to see what I can do."));
                break;
            case InboxKind.Event when what is "event message.im" or "event app_mention":
                request.Reply(new SlackMessage("I can't answer messages yet. Type `/sixty help` to see what I can do."));
                break;
        }
    }

    /// <summary>The event's name as the manifest spells it: message events carry their channel type (message.im).</summary>
    public static string? EventName(JsonObject payload)
    {
        var slackEvent = payload["event"];
        var type = Str(slackEvent?["type"]);
        if (type != "message") return type;
        // Edits, deletions, joins and the bot's own messages are not someone talking to the bot.
        if (slackEvent?["subtype"] is not null || slackEvent?["bot_id"] is not null) return IgnoredMessage;
        return "message." + (Str(slackEvent?["channel_type"]) ?? "unknown");
    }

    static (string? TeamId, string? UserId) Who(InboxKind kind, JsonObject payload) => kind switch
    {
        InboxKind.Command => (Str(payload["team_id"]), Str(payload["user_id"])),
        InboxKind.Event => (Str(payload["team_id"]), Str(payload["event"]?["user"])),
        _ => (Str(payload["team"]?["id"]) ?? Str(payload["user"]?["team_id"]), Str(payload["user"]?["id"])),
    };
}
