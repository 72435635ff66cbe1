using System.Collections.ObjectModel;
using System.Text.Json.Nodes;

namespace Use60.Slack;

// Slack's Block Kit (https://docs.slack.dev/reference/block-kit) as immutable records that write Slack's JSON.
// Slack's limits are left to BlockKitLimits.Fit, so callers build freely and fit once before sending; only a modal's
// private_metadata is checked here, as no fitting could mend it.

/// <summary>A chat message: <see cref="Text"/> is the plain-text fallback shown in notifications, sent even with blocks.</summary>
public sealed record SlackMessage(string Text, IReadOnlyList<Block> Blocks)
{
    public SlackMessage(string text) : this(text, []) { }

    /// <summary>
    /// Full texts that <see cref="BlockKitLimits.Fit(SlackMessage)"/> cut short, keyed by the value of their "See more" button.
    /// The app keeps them to show on a click; they are not sent to Slack.
    /// </summary>
    public IReadOnlyDictionary<string, string> SeeMore { get; init; } = ReadOnlyDictionary<string, string>.Empty;

    public JsonObject ToJson() =>
        new JsonObject { ["text"] = Text }.Put("blocks", Blocks.Count > 0 ? BlockKitJson.Array(Blocks, b => b.ToJson()) : null);
}

/// <summary>A modal or a Home tab.</summary>
public sealed record SlackView
{
    SlackView(string type, IReadOnlyList<Block> blocks, string? privateMetadata = null)
    {
        Type = type;
        Blocks = blocks;
        PrivateMetadata = privateMetadata;
    }

    /// <summary>"modal" or "home".</summary>
    public string Type { get; }
    public IReadOnlyList<Block> Blocks { get; init; }
    public string? Title { get; init; }
    public string? CallbackId { get; init; }
    public string? Submit { get; init; }
    public string? Close { get; init; }

    /// <summary>State the app gets back on submission; only <see cref="Modal"/> sets it, having checked its length.</summary>
    public string? PrivateMetadata { get; }

    /// <exception cref="ArgumentException">
    /// <paramref name="privateMetadata"/> is over <see cref="BlockKitLimits.MaxPrivateMetadataLength"/>: a programming error,
    /// as cutting it would corrupt the state the app reads back.
    /// </exception>
    public static SlackView Modal(string title, string callbackId, IReadOnlyList<Block> blocks,
        string? submit = null, string? close = null, string? privateMetadata = null)
    {
        if (privateMetadata?.Length > BlockKitLimits.MaxPrivateMetadataLength)
            throw new ArgumentException(
                $"private_metadata is {privateMetadata.Length} characters; Slack allows {BlockKitLimits.MaxPrivateMetadataLength}. Store the state and pass its key.",
                nameof(privateMetadata));
        return new SlackView("modal", blocks, privateMetadata) { Title = title, CallbackId = callbackId, Submit = submit, Close = close };
    }

    public static SlackView Home(IReadOnlyList<Block> blocks) => new("home", blocks);

    public JsonObject ToJson() =>
        new JsonObject { ["type"] = Type }
            .Put("callback_id", CallbackId)
            .Put("title", BlockKitJson.PlainOrNull(Title))
            .Put("submit", BlockKitJson.PlainOrNull(Submit))
            .Put("close", BlockKitJson.PlainOrNull(Close))
            .Put("private_metadata", PrivateMetadata)
            .Put("blocks", BlockKitJson.Array(Blocks, b => b.ToJson()));
}

public abstract record Block
{
    public string? BlockId { get; init; }

    public abstract JsonObject ToJson();

    private protected JsonObject Typed(string type) => new JsonObject { ["type"] = type }.Put("block_id", BlockId);
}

/// <summary>Plain text in large bold type.</summary>
public sealed record HeaderBlock(string Text) : Block
{
    public override JsonObject ToJson() => Typed("header").Put("text", BlockKitJson.Plain(Text));
}

