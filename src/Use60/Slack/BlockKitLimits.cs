using System.Diagnostics.CodeAnalysis;

namespace Use60.Slack;

/// <summary>
/// Slack's Block Kit limits, and fitters that bring any message or view within them so Slack never rejects it for size:
/// texts are cut with an ellipsis, lists too long for one block or message are split over more so content is not lost, and
/// blocks without content are dropped. Lengths count UTF-16 chars, as Slack does. What Fit cannot mend is a programming
/// error (a button without a label, a menu without options) that <see cref="Problems(SlackMessage)"/> reports.
/// </summary>
public static class BlockKitLimits
{
    public const int MaxBlocksPerMessage = 50;
    public const int MaxBlocksPerView = 100;
    /// <summary>The text a message's blocks show, all told (see <see cref="TextLength(Block)"/>); Slack answers msg_blocks_too_long somewhere above.</summary>
    public const int MaxMessageBlocksTextLength = 12_000;
    /// <summary>A message's plain-text fallback.</summary>
    public const int MaxMessageTextLength = 40_000;
    public const int MaxHeaderTextLength = 150;
    public const int MaxSectionTextLength = 3000;
    public const int MaxSectionFields = 10;
    public const int MaxFieldLength = 2000;
    public const int MaxContextElements = 10;
    public const int MaxContextTextLength = 3000;
    public const int MaxActionsElements = 25;
    /// <summary>action_id, block_id, callback_id and external_id.</summary>
    public const int MaxIdLength = 255;
    public const int MaxButtonTextLength = 75;
    public const int MaxButtonValueLength = 2000;
    public const int MaxUrlLength = 3000;
    public const int MaxPlaceholderLength = 150;
    public const int MaxOptionTextLength = 75;
    public const int MaxOptionValueLength = 150;
    public const int MaxOptionDescriptionLength = 75;
    public const int MaxSelectOptions = 100;
    public const int MaxOverflowOptions = 5;
    public const int MaxCheckboxOptions = 10;
    public const int MaxConfirmTitleLength = 100;
    public const int MaxConfirmTextLength = 300;
    public const int MaxConfirmButtonLength = 30;
    /// <summary>A modal's title, submit and close texts.</summary>
    public const int MaxViewTitleLength = 24;
    /// <summary>Enforced by <see cref="SlackView.Modal"/>, which throws: cutting the state would corrupt it.</summary>
    public const int MaxPrivateMetadataLength = 3000;
    public const int MaxInputLabelLength = 2000;
    public const int MaxInputHintLength = 2000;
    public const int MaxInputValueLength = 3000;

    public const string Ellipsis = "…";
    public const string SeeMoreActionId = "see_more";
    public const string SeeMoreText = "See more";
    public const string ContinuedText = "(continued)";

    // A fallback made from the blocks only has to read well in a notification.
    const int DerivedTextLength = 300;

    /// <summary>
    /// <paramref name="message"/> within Slack's limits: an equal message when it fits, else several messages to send in order, the first
    /// with the head of the content. A section text cut short gets a "See more" button right after it, its full text kept in
    /// <see cref="SlackMessage.SeeMore"/> of the message carrying the button.
    /// </summary>
    public static IReadOnlyList<SlackMessage> Fit(SlackMessage message)
    {
        var seeMore = new Dictionary<string, string>(message.SeeMore);
        var pages = Paginate(message.Blocks.SelectMany(b => FitBlock(b, seeMore)));
        var shown = pages.SelectMany(SeeMoreKeys).ToHashSet();
        return [.. pages.Select((blocks, i) =>
        {
            var keys = SeeMoreKeys(blocks).ToHashSet();
            return new SlackMessage(Fallback(message.Text, blocks, followUp: i > 0), blocks)
            {
                // A text whose button is gone stays with the first message rather than vanish.
                SeeMore = seeMore.Where(t => keys.Contains(t.Key) || i == 0 && !shown.Contains(t.Key)).ToDictionary(),
            };
        })];
    }

    /// <summary>
    /// <paramref name="view"/> within Slack's limits. A view has nowhere to keep a "See more" text, so long section texts are
    /// only cut; blocks past the limit give way to a note saying how many are not shown.
    /// </summary>
    public static SlackView Fit(SlackView view)
    {
        var blocks = view.Blocks.SelectMany(b => FitBlock(b, seeMore: null)).SelectMany(group => group).ToList();
        if (blocks.Count > MaxBlocksPerView)
        {
            var hidden = blocks.Count - (MaxBlocksPerView - 1);
            blocks = [.. blocks.Take(MaxBlocksPerView - 1), new ContextBlock([$"…and more ({hidden} blocks not shown)"])];
        }
        return view with
        {
            Blocks = blocks,
            Title = Truncate(view.Title, MaxViewTitleLength),
            Submit = Truncate(view.Submit, MaxViewTitleLength),
            Close = Truncate(view.Close, MaxViewTitleLength),
            CallbackId = Truncate(view.CallbackId, MaxIdLength),
        };
    }

