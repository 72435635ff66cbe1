using System.Text.Json.Nodes;
using Use60.Orgs;

using static Use60.Slack.SlackJson;

namespace Use60.Slack;

public delegate Task SlackHandler(SlackRequest request);

public delegate Task<IReadOnlyList<SelectOption>> SlackOptionsHandler(SlackRequest request, string query);

public sealed record Subcommand(string Command, string Name, string Description, SlackHandler Handler);

/// <summary>
/// What the app answers, in the spirit of Bolt: each feature registers its commands, actions, events, views
/// and option lists in its own folder (<c>services.AddSlackListeners(slack => slack.Command(…))</c>); nothing
/// edits a central switch. One listener per key: registering a key twice is a start-up error.
/// </summary>
public sealed class SlackListeners
{
    readonly Dictionary<string, Dictionary<string, Subcommand>> commands = new(StringComparer.OrdinalIgnoreCase);
    readonly Dictionary<string, SlackHandler> actions = [], events = [], submissions = [], closings = [], shortcuts = [];
    readonly Dictionary<string, SlackHandler> fallbacks = new(StringComparer.OrdinalIgnoreCase);
    readonly Dictionary<string, SlackOptionsHandler> options = [];

    /// <summary>Slack's limit on action_id and callback_id.</summary>
    const int MaxKeyLength = 255;

    /// <summary>A subcommand of a slash command: <c>/sixty help</c> is Command("/sixty", "help", …). Its description is the help line.</summary>
    public SlackListeners Command(string command, string subcommand, string description, SlackHandler handler)
    {
        var subcommands = commands.TryGetValue(command, out var known) ? known : commands[command] = new(StringComparer.OrdinalIgnoreCase);
        Add(subcommands, subcommand, new Subcommand(command, subcommand, description, handler), $"{command} {subcommand}");
        return this;
    }

    /// <summary>What a slash command does with text that names no subcommand (<c>/sixty what's overdue?</c>): the whole text goes to it.</summary>
    public SlackListeners CommandFallback(string command, SlackHandler handler) => Add(fallbacks, command, handler, $"{command} (anything else)");

    /// <summary>A button, select or overflow, by action_id.</summary>
    public SlackListeners Action(string actionId, SlackHandler handler) => Add(actions, actionId, handler, "action " + actionId);

    /// <summary>An Events API event by its manifest name: app_mention, message.im, app_home_opened, app_uninstalled, …</summary>
    public SlackListeners Event(string type, SlackHandler handler) => Add(events, type, handler, "event " + type);

    public SlackListeners ViewSubmission(string callbackId, SlackHandler handler) => Add(submissions, callbackId, handler, "view " + callbackId);

    public SlackListeners ViewClosed(string callbackId, SlackHandler handler) => Add(closings, callbackId, handler, "closed view " + callbackId);

    /// <summary>A global or message shortcut, by callback_id.</summary>
    public SlackListeners Shortcut(string callbackId, SlackHandler handler) => Add(shortcuts, callbackId, handler, "shortcut " + callbackId);

    /// <summary>The options of an external select, by action_id; answered within Slack's 3 seconds, not through the inbox.</summary>
    public SlackListeners Options(string actionId, SlackOptionsHandler handler) => Add(options, actionId, handler, "options " + actionId);

    public IReadOnlyCollection<string> Commands => commands.Keys;
    public IReadOnlyCollection<string> Events => events.Keys;
    public IReadOnlyCollection<string> ActionIds => actions.Keys;
    public bool HasOptions => options.Count > 0;

    public IReadOnlyList<Subcommand> SubcommandsOf(string command) =>
        commands.TryGetValue(command, out var subcommands) ? [.. subcommands.Values.OrderBy(s => s.Name, StringComparer.Ordinal)] : [];

    public Subcommand? FindSubcommand(string command, string name) =>
        commands.TryGetValue(command, out var subcommands) && subcommands.TryGetValue(name, out var found) ? found : null;

    public SlackHandler? FindFallback(string command) => fallbacks.GetValueOrDefault(command);
    public SlackHandler? FindAction(string actionId) => actions.GetValueOrDefault(actionId);
    public SlackHandler? FindEvent(string type) => events.GetValueOrDefault(type);
    public SlackHandler? FindSubmission(string callbackId) => submissions.GetValueOrDefault(callbackId);
    public SlackHandler? FindClosing(string callbackId) => closings.GetValueOrDefault(callbackId);
    public SlackHandler? FindShortcut(string callbackId) => shortcuts.GetValueOrDefault(callbackId);
    public SlackOptionsHandler? FindOptions(string actionId) => options.GetValueOrDefault(actionId);