/// <summary>mrkdwn text and mrkdwn fields (shown in two columns), with an optional element on the right.</summary>
public sealed record SectionBlock(string? Text, IReadOnlyList<string>? Fields = null, BlockElement? Accessory = null) : Block
{
    public override JsonObject ToJson() =>
        Typed("section")
            .Put("text", BlockKitJson.MrkdwnOrNull(Text))
            .Put("fields", Fields is { Count: > 0 } ? BlockKitJson.Array(Fields, BlockKitJson.Mrkdwn) : null)
            .Put("accessory", Accessory?.ToJson());
}

/// <summary>Small grey mrkdwn texts.</summary>
public sealed record ContextBlock(IReadOnlyList<string> Elements) : Block
{
    public override JsonObject ToJson() => Typed("context").Put("elements", BlockKitJson.Array(Elements, BlockKitJson.Mrkdwn));
}

/// <summary>A block as Slack sent it back (the blocks of a clicked message), passed through when that message is edited in place.</summary>
public sealed record RawBlock(JsonObject Json) : Block
{
    public override JsonObject ToJson()
    {
        var json = Json.DeepClone().AsObject();
        if (BlockId is not null) json["block_id"] = BlockId;
        return json;
    }
}

public sealed record DividerBlock() : Block
{
    public override JsonObject ToJson() => Typed("divider");
}

public sealed record ActionsBlock(IReadOnlyList<BlockElement> Elements) : Block
{
    public override JsonObject ToJson() => Typed("actions").Put("elements", BlockKitJson.Array(Elements, e => e.ToJson()));
}

/// <summary>A labelled form field; modals need a <see cref="Block.BlockId"/> on it to find the value on submission.</summary>
public sealed record InputBlock(string Label, BlockElement Element, bool Optional = false, string? Hint = null) : Block
{
    public override JsonObject ToJson() =>
        Typed("input")
            .Put("label", BlockKitJson.Plain(Label))
            .Put("element", Element.ToJson())
            .Put("optional", Optional)
            .Put("hint", BlockKitJson.PlainOrNull(Hint));
}

public abstract record BlockElement
{
    public abstract JsonObject ToJson();
}

public enum ButtonStyle { Default, Primary, Danger }

public sealed record ButtonElement(string Text, string ActionId, string? Value = null, ButtonStyle Style = ButtonStyle.Default,
    string? Url = null, ConfirmDialog? Confirm = null) : BlockElement
{
    public override JsonObject ToJson() =>
        new JsonObject { ["type"] = "button", ["text"] = BlockKitJson.Plain(Text), ["action_id"] = ActionId }
            .Put("value", Value)
            .Put("url", Url)
            .Put("style", BlockKitJson.Style(Style))
            .Put("confirm", Confirm?.ToJson());
}

public sealed record StaticSelectElement(string ActionId, string Placeholder, IReadOnlyList<SelectOption> Options,
    SelectOption? Initial = null) : BlockElement
{
    public override JsonObject ToJson() =>
        new JsonObject { ["type"] = "static_select", ["action_id"] = ActionId }
            .Put("placeholder", BlockKitJson.PlainOrNull(Placeholder))
            .Put("options", BlockKitJson.Array(Options, o => o.ToJson()))
            .Put("initial_option", Initial?.ToJson());
}

/// <summary>A menu whose options the app serves on demand (see <see cref="BlockKitLimits.FitOptions"/>).</summary>
public sealed record ExternalSelectElement(string ActionId, string Placeholder, int MinQueryLength = 1,
    SelectOption? Initial = null) : BlockElement
{
    public override JsonObject ToJson() =>
        new JsonObject { ["type"] = "external_select", ["action_id"] = ActionId }
            .Put("placeholder", BlockKitJson.PlainOrNull(Placeholder))
            .Put("min_query_length", MinQueryLength)
            .Put("initial_option", Initial?.ToJson());
}