    /// <summary>The options an external select's options request is answered with: the first 100, each within limits.</summary>
    public static IReadOnlyList<SelectOption> FitOptions(IEnumerable<SelectOption> options) =>
        [.. options.Take(MaxSelectOptions).Select(FitOption)];

    /// <summary>What Slack would reject in <paramref name="message"/>, or what the app could not serve (a "See more" button without its text).</summary>
    public static IReadOnlyList<string> Problems(SlackMessage message)
    {
        var check = new Checker();
        check.Text("text", message.Text, MaxMessageTextLength, required: true);
        check.Count("blocks", message.Blocks.Count, 0, MaxBlocksPerMessage);
        var text = message.Blocks.Sum(TextLength);
        if (text > MaxMessageBlocksTextLength) check.Add("blocks", $"{text} characters of text, over {MaxMessageBlocksTextLength}");
        check.Blocks(message.Blocks);
        foreach (var key in SeeMoreKeys(message.Blocks).Where(k => !message.SeeMore.ContainsKey(k)))
            check.Add("see_more", $"no text kept for the button {key}");
        return check.Found;
    }

    public static IReadOnlyList<string> Problems(SlackView view)
    {
        var check = new Checker();
        check.Count("blocks", view.Blocks.Count, 0, MaxBlocksPerView);
        if (view.Type == "modal")
        {
            check.Text("title", view.Title, MaxViewTitleLength, required: true);
            check.Text("submit", view.Submit, MaxViewTitleLength);
            check.Text("close", view.Close, MaxViewTitleLength);
            check.Text("callback_id", view.CallbackId, MaxIdLength);
        }
        check.Blocks(view.Blocks);
        return check.Found;
    }

    /// <summary>
    /// <paramref name="text"/> cut to at most <paramref name="max"/> UTF-16 chars with the ellipsis, never between the halves
    /// of a surrogate pair.
    /// </summary>
    [return: NotNullIfNotNull(nameof(text))]
    public static string? Truncate(string? text, int max)
    {
        if (text is null || text.Length <= max) return text;
        var cut = max - Ellipsis.Length;
        if (char.IsHighSurrogate(text[cut - 1])) cut--;
        return string.Concat(text.AsSpan(0, cut), Ellipsis);
    }

    /// <summary>
    /// The text <paramref name="block"/> shows, which <see cref="MaxMessageBlocksTextLength"/> bounds per message. Menu
    /// options and confirm dialogs show only on a click and do not count.
    /// </summary>
    public static int TextLength(Block block) => block switch
    {
        HeaderBlock h => h.Text.Length,
        SectionBlock s => (s.Text?.Length ?? 0) + (s.Fields?.Sum(f => f.Length) ?? 0) + (s.Accessory is null ? 0 : TextLength(s.Accessory)),
        ContextBlock c => c.Elements.Sum(e => e.Length),
        ActionsBlock a => a.Elements.Sum(TextLength),
        InputBlock i => i.Label.Length + (i.Hint?.Length ?? 0) + TextLength(i.Element),
        // Slack's own blocks came within its limits; their text still counts toward a message's total.
        RawBlock r => r.Json.ToJsonString().Length,
        _ => 0,
    };

    static int TextLength(BlockElement element) => element switch
    {
        ButtonElement b => b.Text.Length,
        StaticSelectElement s => s.Placeholder.Length + (s.Initial?.Text.Length ?? 0),
        ExternalSelectElement s => s.Placeholder.Length + (s.Initial?.Text.Length ?? 0),
        PlainTextInputElement p => (p.Initial?.Length ?? 0) + (p.Placeholder?.Length ?? 0),
        CheckboxesElement c => c.Options.Sum(o => o.Text.Length + (o.Description?.Length ?? 0)),
        _ => 0,
    };