    SlackListeners Add<T>(Dictionary<string, T> map, string key, T value, string what)
    {
        if (string.IsNullOrWhiteSpace(key) || key.Length > MaxKeyLength)
            throw new ArgumentException($"Slack listener key '{key}' must be 1–{MaxKeyLength} characters.");
        if (!map.TryAdd(key, value)) throw new InvalidOperationException($"Two listeners registered for {what}.");
        return this;
    }
}

public static class SlackListenerRegistration
{
    /// <summary>A feature's Slack listeners; all registrations are combined into the one <see cref="SlackListeners"/>.</summary>
    public static IServiceCollection AddSlackListeners(this IServiceCollection services, Action<SlackListeners> register) =>
        services.AddSingleton(new SlackListenerModule(register));
}

public sealed record SlackListenerModule(Action<SlackListeners> Register);

/// <summary>Where a reply goes.</summary>
public enum ReplyTarget
{
    /// <summary>To the person who asked, only they see it: the command's answer, response_url, or a DM when those are spent.</summary>
    Person,

    /// <summary>Where the request came from, for everyone there (a command's in_channel answer; an event's channel or thread).</summary>
    Channel,

    /// <summary>The person's DM with the bot.</summary>
    DirectMessage,

    /// <summary>In place of the message whose button was clicked (response_url with replace_original), e.g. a preview showing its outcome.</summary>
    Original,
}

public sealed record PendingReply(ReplyTarget Target, SlackMessage Message);