/// <summary>A "⋯" button opening a short menu.</summary>
public sealed record OverflowElement(string ActionId, IReadOnlyList<SelectOption> Options) : BlockElement
{
    public override JsonObject ToJson() =>
        new JsonObject { ["type"] = "overflow", ["action_id"] = ActionId, ["options"] = BlockKitJson.Array(Options, o => o.ToJson()) };
}

/// <summary>A date picker; its click carries <c>selected_date</c> (yyyy-MM-dd).</summary>
public sealed record DatePickerElement(string ActionId, DateOnly? Initial = null, string? Placeholder = null) : BlockElement
{
    public override JsonObject ToJson() =>
        new JsonObject { ["type"] = "datepicker", ["action_id"] = ActionId }
            .Put("initial_date", Initial?.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture))
            .Put("placeholder", BlockKitJson.PlainOrNull(Placeholder));
}

public sealed record PlainTextInputElement(string ActionId, string? Initial = null, string? Placeholder = null,
    bool Multiline = false, int? MaxLength = null) : BlockElement
{
    public override JsonObject ToJson() =>
        new JsonObject { ["type"] = "plain_text_input", ["action_id"] = ActionId }
            .Put("initial_value", Initial)
            .Put("placeholder", BlockKitJson.PlainOrNull(Placeholder))
            .Put("multiline", Multiline ? true : null)
            .Put("max_length", MaxLength);
}

public sealed record CheckboxesElement(string ActionId, IReadOnlyList<SelectOption> Options,
    IReadOnlyList<SelectOption>? Initial = null) : BlockElement
{
    public override JsonObject ToJson() =>
        new JsonObject { ["type"] = "checkboxes", ["action_id"] = ActionId, ["options"] = BlockKitJson.Array(Options, o => o.ToJson()) }
            .Put("initial_options", Initial is { Count: > 0 } ? BlockKitJson.Array(Initial, o => o.ToJson()) : null);
}

public sealed record SelectOption(string Text, string Value, string? Description = null)
{
    public JsonObject ToJson() =>
        new JsonObject { ["text"] = BlockKitJson.Plain(Text), ["value"] = Value }.Put("description", BlockKitJson.PlainOrNull(Description));
}

/// <summary>An "Are you sure?" dialog shown before a button's action runs.</summary>
public sealed record ConfirmDialog(string Title, string Text, string Confirm = "Confirm", string Deny = "Cancel",
    ButtonStyle Style = ButtonStyle.Primary)
{
    public JsonObject ToJson() =>
        new JsonObject
        {
            ["title"] = BlockKitJson.Plain(Title), ["text"] = BlockKitJson.Plain(Text), ["confirm"] = BlockKitJson.Plain(Confirm), ["deny"] = BlockKitJson.Plain(Deny),
        }.Put("style", BlockKitJson.Style(Style));
}

static class BlockKitJson
{
    public static JsonObject Plain(string text) => new() { ["type"] = "plain_text", ["text"] = text, ["emoji"] = true };

    public static JsonObject Mrkdwn(string text) => new() { ["type"] = "mrkdwn", ["text"] = text };

    // Slack rejects empty text objects, so an optional text left blank is left out.
    public static JsonObject? PlainOrNull(string? text) => string.IsNullOrWhiteSpace(text) ? null : Plain(text);

    public static JsonObject? MrkdwnOrNull(string? text) => string.IsNullOrWhiteSpace(text) ? null : Mrkdwn(text);

    public static JsonArray Array<T>(IEnumerable<T> items, Func<T, JsonNode> toJson) => new([.. items.Select(toJson)]);

    public static string? Style(ButtonStyle style) => style switch
    {
        ButtonStyle.Primary => "primary",
        ButtonStyle.Danger => "danger",
        _ => null,
    };

    /// <summary>Sets <paramref name="key"/> unless <paramref name="value"/> is null, so optional fields are left out.</summary>
    public static JsonObject Put(this JsonObject json, string key, JsonNode? value)
    {
        if (value is not null) json[key] = value;
        return json;
    }
}