    // One block as groups of valid blocks, each group to stay in one message; none when it has no content. seeMore takes
    // the full texts of cut sections; it is null for views.
    static IEnumerable<Block[]> FitBlock(Block block, Dictionary<string, string>? seeMore)
    {
        var id = Truncate(block.BlockId, MaxIdLength);
        return block switch
        {
            HeaderBlock h when !IsShown(h.Text) => [],
            HeaderBlock h => [[h with { BlockId = id, Text = Truncate(h.Text, MaxHeaderTextLength) }]],
            SectionBlock s => FitSection(s with { BlockId = id }, seeMore),
            ContextBlock c => Chunk(c.Elements.Where(IsShown).Select(e => Truncate(e, MaxContextTextLength)), MaxContextElements, e => e.Length)
                .Where(chunk => chunk.Count > 0)
                .Select((chunk, i) => new Block[] { new ContextBlock(chunk) { BlockId = i == 0 ? id : null } }),
            ActionsBlock a => Chunk(a.Elements.Select(FitElement), MaxActionsElements, TextLength)
                .Where(chunk => chunk.Count > 0)
                .Select((chunk, i) => new Block[] { new ActionsBlock(chunk) { BlockId = i == 0 ? id : null } }),
            InputBlock input =>
            [[
                input with
                {
                    BlockId = id,
                    Label = Truncate(input.Label, MaxInputLabelLength),
                    Hint = Truncate(input.Hint, MaxInputHintLength),
                    Element = FitElement(input.Element),
                },
            ]],
            _ => [[block with { BlockId = id }]],
        };
    }

    // The head keeps the block id, text, accessory and as many fields as fit; further fields follow in sections of their own.
    static IEnumerable<Block[]> FitSection(SectionBlock section, Dictionary<string, string>? seeMore)
    {
        var accessory = section.Accessory is null ? null : FitElement(section.Accessory);
        var text = IsShown(section.Text) ? section.Text : null;
        ActionsBlock? seeMoreButton = null;
        if (text?.Length > MaxSectionTextLength)
        {
            if (seeMore is not null)
                seeMoreButton = new ActionsBlock([new ButtonElement(SeeMoreText, SeeMoreActionId, AddSeeMore(seeMore, text))]);
            text = Truncate(text, MaxSectionTextLength);
        }
        var headLength = (text?.Length ?? 0) + (accessory is null ? 0 : TextLength(accessory)) + (seeMoreButton is null ? 0 : SeeMoreText.Length);
        var fields = Chunk((section.Fields ?? []).Where(IsShown).Select(f => Truncate(f, MaxFieldLength)),
            MaxSectionFields, f => f.Length, reserved: headLength);
        var head = section with { Text = text, Fields = fields[0], Accessory = accessory };
        if (text is not null || fields[0].Count > 0) yield return seeMoreButton is null ? [head] : [head, seeMoreButton];
        else if (accessory is not null) yield return [new ActionsBlock([accessory]) { BlockId = section.BlockId }];
        foreach (var rest in fields.Skip(1)) yield return [new SectionBlock(null, rest)];
    }

    static BlockElement FitElement(BlockElement element) => element switch
    {
        ButtonElement b => b with
        {
            Text = Truncate(b.Text, MaxButtonTextLength),
            ActionId = Truncate(b.ActionId, MaxIdLength),
            Value = Truncate(b.Value, MaxButtonValueLength),
            Url = Truncate(b.Url, MaxUrlLength),
            Confirm = b.Confirm is { } confirm ? FitConfirm(confirm) : null,
        },
        StaticSelectElement s => s with
        {
            ActionId = Truncate(s.ActionId, MaxIdLength),
            Placeholder = Truncate(s.Placeholder, MaxPlaceholderLength),
            Options = FitOptions(s.Options),
            Initial = s.Initial is { } initial ? FitOption(initial) : null,
        },
        ExternalSelectElement s => s with
        {
            ActionId = Truncate(s.ActionId, MaxIdLength),
            Placeholder = Truncate(s.Placeholder, MaxPlaceholderLength),
            Initial = s.Initial is { } initial ? FitOption(initial) : null,
        },
        OverflowElement o => o with
        {
            ActionId = Truncate(o.ActionId, MaxIdLength),
            Options = [.. o.Options.Take(MaxOverflowOptions).Select(FitOption)],
        },
        DatePickerElement d => d with
        {
            ActionId = Truncate(d.ActionId, MaxIdLength),
            Placeholder = Truncate(d.Placeholder, MaxPlaceholderLength),
        },
        PlainTextInputElement p => p with
        {
            ActionId = Truncate(p.ActionId, MaxIdLength),
            Initial = Truncate(p.Initial, MaxInputValueLength),
            Placeholder = Truncate(p.Placeholder, MaxPlaceholderLength),
        },
        CheckboxesElement c => c with
        {
            ActionId = Truncate(c.ActionId, MaxIdLength),
            Options = [.. c.Options.Take(MaxCheckboxOptions).Select(FitOption)],
            Initial = c.Initial is null ? null : [.. c.Initial.Take(MaxCheckboxOptions).Select(FitOption)],
        },
        _ => element,
    };

