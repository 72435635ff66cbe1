using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Use60.Data;

namespace Use60.Slack;

public static class SlackEvents
{
    public const string AppMention = "app_mention";
    public const string DirectMessage = "message.im";
    public const string AppHomeOpened = "app_home_opened";
    public const string AppUninstalled = "app_uninstalled";
    public const string TokensRevoked = "tokens_revoked";
}

/// <summary>/sixty help, built from the listener registry, so it lists exactly what is registered.</summary>
public static class SlackHelp
{
    public const string Sixty = "/sixty";

    public static SlackMessage Message(SlackListeners listeners, string command = Sixty, string? lead = null)
    {
        var lines = listeners.SubcommandsOf(command).Select(s => $"`{command} {s.Name}` {s.Description}");
        var text = (lead is null ? "" : lead + "\n") + "Here is what I can do:\n" + string.Join('\n', lines);
        return new SlackMessage(text, [
            new HeaderBlock("use60: your sales teammate"),
            .. lead is null ? Array.Empty<Block>() : [new SectionBlock(lead)],
            new SectionBlock(string.Join('\n', lines)),
            new ContextBlock(["You can also DM me, or @mention me in a channel."]),
        ]);
    }
}

/// <summary>The Slack layer's own listeners: help, "See more", and the workspace leaving. Conversation is the copilot's; the Home tab is the rep's day (Proactive).</summary>
static class SlackBuiltIns
{
    public static void Register(SlackListeners slack) => slack
        .Command(SlackHelp.Sixty, "help", "lists everything I can do", request =>
        {
            request.Reply(SlackHelp.Message(request.Service<SlackListeners>()));
            return Task.CompletedTask;
        })
        .Event(SlackEvents.AppUninstalled, request => request.Service<SlackWorkspaces>().DisableAsync(request.Org, "app_uninstalled", request.Aborted))
        .Event(SlackEvents.TokensRevoked, request => request.Service<SlackWorkspaces>().DisableAsync(request.Org, "tokens_revoked", request.Aborted))
        .Action(BlockKitLimits.SeeMoreActionId, ShowFullTextAsync);

    /// <summary>A "See more" button under a cut-short text: the full text, from the outbox row that sent the message, in a modal.</summary>
    /// <remarks>
    /// Anyone who can see the message may click, also in a channel where another rep's message was posted, so the row is read
    /// across users (the outbox is private to its sender) but only within the clicker's org and only by the message's channel and ts,
    /// which come from Slack's signed payload.
    /// </remarks>
    static async Task ShowFullTextAsync(SlackRequest request)
    {
        var channel = SlackJson.Str(request.Payload["container"]?["channel_id"]);
        var ts = SlackJson.Str(request.Payload["container"]?["message_ts"]);
        var key = request.ActionValue ?? "";
        var orgId = request.Org.Id;
        await using var db = request.Service<SystemDb>().Open("read the full text behind a See more button");
        var sent = channel is null || ts is null ? null : await db.SlackOutbox.AsNoTracking()
            .Where(m => m.OrgId == orgId && m.SlackChannel == channel && m.SlackTs == ts)
            .Select(m => m.SeeMore).FirstOrDefaultAsync(request.Aborted);
        var texts = sent is null ? null : JsonSerializer.Deserialize<Dictionary<string, string>>(sent);
        if (texts?.GetValueOrDefault(key) is not { } full)
        {
            request.Reply(new SlackMessage("The full text of that message is no longer available."));
            return;
        }
        await request.OpenModalAsync(SlackView.Modal("Full text", "see_more", [.. Chunks(full).Select(c => new SectionBlock(c))], close: "Close"));
    }

    /// <summary>Section-sized pieces, cut at line breaks where possible.</summary>
    static IEnumerable<string> Chunks(string text, int size = 2900)
    {
        var rest = text;
        while (rest.Length > size)
        {
            var cut = rest.LastIndexOf('\n', size);
            if (cut < size / 2) cut = char.IsHighSurrogate(rest[size - 1]) ? size - 1 : size;
            yield return rest[..cut];
            rest = rest[cut..].TrimStart('\n');
        }
        if (rest.Length > 0) yield return rest;
    }
}