/// <summary>
/// One Slack callback being handled, in the org and user it came from (the scope's tenant is entered). A
/// handler answers with Reply(…); replies are delivered after the handler returns — within the
/// acknowledgement when that is still possible, otherwise through the outbox — so a handler that fails
/// half-way sends nothing of what it had not finished.
/// </summary>
public sealed class SlackRequest(InboxKind kind, JsonObject payload, Org org, AppUser? user, IServiceProvider services,
    CancellationToken aborted)
{
    readonly List<PendingReply> replies = [];

    public InboxKind Kind { get; } = kind;
    public JsonObject Payload { get; } = payload;
    public Org Org { get; } = org;

    /// <summary>Who asked. Org-level events (app_uninstalled, tokens_revoked) have nobody: <see cref="HasUser"/> is false.</summary>
    public AppUser User => user ?? throw new InvalidOperationException("This Slack callback has no user: it is an org-level event.");

    public bool HasUser => user is not null;
    public IServiceProvider Services { get; } = services;
    public CancellationToken Aborted { get; } = aborted;

    /// <summary>A command's arguments after the subcommand, or an event message's text.</summary>
    public string Text { get; init; } = "";

    public T Service<T>() where T : notnull => Services.GetRequiredService<T>();

    public string? TriggerId => Str(Payload["trigger_id"]);
    public string? ResponseUrl => ResponseUrlOf(Payload);

    /// <summary>Where a command or interaction may be answered (a modal's first response_urls entry, if it asked for one).</summary>
    public static string? ResponseUrlOf(JsonObject payload) =>
        Str(payload["response_url"]) ?? Str(payload["response_urls"]?.AsArray().FirstOrDefault()?["response_url"]);
    public JsonObject? Event => Payload["event"] as JsonObject;
    public JsonObject? Action => Payload["actions"]?.AsArray().FirstOrDefault() as JsonObject;
    public JsonObject? View => Payload["view"] as JsonObject;

    /// <summary>The channel the request came from (a command's channel, a message's channel, an event's channel).</summary>
    public string? ChannelId => Str(Payload["channel_id"]) ?? Str(Payload["channel"]?["id"]) ?? Str(Payload["container"]?["channel_id"])
                                ?? Str(Event?["channel"]);

    /// <summary>The clicked button's value, or the picked option's value.</summary>
    public string? ActionValue => Str(Action?["value"]) ?? Str(Action?["selected_option"]?["value"]) ?? Str(Action?["selected_date"]);

    /// <summary>
    /// The clicked message as Slack sent it back, with one block (the buttons that were used) replaced by a line saying what
    /// happened: what a reply to <see cref="ReplyTarget.Original"/> shows in place of the message.
    /// </summary>
    public SlackMessage Edited(string? blockId, string outcome)
    {
        var message = Payload["message"];
        var blocks = (message?["blocks"] as JsonArray ?? []).OfType<JsonObject>()
            .Select(b => Str(b["block_id"]) == blockId && blockId is not null ? new ContextBlock([outcome]) : (Block)new RawBlock(b)).ToList();
        if (blocks.Count == 0 || blockId is null) blocks.Add(new ContextBlock([outcome]));
        return new SlackMessage(Str(message?["text"]) ?? outcome, blocks);
    }

    /// <summary>
    /// The clicked message with only the clicked element taken out of its block, and a line saying what happened under that block: the
    /// message's other buttons keep working.
    /// </summary>
    public SlackMessage EditedElement(string outcome)
    {
        var message = Payload["message"];
        var actionId = Str(Action?["action_id"]);
        var blocks = new List<Block>();
        foreach (var block in (message?["blocks"] as JsonArray ?? []).OfType<JsonObject>())
        {
            var copy = (JsonObject)block.DeepClone();
            if (Str(copy["block_id"]) != ActionBlockId || copy["elements"] is not JsonArray elements)
            {
                blocks.Add(new RawBlock(copy));
                continue;
            }
            var kept = elements.Where(e => Str(e?["action_id"]) != actionId).Select(e => e!.DeepClone()).ToArray();
            copy["elements"] = new JsonArray(kept);
            if (kept.Length > 0) blocks.Add(new RawBlock(copy));
            blocks.Add(new ContextBlock([outcome]));
        }
        if (blocks.Count == 0) blocks.Add(new ContextBlock([outcome]));
        return new SlackMessage(Str(message?["text"]) ?? outcome, blocks);
    }

    /// <summary>The block id of the clicked element.</summary>
    public string? ActionBlockId => Str(Action?["block_id"]);

    /// <summary>The value of one input of the submitted modal (text, selected option, or the selected options joined by commas).</summary>
    public string? ViewValue(string blockId, string actionId)
    {
        var input = View?["state"]?["values"]?[blockId]?[actionId];
        if (input is null) return null;
        return Str(input["value"]) ?? Str(input["selected_option"]?["value"])
               ?? (input["selected_options"] is JsonArray many ? string.Join(',', many.Select(o => Str(o?["value"]))) : null);
    }

    public IReadOnlyList<PendingReply> Replies => replies;

    /// <summary>What a view submission answers Slack with (errors to show in the modal, an updated view), if anything.</summary>
    public JsonObject? ViewResponse { get; private set; }

    public void Reply(SlackMessage message, ReplyTarget target = ReplyTarget.Person) => replies.Add(new PendingReply(target, message));

    /// <summary>Keeps the modal open and shows each message under its input (block id → message).</summary>
    public void RejectSubmission(IReadOnlyDictionary<string, string> errors) =>
        ViewResponse = new JsonObject
        {
            ["response_action"] = "errors",
            ["errors"] = new JsonObject(errors.Select(e => KeyValuePair.Create(e.Key, (JsonNode?)JsonValue.Create(e.Value)))),
        };

    /// <summary>Opens a modal now: a trigger_id works once, within 3 seconds, so this runs before any slow work.</summary>
    public async Task OpenModalAsync(SlackView view)
    {
        if (TriggerId is not { } trigger) throw new InvalidOperationException("This request carries no trigger_id to open a modal with.");
        var token = await Service<SlackWorkspaces>().BotTokenAsync(Org.Id, Aborted)
                    ?? throw new SlackApiException("views.open", "not_installed", SlackFailure.Permanent);
        await Service<SlackApi>().OpenViewAsync(token, trigger, view, Aborted);
    }
}

/// <summary>Reading Slack's payloads (and the recording providers'), where a field may be missing or of another kind.</summary>
public static class SlackJson
{
    /// <summary>The node's string value, or null when it is missing or not a string.</summary>
    public static string? Str(JsonNode? node) => node?.GetValueKind() == System.Text.Json.JsonValueKind.String ? node.GetValue<string>() : null;

    /// <summary>The node's ISO 8601 time (UTC when it names no offset), or null when it is missing or not a time.</summary>
    public static DateTimeOffset? DateOf(JsonNode? node) =>
        Str(node) is { } text && DateTimeOffset.TryParse(text, System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.AssumeUniversal, out var at) ? at : null;
}