    static SelectOption FitOption(SelectOption option) => option with
    {
        Text = Truncate(option.Text, MaxOptionTextLength),
        Value = Truncate(option.Value, MaxOptionValueLength),
        Description = Truncate(option.Description, MaxOptionDescriptionLength),
    };

    static ConfirmDialog FitConfirm(ConfirmDialog confirm) => confirm with
    {
        Title = Truncate(confirm.Title, MaxConfirmTitleLength),
        Text = Truncate(confirm.Text, MaxConfirmTextLength),
        Confirm = Truncate(confirm.Confirm, MaxConfirmButtonLength),
        Deny = Truncate(confirm.Deny, MaxConfirmButtonLength),
    };

    // Runs of at most maxCount items whose lengths stay within one message's text budget, the first run sharing it with
    // `reserved` characters of its block. The first run may be empty; the others are not.
    static List<List<T>> Chunk<T>(IEnumerable<T> items, int maxCount, Func<T, int> length, int reserved = 0)
    {
        List<List<T>> chunks = [[]];
        var total = reserved;
        foreach (var item in items)
        {
            if (chunks[^1].Count == maxCount || total + length(item) > MaxMessageBlocksTextLength)
            {
                chunks.Add([]);
                total = 0;
            }
            chunks[^1].Add(item);
            total += length(item);
        }
        return chunks;
    }

    // Fills each message with whole groups while it stays within the block count and the text budget.
    static List<List<Block>> Paginate(IEnumerable<Block[]> groups)
    {
        List<List<Block>> pages = [[]];
        var text = 0;
        foreach (var group in groups)
        {
            var length = group.Sum(TextLength);
            if (pages[^1].Count + group.Length > MaxBlocksPerMessage || text + length > MaxMessageBlocksTextLength)
            {
                pages.Add([]);
                text = 0;
            }
            pages[^1].AddRange(group);
            text += length;
        }
        return pages;
    }

    static string AddSeeMore(Dictionary<string, string> texts, string text)
    {
        var n = texts.Count + 1;
        while (texts.ContainsKey($"m{n}")) n++;
        texts[$"m{n}"] = text;
        return $"m{n}";
    }

    static IEnumerable<string> SeeMoreKeys(IEnumerable<Block> blocks) =>
        blocks.OfType<ActionsBlock>().SelectMany(a => a.Elements).OfType<ButtonElement>()
            .Where(b => b.ActionId == SeeMoreActionId && b.Value is not null)
            .Select(b => b.Value!);

    // The given text for the first message; otherwise what the blocks say, for a notification to show something useful.
    static string Fallback(string text, IReadOnlyList<Block> blocks, bool followUp)
    {
        if (!followUp && IsShown(text)) return Truncate(text, MaxMessageTextLength);
        var derived = string.Join("\n", blocks.SelectMany(MainTexts).Where(IsShown));
        return derived.Length > 0 ? Truncate(derived, DerivedTextLength) : followUp ? ContinuedText : Ellipsis;
    }

    static IEnumerable<string> MainTexts(Block block) => block switch
    {
        HeaderBlock h => [h.Text],
        SectionBlock s => [s.Text ?? "", .. s.Fields ?? []],
        ContextBlock c => c.Elements,
        _ => [],
    };

    static bool IsShown([NotNullWhen(true)] string? text) => !string.IsNullOrWhiteSpace(text);

    // Collects problems as "where: what", where is a JSON path such as blocks[3].fields[2].
    sealed class Checker
    {
        public List<string> Found { get; } = [];

        public void Add(string where, string what) => Found.Add($"{where}: {what}");

        // Optional texts may be blank, as the JSON leaves them out; required ones may not.
        public void Text(string where, string? text, int max, bool required = false)
        {
            if (required && !IsShown(text)) Add(where, "empty");
            else if (text?.Length > max) Add(where, $"{text.Length} characters, over {max}");
        }

        public void Count(string where, int count, int min, int max)
        {
            if (count < min || count > max) Add(where, $"{count} items, not {min} to {max}");
        }

        public void Blocks(IReadOnlyList<Block> blocks)
        {
            for (var i = 0; i < blocks.Count; i++) Block($"blocks[{i}]", blocks[i]);
        }

