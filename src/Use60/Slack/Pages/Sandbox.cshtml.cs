using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Html;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Use60.Admin;
using Use60.Data;
using Use60.Orgs;

using static Use60.Slack.SandboxBlocks;
using static Use60.Slack.SlackJson;

namespace Use60.Slack.Pages;

/// <summary>
/// The local Slack sandbox (/admin/slack): a rep's DM with the bot rendered from its Block Kit, and an open modal as a
/// form. Typing, clicking and submitting go through <see cref="SlackSandbox"/>, which sends the signed requests Slack
/// would; the app's answers arrive through the outbox a moment later, so every action redirects back (PRG) and the
/// page offers a Refresh link while an answer is outstanding. Plain HTML forms only: the CSP allows no inline script.
/// </summary>
public sealed partial class SandboxModel(SlackSandbox sandbox, Use60Db db, IOptions<SlackOptions> slackOptions, TimeProvider clock,
    ILogger<SandboxModel> logger) : PageModel
{
    public const int MaxMessageLength = 4000;

    /// <summary>Field names of a modal's inputs: this prefix, then the input block's id.</summary>
    public const string InputPrefix = "input.";

    public bool IsSandbox => slackOptions.Value.IsSandbox;
    public Org Org { get; private set; } = null!;
    public IReadOnlyList<AppUser> Users { get; private set; } = [];

    /// <summary>Whose DM is shown; null when nobody in the org has a Slack user id.</summary>
    public AppUser? Selected { get; private set; }

    public IReadOnlyList<MessageView> Messages { get; private set; } = [];
    public ModalView? Modal { get; private set; }

    /// <summary>What went wrong with the last action, in words for the page (never an exception's text).</summary>
    public string? Error { get; private set; }

    /// <summary>The problem with the typed message, shown under the text box.</summary>
    public string? TextError { get; private set; }

    /// <summary>The text box's content when the page is shown again after a refused message.</summary>
    public string? Text { get; private set; }

    /// <summary>The newest message is the rep's own and nothing answered it yet (no bot message, no modal opened since).</summary>
    public bool AwaitingAnswer => Messages.Count > 0 && Messages[^1] is { FromBot: false } last
                                  && (Modal is null || Modal.OpenedAt < last.PostedAt);

    public string SelfPath => Selected is null ? SlackSandbox.PagePath : $"{SlackSandbox.PagePath}?user={Selected.Id}";

    public sealed record MessageView(long Id, bool FromBot, string Author, DateTimeOffset PostedAt, bool Ephemeral, bool Edited,
        string Text, IReadOnlyList<JsonObject> Blocks);

    public sealed record ModalView(string ViewId, DateTimeOffset OpenedAt, JsonObject View, IReadOnlyList<JsonObject> Blocks,
        JsonObject Errors, JsonObject Submitted);

    public async Task<IActionResult> OnGetAsync([FromQuery] Guid? user, CancellationToken cancellationToken)
    {
        await LoadAsync(user, cancellationToken);
        return Page();
    }

    /// <summary>A DM to the bot, or a slash command.</summary>
    public async Task<IActionResult> OnPostSendAsync([FromQuery] Guid? user, [FromForm] string? text, CancellationToken cancellationToken)
    {
        if (!await LoadAsync(user, cancellationToken) || Selected is null) return Page();
        var trimmed = text?.Trim() ?? "";
        if (trimmed.Length == 0) TextError = "Type a message, or a command such as /sixty help.";
        else if (trimmed.Length > MaxMessageLength)
            TextError = $"That message is {trimmed.Length:N0} characters; Slack takes at most {MaxMessageLength:N0}.";
        if (TextError is not null)
        {
            Text = text;
            Response.StatusCode = StatusCodes.Status400BadRequest;
            return Page();
        }
        return await RunAsync("send your message", user, () => sandbox.SendAsync(Org, Selected, trimmed, cancellationToken), text,
            cancellationToken);
    }

    /// <summary>A button clicked, or an option picked in a message's select or overflow menu.</summary>
    public async Task<IActionResult> OnPostClickAsync([FromQuery] Guid? user, [FromForm] long messageId, [FromForm] string? blockId,
        [FromForm] string? actionId, [FromForm] string? value, CancellationToken cancellationToken)
    {
        if (!await LoadAsync(user, cancellationToken) || Selected is null) return Page();
        if (string.IsNullOrEmpty(actionId) || Messages.All(m => m.Id != messageId))
        {
            Error = "That message is no longer in this conversation.";
            return Page();
        }
        var clicked = true;
        var result = await RunAsync("send your click", user, async () =>
            clicked = await sandbox.ClickAsync(Org, Selected, messageId, blockId ?? "", actionId, string.IsNullOrEmpty(value) ? null : value,
                cancellationToken), null, cancellationToken);
        if (clicked) return result;
        Error = "That button or option is no longer in the message.";
        return Page();
    }

    /// <summary>The open modal's Submit: its inputs' values, by block id, with action ids and types from the view itself.</summary>
    public async Task<IActionResult> OnPostSubmitAsync([FromQuery] Guid? user, [FromForm] string? viewId, CancellationToken cancellationToken)
    {
        if (!await LoadAsync(user, cancellationToken) || Selected is null) return Page();
        if (Modal is not { } modal || modal.ViewId != viewId)
        {
            Error = "That window is no longer open.";
            return Page();
        }
        var inputs = new Dictionary<string, (string ActionId, string Type, string? Value)>();
        for (var i = 0; i < modal.Blocks.Count; i++)
        {
            var block = modal.Blocks[i];
            if (Str(block["type"]) != "input" || block["element"] is not JsonObject element) continue;
            var blockId = BlockIdOf(block, i);
            var posted = Request.Form[InputPrefix + blockId];
            var type = Str(element["type"]) ?? "plain_text_input";
            var value = type == "checkboxes"
                ? string.Join(',', posted.Where(v => !string.IsNullOrEmpty(v)))
                : posted.FirstOrDefault();
            if (type != "checkboxes" && string.IsNullOrEmpty(value)) value = null;
            if (type is "static_select" or "external_select") value = value?.Trim();
            inputs[blockId] = (Str(element["action_id"]) ?? "", type, value);
        }
        return await RunAsync("submit the form", user, () => sandbox.SubmitViewAsync(Org, Selected, modal.ViewId, inputs, cancellationToken),
            null, cancellationToken);
    }

    /// <summary>The open modal's Cancel.</summary>
    public async Task<IActionResult> OnPostCloseAsync([FromQuery] Guid? user, [FromForm] string? viewId, CancellationToken cancellationToken)
    {
        if (!await LoadAsync(user, cancellationToken) || Selected is null) return Page();
        if (Modal is not { } modal || modal.ViewId != viewId) return Redirect(SelfPath);
        return await RunAsync("close the window", user, () => sandbox.CloseViewAsync(Org, Selected, modal.ViewId, cancellationToken), null,
            cancellationToken);
    }

    /// <summary>Runs an action and redirects back to the conversation; a failure is shown on the page, never as a stack trace.</summary>
    async Task<IActionResult> RunAsync(string what, Guid? user, Func<Task> action, string? text, CancellationToken cancellationToken)
    {
        try
        {
            await action();
            return Redirect(SelfPath);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is HttpRequestException or TaskCanceledException
                                      or TimeoutException or InvalidOperationException or JsonException or SlackApiException or DbUpdateException
                                      or KeyNotFoundException or FormatException)
        {
            logger.LogWarning(e, "The Slack sandbox could not {What} for user {UserId}", what, Selected?.Id);
            await LoadAsync(user, cancellationToken);
            Error = $"Sorry, the sandbox could not {what}: use60 did not answer as Slack expects ({Describe(e)}). " +
                    "The server log has the details; try again in a moment.";
            Text = text;
            Response.StatusCode = StatusCodes.Status502BadGateway;
            return Page();
        }
    }

    static string Describe(Exception e) => e switch
    {
        HttpRequestException { StatusCode: { } status } => $"HTTP {(int)status}",
        HttpRequestException => "no connection",
        TaskCanceledException or TimeoutException => "it took too long",
        _ => "an unexpected answer",
    };

    /// <summary>The org, its Slack users, the chosen one (default: the signed-in admin) and their conversation; false when Slack is real.</summary>
    async Task<bool> LoadAsync(Guid? user, CancellationToken cancellationToken)
    {
        Org = await db.Orgs.AsNoTracking().SingleAsync(cancellationToken);
        if (!IsSandbox) return false;
        if (AdminClaims.Read(User) is not (var orgId, var me, _) || orgId != Org.Id) throw new InvalidOperationException("An admin page without an admin.");
        Users = await sandbox.UsersAsync(orgId, cancellationToken);
        Selected = Users.FirstOrDefault(u => u.Id == (user ?? me)) ?? Users.FirstOrDefault(u => u.Id == me) ?? Users.FirstOrDefault();
        if (Selected is null) return true;
        var conversation = await sandbox.ConversationAsync(Selected, cancellationToken);
        Messages = [.. conversation.Messages.Select(m => ToView(m, Selected))];
        Modal = conversation.OpenView is { } view ? ToView(view) : null;
        return true;
    }

    static MessageView ToView(SandboxMessage message, AppUser user)
    {
        var json = Parse(message.Message);
        return new MessageView(message.Id, message.FromBot, message.FromBot ? "use60" : user.Name, message.PostedAt, message.Ephemeral,
            message.EditedAt is not null, Str(json["text"]) ?? "", Objects(json["blocks"]));
    }

    static ModalView ToView(SandboxView view)
    {
        var json = Parse(view.View);
        return new ModalView(view.ViewId, view.OpenedAt, json, Objects(json["blocks"]), json["errors"] as JsonObject ?? [],
            json["submitted"] as JsonObject ?? []);
    }

    static JsonObject Parse(string json)
    {
        try
        {
            return JsonNode.Parse(json) as JsonObject ?? [];
        }
        catch (JsonException)
        {
            return [];
        }
    }

    // ---- Helpers for the page's markup -------------------------------------------------------------------------------------

    public string LocalTime(DateTimeOffset instant)
    {
        var zone = Selected?.Zone ?? TimeZoneInfo.Utc;
        var local = TimeZoneInfo.ConvertTime(instant, zone);
        var today = TimeZones.LocalDate(clock.GetUtcNow(), zone);
        return local.ToString(DateOnly.FromDateTime(local.DateTime) == today ? "HH:mm" : "ddd d MMM HH:mm", CultureInfo.InvariantCulture);
    }


    /// <summary>The text of a text object ({type, text}) or a bare string.</summary>
    public static string TextOf(JsonNode? text) => Str(text) ?? Str(text?["text"]) ?? "";

    /// <summary>A text object as HTML: mrkdwn rendered, plain_text only encoded (with its emoji).</summary>
    public static IHtmlContent Render(JsonNode? text) =>
        text is JsonObject obj && Str(obj["type"]) == "plain_text" ? Plain(TextOf(obj)) : Mrkdwn(TextOf(text));

    public static IHtmlContent Plain(string? text) =>
        new HtmlString(Emoji(WebUtility.HtmlEncode(text ?? "")).Replace("\r\n", "\n").Replace("\n", "<br>"));

    public static string? ButtonStyle(JsonObject element) => Str(element["style"]) is "primary" or "danger" ? Str(element["style"]) : null;

    /// <summary>Only web and mail links become links.</summary>
    public static string? SafeUrl(string? url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" or "mailto" ? uri.AbsoluteUri : null;

    /// <summary>A modal input's value to show: what was submitted last (when the submission was refused), else the element's initial value.</summary>
    public string? InputValue(JsonObject block, int index, JsonObject element)
    {
        if (Modal?.Submitted[BlockIdOf(block, index)] is JsonObject byAction && byAction[Str(element["action_id"]) ?? ""] is JsonObject submitted)
            return Str(submitted["value"]) ?? Str(submitted["selected_option"]?["value"]) ?? "";
        return Str(element["initial_value"]) ?? Str(element["initial_option"]?["value"]);
    }

    /// <summary>The checked options of a checkboxes input: submitted, else initial.</summary>
    public IReadOnlySet<string> CheckedValues(JsonObject block, int index, JsonObject element)
    {
        var source = Modal?.Submitted[BlockIdOf(block, index)] is JsonObject byAction && byAction[Str(element["action_id"]) ?? ""] is JsonObject submitted
            ? submitted["selected_options"]
            : element["initial_options"];
        return Objects(source).Select(o => Str(o["value"])).OfType<string>().ToHashSet();
    }

    public string? ErrorFor(JsonObject block, int index) => Modal is null ? null : Str(Modal.Errors[BlockIdOf(block, index)]);

    // ---- mrkdwn ------------------------------------------------------------------------------------------------------------

    /// <summary>
    /// Slack's mrkdwn as HTML, minimally: <c>*bold*</c>, <c>_italic_</c>, <c>~strike~</c>, <c>`code`</c>, code blocks,
    /// <c>&lt;url|label&gt;</c> links, mentions, a few emoji, line breaks. Everything from the message is HTML-encoded
    /// first; only the tags made here are markup.
    /// </summary>
    public static IHtmlContent Mrkdwn(string? text)
    {
        if (string.IsNullOrEmpty(text)) return HtmlString.Empty;
        var pieces = new List<string>();
        string Hold(string html)
        {
            pieces.Add(html);
            return "\u0001" + (pieces.Count - 1).ToString(CultureInfo.InvariantCulture) + "\u0002";
        }

        text = text.Replace("\u0001", "").Replace("\u0002", "").Replace("\r\n", "\n");
        text = AngleSequence().Replace(text, m => Hold(Sequence(m.Groups[1].Value)));
        var html = WebUtility.HtmlEncode(Unescape(text));
        html = CodeBlock().Replace(html, m => Hold("<pre><code>" + m.Groups[1].Value.Trim('\n') + "</code></pre>"));
        html = InlineCode().Replace(html, m => Hold("<code>" + m.Groups[1].Value + "</code>"));
        html = Emoji(html);
        html = Bold().Replace(html, "<strong>$1</strong>");
        html = Italic().Replace(html, "<em>$1</em>");
        html = Strike().Replace(html, "<del>$1</del>");
        html = html.Replace("\n", "<br>");
        for (var pass = 0; pass < 3 && html.Contains('\u0001'); pass++)
            html = Placeholder().Replace(html, m => int.TryParse(m.Groups[1].Value, CultureInfo.InvariantCulture, out var i) && i < pieces.Count ? pieces[i] : "");
        return new HtmlString(html);
    }

    /// <summary>One of Slack's &lt;…&gt; sequences: a link, a user or channel mention, @here, a date.</summary>
    static string Sequence(string content)
    {
        var bar = content.IndexOf('|');
        var target = Unescape(bar < 0 ? content : content[..bar]);
        var label = bar < 0 ? null : Unescape(content[(bar + 1)..]);
        string Encode(string s) => WebUtility.HtmlEncode(s);
        switch (target)
        {
            case ['@', ..]:
                return $"<span class=\"mention\">@{Encode(label ?? target[1..])}</span>";
            case ['#', ..]:
                return $"<span class=\"mention\">#{Encode(label ?? target[1..])}</span>";
            case ['!', ..]:
                var special = target[1..];
                return special is "here" or "channel" or "everyone"
                    ? $"<span class=\"mention\">@{special}</span>"
                    : special.StartsWith("subteam^", StringComparison.Ordinal) ? $"<span class=\"mention\">@{Encode(label ?? "team")}</span>"
                    : Encode(label ?? special);
        }
        return SafeUrl(target) is { } url
            ? $"<a href=\"{Encode(url)}\" target=\"_blank\" rel=\"noopener noreferrer\">{Encode(label ?? target)}</a>"
            : Encode(label ?? target);
    }

    /// <summary>Slack escapes &amp;, &lt; and &gt; in message text.</summary>
    static string Unescape(string text) => text.Replace("&lt;", "<").Replace("&gt;", ">").Replace("&amp;", "&");

    static readonly Dictionary<string, string> EmojiByName = new()
    {
        ["white_check_mark"] = "\u2705", ["heavy_check_mark"] = "\u2714\uFE0F", ["x"] = "\u274C", ["warning"] = "\u26A0\uFE0F",
        ["hourglass_flowing_sand"] = "\u23F3", ["hourglass"] = "\u231B", ["tada"] = "\U0001F389", ["wave"] = "\U0001F44B",
        ["calendar"] = "\U0001F4C6", ["date"] = "\U0001F4C5", ["bell"] = "\U0001F514", ["memo"] = "\U0001F4DD",
        ["chart_with_upwards_trend"] = "\U0001F4C8", ["chart_with_downwards_trend"] = "\U0001F4C9", ["rotating_light"] = "\U0001F6A8",
        ["zzz"] = "\U0001F4A4", ["sparkles"] = "\u2728", ["bulb"] = "\U0001F4A1", ["eyes"] = "\U0001F440", ["+1"] = "\U0001F44D",
        ["thumbsup"] = "\U0001F44D", ["email"] = "\U0001F4E7", ["moneybag"] = "\U0001F4B0", ["fire"] = "\U0001F525",
        ["point_right"] = "\U0001F449", ["information_source"] = "\u2139\uFE0F", ["clipboard"] = "\U0001F4CB", ["mag"] = "\U0001F50D",
        ["lock"] = "\U0001F512", ["red_circle"] = "\U0001F534", ["large_green_circle"] = "\U0001F7E2", ["large_yellow_circle"] = "\U0001F7E1",
        ["busts_in_silhouette"] = "\U0001F465", ["handshake"] = "\U0001F91D", ["telephone_receiver"] = "\U0001F4DE", ["robot_face"] = "\U0001F916",
    };

    /// <summary>Known :emoji: names as characters; unknown ones stay as typed.</summary>
    static string Emoji(string html) => EmojiName().Replace(html, m => EmojiByName.GetValueOrDefault(m.Groups[1].Value) ?? m.Value);

    [GeneratedRegex(@"<([^<>\n]+)>")]
    private static partial Regex AngleSequence();

    [GeneratedRegex(@"```([\s\S]+?)```")]
    private static partial Regex CodeBlock();

    [GeneratedRegex(@"`([^`\n]+)`")]
    private static partial Regex InlineCode();

    [GeneratedRegex(@"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")]
    private static partial Regex Bold();

    [GeneratedRegex(@"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")]
    private static partial Regex Italic();

    [GeneratedRegex(@"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])")]
    private static partial Regex Strike();

    [GeneratedRegex(@":([a-z0-9_+\-]+):")]
    private static partial Regex EmojiName();

    [GeneratedRegex("\u0001([0-9]+)\u0002")]
    private static partial Regex Placeholder();
}

/// <summary>What the Block Kit partial renders: a block, its position, the sandbox message it is in (none: not pressable), and whose DM.</summary>
public sealed record BlockKitView(JsonObject Block, int Index, long? MessageId, Guid? User)
{
    public const string Partial = "~/Slack/Pages/_BlockKitBlock.cshtml";
}