        void Block(string at, Block block)
        {
            Text($"{at}.block_id", block.BlockId, MaxIdLength);
            switch (block)
            {
                case HeaderBlock h:
                    Text($"{at}.text", h.Text, MaxHeaderTextLength, required: true);
                    break;
                case SectionBlock s:
                    if (!IsShown(s.Text) && s.Fields is not { Count: > 0 }) Add(at, "a section needs text or fields");
                    Text($"{at}.text", s.Text, MaxSectionTextLength);
                    Count($"{at}.fields", s.Fields?.Count ?? 0, 0, MaxSectionFields);
                    Texts($"{at}.fields", s.Fields ?? [], MaxFieldLength);
                    if (s.Accessory is not null) Element($"{at}.accessory", s.Accessory);
                    break;
                case ContextBlock c:
                    Count($"{at}.elements", c.Elements.Count, 1, MaxContextElements);
                    Texts($"{at}.elements", c.Elements, MaxContextTextLength);
                    break;
                case ActionsBlock a:
                    Count($"{at}.elements", a.Elements.Count, 1, MaxActionsElements);
                    for (var i = 0; i < a.Elements.Count; i++) Element($"{at}.elements[{i}]", a.Elements[i]);
                    break;
                case InputBlock input:
                    Text($"{at}.label", input.Label, MaxInputLabelLength, required: true);
                    Text($"{at}.hint", input.Hint, MaxInputHintLength);
                    Element($"{at}.element", input.Element);
                    break;
            }
        }

        void Texts(string at, IReadOnlyList<string> texts, int max)
        {
            for (var i = 0; i < texts.Count; i++) Text($"{at}[{i}]", texts[i], max, required: true);
        }

        void Element(string at, BlockElement element)
        {
            switch (element)
            {
                case ButtonElement b:
                    Text($"{at}.text", b.Text, MaxButtonTextLength, required: true);
                    Text($"{at}.action_id", b.ActionId, MaxIdLength);
                    Text($"{at}.value", b.Value, MaxButtonValueLength);
                    Text($"{at}.url", b.Url, MaxUrlLength);
                    if (b.Confirm is { } confirm) Confirm($"{at}.confirm", confirm);
                    break;
                case StaticSelectElement s:
                    Text($"{at}.action_id", s.ActionId, MaxIdLength);
                    Text($"{at}.placeholder", s.Placeholder, MaxPlaceholderLength);
                    Options($"{at}.options", s.Options, MaxSelectOptions);
                    if (s.Initial is { } initial) Option($"{at}.initial_option", initial);
                    break;
                case ExternalSelectElement s:
                    Text($"{at}.action_id", s.ActionId, MaxIdLength);
                    Text($"{at}.placeholder", s.Placeholder, MaxPlaceholderLength);
                    if (s.Initial is { } external) Option($"{at}.initial_option", external);
                    break;
                case OverflowElement o:
                    Text($"{at}.action_id", o.ActionId, MaxIdLength);
                    Options($"{at}.options", o.Options, MaxOverflowOptions);
                    break;
                case DatePickerElement d:
                    Text($"{at}.action_id", d.ActionId, MaxIdLength);
                    Text($"{at}.placeholder", d.Placeholder, MaxPlaceholderLength);
                    break;
                case PlainTextInputElement p:
                    Text($"{at}.action_id", p.ActionId, MaxIdLength);
                    Text($"{at}.initial_value", p.Initial, MaxInputValueLength);
                    Text($"{at}.placeholder", p.Placeholder, MaxPlaceholderLength);
                    break;
                case CheckboxesElement c:
                    Text($"{at}.action_id", c.ActionId, MaxIdLength);
                    Options($"{at}.options", c.Options, MaxCheckboxOptions);
                    Options($"{at}.initial_options", c.Initial ?? [], MaxCheckboxOptions, min: 0);
                    break;
            }
        }

        void Options(string at, IReadOnlyList<SelectOption> options, int max, int min = 1)
        {
            Count(at, options.Count, min, max);
            for (var i = 0; i < options.Count; i++) Option($"{at}[{i}]", options[i]);
        }

        void Option(string at, SelectOption option)
        {
            Text($"{at}.text", option.Text, MaxOptionTextLength, required: true);
            Text($"{at}.value", option.Value, MaxOptionValueLength);
            Text($"{at}.description", option.Description, MaxOptionDescriptionLength);
        }

        void Confirm(string at, ConfirmDialog confirm)
        {
            Text($"{at}.title", confirm.Title, MaxConfirmTitleLength, required: true);
            Text($"{at}.text", confirm.Text, MaxConfirmTextLength, required: true);
            Text($"{at}.confirm", confirm.Confirm, MaxConfirmButtonLength, required: true);
            Text($"{at}.deny", confirm.Deny, MaxConfirmButtonLength, required: true);
        }
    }
}
