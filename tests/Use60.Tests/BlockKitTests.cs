using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Use60.Slack;
using static Use60.Slack.BlockKitLimits;

namespace Use60.Tests;

public sealed class BlockKitTests
{
    // ---------- JSON shapes

    [Fact]
    public void A_button_writes_its_style_and_confirm_dialog()
    {
        var button = new ButtonElement("Delete", "delete_deal", "42", ButtonStyle.Danger,
            Confirm: new ConfirmDialog("Delete deal?", "This cannot be undone.", "Delete", "Keep", ButtonStyle.Danger));
        AssertJson("""
            {"type":"button","text":{"type":"plain_text","text":"Delete","emoji":true},"action_id":"delete_deal","value":"42","style":"danger",
             "confirm":{"title":{"type":"plain_text","text":"Delete deal?","emoji":true},
                        "text":{"type":"plain_text","text":"This cannot be undone.","emoji":true},
                        "confirm":{"type":"plain_text","text":"Delete","emoji":true},
                        "deny":{"type":"plain_text","text":"Keep","emoji":true},"style":"danger"}}
            """, button.ToJson());
        AssertJson("""{"type":"button","text":{"type":"plain_text","text":"Open","emoji":true},"action_id":"open","url":"https://example.com"}""",
            new ButtonElement("Open", "open", Url: "https://example.com").ToJson());
    }

    [Fact]
    public void A_section_writes_mrkdwn_text_fields_and_its_accessory()
    {
        var section = new SectionBlock("*Acme* renewal", ["*Stage*\nProposal", "*Value*\n$12,000"],
            new OverflowElement("deal_menu", [new SelectOption("Open in CRM", "open")])) { BlockId = "deal_42" };
        AssertJson("""
            {"type":"section","block_id":"deal_42","text":{"type":"mrkdwn","text":"*Acme* renewal"},
             "fields":[{"type":"mrkdwn","text":"*Stage*\nProposal"},{"type":"mrkdwn","text":"*Value*\n$12,000"}],
             "accessory":{"type":"overflow","action_id":"deal_menu","options":[{"text":{"type":"plain_text","text":"Open in CRM","emoji":true},"value":"open"}]}}
            """, section.ToJson());
    }

    [Fact]
    public void A_modal_writes_its_input_blocks_and_a_home_tab_only_its_blocks()
    {
        var modal = SlackView.Modal("Log a call", "log_call",
            [new InputBlock("Notes", new PlainTextInputElement("notes", Placeholder: "What was said?", Multiline: true, MaxLength: 500),
                Optional: true, Hint: "Shared with the team") { BlockId = "notes" }],
            submit: "Save", close: "Cancel", privateMetadata: "deal:42");
        AssertJson("""
            {"type":"modal","callback_id":"log_call","title":{"type":"plain_text","text":"Log a call","emoji":true},
             "submit":{"type":"plain_text","text":"Save","emoji":true},"close":{"type":"plain_text","text":"Cancel","emoji":true},
             "private_metadata":"deal:42",
             "blocks":[{"type":"input","block_id":"notes","label":{"type":"plain_text","text":"Notes","emoji":true},
                        "element":{"type":"plain_text_input","action_id":"notes","placeholder":{"type":"plain_text","text":"What was said?","emoji":true},
                                   "multiline":true,"max_length":500},
                        "optional":true,"hint":{"type":"plain_text","text":"Shared with the team","emoji":true}}]}
            """, modal.ToJson());
        Assert.Equal("modal", modal.Type);
        AssertJson("""{"type":"home","blocks":[{"type":"divider"},{"type":"context","elements":[{"type":"mrkdwn","text":"_synced_"}]}]}""",
            SlackView.Home([new DividerBlock(), new ContextBlock(["_synced_"])]).ToJson());
    }

    [Fact]
    public void Menus_write_their_options_and_a_message_leaves_out_empty_blocks()
    {
        var low = new SelectOption("Low", "1");
        AssertJson("""
            {"type":"actions","elements":[
              {"type":"static_select","action_id":"priority","placeholder":{"type":"plain_text","text":"Priority","emoji":true},
               "options":[{"text":{"type":"plain_text","text":"Low","emoji":true},"value":"1"}],
               "initial_option":{"text":{"type":"plain_text","text":"Low","emoji":true},"value":"1"}},
              {"type":"external_select","action_id":"deal","placeholder":{"type":"plain_text","text":"Deal","emoji":true},"min_query_length":2},
              {"type":"checkboxes","action_id":"done","options":[{"text":{"type":"plain_text","text":"Low","emoji":true},"value":"1",
               "description":{"type":"plain_text","text":"least","emoji":true}}]}]}
            """, new ActionsBlock([
                new StaticSelectElement("priority", "Priority", [low], low),
                new ExternalSelectElement("deal", "Deal", MinQueryLength: 2),
                new CheckboxesElement("done", [low with { Description = "least" }], Initial: [])]).ToJson());
        AssertJson("""{"text":"Hello"}""", new SlackMessage("Hello").ToJson());
    }

    // ---------- Problems: one breach of each limit is found, alone, and Fit mends it where it can

    [Fact]
    public void Problems_finds_breaches_of_the_message_limits()
    {
        AssertBreach(new SlackMessage(" "), "text");
        AssertBreach(new SlackMessage(new string('a', MaxMessageTextLength + 1)), "text");
        AssertBreach(new SlackMessage("t", [.. Enumerable.Repeat(new DividerBlock(), MaxBlocksPerMessage + 1)]), "blocks");
        AssertBreach(new SlackMessage("t", [.. Enumerable.Repeat(new SectionBlock(new string('a', 2500)), 5)]), "blocks");
        AssertBreach(new SlackMessage("t", [new ActionsBlock([new ButtonElement(SeeMoreText, SeeMoreActionId, "m1")])]), "see_more", mends: false);
        Assert.Empty(Problems(new SlackMessage("t", [.. Enumerable.Repeat(new SectionBlock(new string('a', 2400)), 5)])));
    }

    [Fact]
    public void Problems_finds_breaches_of_header_and_section_limits()
    {
        AssertBreach(Blocks(new HeaderBlock(new string('h', MaxHeaderTextLength + 1))), "blocks[0].text");
        AssertBreach(Blocks(new HeaderBlock("")), "blocks[0].text");
        AssertBreach(Blocks(new SectionBlock(new string('s', MaxSectionTextLength + 1))), "blocks[0].text");
        AssertBreach(Blocks(new SectionBlock(" ")), "blocks[0]");
        AssertBreach(Blocks(new SectionBlock("s", [.. Enumerable.Repeat("f", MaxSectionFields + 1)])), "blocks[0].fields");
        AssertBreach(Blocks(new SectionBlock(null, ["f", new string('f', MaxFieldLength + 1)])), "blocks[0].fields[1]");
        AssertBreach(Blocks(new SectionBlock("s", [""])), "blocks[0].fields[0]");
        AssertBreach(Blocks(new DividerBlock { BlockId = new string('b', MaxIdLength + 1) }), "blocks[0].block_id");
    }

    [Fact]
    public void Problems_finds_breaches_of_context_and_actions_limits()
    {
        AssertBreach(Blocks(new ContextBlock([])), "blocks[0].elements");
        AssertBreach(Blocks(new ContextBlock([.. Enumerable.Repeat("c", MaxContextElements + 1)])), "blocks[0].elements");
        AssertBreach(Blocks(new ContextBlock([new string('c', MaxContextTextLength + 1)])), "blocks[0].elements[0]");
        AssertBreach(Blocks(new ActionsBlock([])), "blocks[0].elements");
        AssertBreach(Blocks(new ActionsBlock([.. Enumerable.Range(0, MaxActionsElements + 1).Select(i => new ButtonElement("b", $"b{i}"))])),
            "blocks[0].elements");
    }

    [Fact]
    public void Problems_finds_breaches_of_button_and_confirm_limits()
    {
        AssertBreach(Button(new ButtonElement(new string('b', MaxButtonTextLength + 1), "b")), "blocks[0].elements[0].text");
        AssertBreach(Button(new ButtonElement("", "b")), "blocks[0].elements[0].text", mends: false);
        AssertBreach(Button(new ButtonElement("b", new string('i', MaxIdLength + 1))), "blocks[0].elements[0].action_id");
        AssertBreach(Button(new ButtonElement("b", "b", new string('v', MaxButtonValueLength + 1))), "blocks[0].elements[0].value");
        AssertBreach(Button(new ButtonElement("b", "b", Url: "https://x.io/" + new string('u', MaxUrlLength))), "blocks[0].elements[0].url");
        var confirm = new ConfirmDialog("Sure?", "Really.");
        AssertBreach(Button(new ButtonElement("b", "b", Confirm: confirm with { Title = new string('t', MaxConfirmTitleLength + 1) })),
            "blocks[0].elements[0].confirm.title");
        AssertBreach(Button(new ButtonElement("b", "b", Confirm: confirm with { Text = new string('t', MaxConfirmTextLength + 1) })),
            "blocks[0].elements[0].confirm.text");
        AssertBreach(Button(new ButtonElement("b", "b", Confirm: confirm with { Confirm = new string('y', MaxConfirmButtonLength + 1) })),
            "blocks[0].elements[0].confirm.confirm");
        AssertBreach(Button(new ButtonElement("b", "b", Confirm: confirm with { Deny = new string('n', MaxConfirmButtonLength + 1) })),
            "blocks[0].elements[0].confirm.deny");
    }

    [Fact]
    public void Problems_finds_breaches_of_menu_and_option_limits()
    {
        var option = new SelectOption("o", "o");
        SelectOption[] many(int n) => [.. Enumerable.Range(0, n).Select(i => new SelectOption($"o{i}", $"{i}"))];
        AssertBreach(Button(new StaticSelectElement("s", "Pick", many(MaxSelectOptions + 1))), "blocks[0].elements[0].options");
        AssertBreach(Button(new StaticSelectElement("s", new string('p', MaxPlaceholderLength + 1), [option])), "blocks[0].elements[0].placeholder");
        AssertBreach(Button(new StaticSelectElement("s", "Pick", [option with { Text = new string('t', MaxOptionTextLength + 1) }])),
            "blocks[0].elements[0].options[0].text");
        AssertBreach(Button(new StaticSelectElement("s", "Pick", [option with { Value = new string('v', MaxOptionValueLength + 1) }])),
            "blocks[0].elements[0].options[0].value");
        AssertBreach(Button(new CheckboxesElement("c", [option with { Description = new string('d', MaxOptionDescriptionLength + 1) }])),
            "blocks[0].elements[0].options[0].description");
        AssertBreach(Button(new ExternalSelectElement("e", "Find", Initial: option with { Text = new string('t', MaxOptionTextLength + 1) })),
            "blocks[0].elements[0].initial_option.text");
        AssertBreach(Button(new OverflowElement("m", many(MaxOverflowOptions + 1))), "blocks[0].elements[0].options");
        AssertBreach(Button(new OverflowElement("m", [])), "blocks[0].elements[0].options", mends: false);
        AssertBreach(Button(new CheckboxesElement("c", many(MaxCheckboxOptions + 1))), "blocks[0].elements[0].options");
        Assert.Equal(MaxSelectOptions, FitOptions(many(250)).Count);
    }

    [Fact]
    public void Problems_finds_breaches_of_input_limits()
    {
        var input = new InputBlock("Notes", new PlainTextInputElement("notes"));
        AssertBreach(Blocks(input with { Label = new string('l', MaxInputLabelLength + 1) }), "blocks[0].label");
        AssertBreach(Blocks(input with { Hint = new string('h', MaxInputHintLength + 1) }), "blocks[0].hint");
        AssertBreach(Blocks(input with { Element = new PlainTextInputElement("n", new string('i', MaxInputValueLength + 1)) }),
            "blocks[0].element.initial_value");
        AssertBreach(Blocks(input with { Element = new PlainTextInputElement("n", Placeholder: new string('p', MaxPlaceholderLength + 1)) }),
            "blocks[0].element.placeholder");
    }

    [Fact]
    public void Problems_finds_breaches_of_view_limits()
    {
        var modal = SlackView.Modal("Title", "callback", [new DividerBlock()], "Save", "Cancel");
        var long24 = new string('t', MaxViewTitleLength + 1);
        AssertBreach(modal with { Title = long24 }, "title");
        AssertBreach(modal with { Submit = long24 }, "submit");
        AssertBreach(modal with { Close = long24 }, "close");
        AssertBreach(modal with { CallbackId = new string('c', MaxIdLength + 1) }, "callback_id");
        AssertBreach(modal with { Blocks = [.. Enumerable.Repeat(new DividerBlock(), MaxBlocksPerView + 1)] }, "blocks");
        AssertBreach(SlackView.Home([new SectionBlock(new string('s', MaxSectionTextLength + 1))]), "blocks[0].text");
        Assert.Throws<ArgumentException>(() => SlackView.Modal("T", "c", [], privateMetadata: new string('m', MaxPrivateMetadataLength + 1)));
        Assert.Empty(Problems(SlackView.Modal("T", "c", [], privateMetadata: new string('m', MaxPrivateMetadataLength))));
    }

    // ---------- Fit, by example

    [Fact]
    public void A_long_section_is_cut_and_followed_by_a_see_more_button_whose_text_the_message_keeps()
    {
        var full = new string('a', MaxSectionTextLength - 2) + "😀😀";
        var fitted = Assert.Single(Fit(new SlackMessage("Summary", [new SectionBlock(full), new DividerBlock()])));
        var section = Assert.IsType<SectionBlock>(fitted.Blocks[0]);
        Assert.Equal(new string('a', MaxSectionTextLength - 2) + Ellipsis, section.Text);
        var button = Assert.IsType<ButtonElement>(Assert.Single(Assert.IsType<ActionsBlock>(fitted.Blocks[1]).Elements));
        Assert.Equal((SeeMoreText, SeeMoreActionId, "m1"), (button.Text, button.ActionId, button.Value));
        Assert.Equal(new Dictionary<string, string> { ["m1"] = full }, fitted.SeeMore);
        Assert.IsType<DividerBlock>(fitted.Blocks[2]);
    }

    [Fact]
    public void Too_many_blocks_continue_in_follow_up_messages_with_a_fallback_text()
    {
        var fitted = Fit(new SlackMessage("", [new HeaderBlock("Pipeline"), .. Enumerable.Repeat(new DividerBlock(), 60), new SectionBlock("Last")]));
        Assert.Equal([50, 12], fitted.Select(m => m.Blocks.Count));
        Assert.Equal(["Pipeline", "Last"], fitted.Select(m => m.Text));
        Assert.Equal(ContinuedText, Fit(new SlackMessage("Dividers", [.. Enumerable.Repeat(new DividerBlock(), 51)]))[1].Text);
    }

    [Fact]
    public void Fields_past_ten_move_to_a_following_section()
    {
        string[] fields = [.. Enumerable.Range(1, 23).Select(i => $"field {i}")];
        var fitted = Assert.Single(Fit(new SlackMessage("t", [new SectionBlock("Deal", fields) { BlockId = "deal" }])));
        var sections = fitted.Blocks.Cast<SectionBlock>().ToList();
        Assert.Equal([10, 10, 3], sections.Select(s => s.Fields!.Count));
        Assert.Equal(["deal", null, null], sections.Select(s => s.BlockId));
        Assert.Equal(fields, sections.SelectMany(s => s.Fields!));
    }

    [Fact]
    public void A_view_over_its_block_limit_ends_with_a_note_of_what_is_not_shown()
    {
        var fitted = Fit(SlackView.Modal("A title longer than allowed", "c", [.. Enumerable.Repeat(new DividerBlock(), 150)]));
        Assert.Equal(MaxBlocksPerView, fitted.Blocks.Count);
        Assert.Equal(["…and more (51 blocks not shown)"], Assert.IsType<ContextBlock>(fitted.Blocks[^1]).Elements);
        Assert.Equal("A title longer than all…", fitted.Title);
        Assert.Empty(Problems(fitted));
    }

    [Fact]
    public void Truncate_counts_utf16_and_never_splits_a_surrogate_pair()
    {
        Assert.Equal("aaa…", Truncate("aaa😀", 4));
        Assert.Equal("aa…", Truncate("aa😀a", 4));
        Assert.Equal("aa😀", Truncate("aa😀", 4));
        Assert.Throws<EncoderFallbackException>(() => Strict.GetByteCount("a\uD83D"));
    }

    // ---------- Properties over random, oversized content

    [Property(MaxTest = 100, QuietOnSuccess = true)]
    public Property Fit_makes_every_message_valid_and_keeps_its_content_in_order() => Prop.ForAll(Messages.ToArbitrary(), message =>
    {
        var fitted = Fit(message);
        Assert.NotEmpty(fitted);
        foreach (var m in fitted)
        {
            Assert.Empty(Problems(m));
            AssertNoSplitPairs(m);
            foreach (var (i, key) in SeeMoreButtons(m.Blocks))
                Assert.Equal(Truncate(m.SeeMore[key], MaxSectionTextLength), Assert.IsType<SectionBlock>(m.Blocks[i - 1]).Text);
        }
        Assert.Equal(Content(message.Blocks), fitted.SelectMany(m => Content(m.Blocks)));
        var cut = message.Blocks.OfType<SectionBlock>().Select(s => s.Text).Where(t => IsShown(t) && t.Length > MaxSectionTextLength);
        Assert.Equal(cut, fitted.SelectMany(m => SeeMoreButtons(m.Blocks).Select(b => m.SeeMore[b.Key])));
        if (IsShown(message.Text)) Assert.Equal(Truncate(message.Text, MaxMessageTextLength), fitted[0].Text);
    });

    [Property(MaxTest = 100, QuietOnSuccess = true)]
    public Property Fit_leaves_a_valid_message_as_it_is() => Prop.ForAll(Messages.ToArbitrary(), message =>
    {
        IEnumerable<SlackMessage> valid = Problems(message).Count == 0 ? [message] : [];
        foreach (var m in valid.Concat(Fit(message)))
        {
            var again = Assert.Single(Fit(m));
            Assert.True(JsonNode.DeepEquals(m.ToJson(), again.ToJson()), again.ToJson().ToJsonString());
            Assert.Equal(m.SeeMore, again.SeeMore);
        }
    });

    [Property(MaxTest = 100, QuietOnSuccess = true)]
    public Property Fit_makes_every_view_valid() => Prop.ForAll(Views.ToArbitrary(), view =>
    {
        var fitted = Fit(view);
        Assert.Empty(Problems(fitted));
        AssertNoSplitPairs(fitted.ToJson());
        Assert.True(JsonNode.DeepEquals(fitted.ToJson(), Fit(fitted).ToJson()));
        // Only sections without content are dropped, so this many other blocks must overflow.
        if (view.Blocks.Count(b => b is not SectionBlock) > MaxBlocksPerView)
            Assert.StartsWith("…and more (", Assert.IsType<ContextBlock>(fitted.Blocks[^1]).Elements[0]);
    });

    [Property(MaxTest = 100, QuietOnSuccess = true)]
    public Property FitOptions_keeps_the_first_hundred_options_each_valid() =>
        Prop.ForAll(Options(0, 300).ToArbitrary(), options =>
        {
            var fitted = FitOptions(options);
            Assert.Equal(options.Take(MaxSelectOptions).Select(o => Truncate(o.Value, MaxOptionValueLength)), fitted.Select(o => o.Value));
            if (fitted.Count > 0) Assert.Empty(Problems(Button(new StaticSelectElement("s", "Pick", fitted))));
            Assert.All(fitted, o => AssertNoSplitPairs(o.ToJson()));
        });

    // ---------- Generators: lengths around every limit and far past them, with emoji whose pairs a careless cut would split

    static readonly string[] Pieces = ["a", "b", "Z", " ", "\n", "*", "é", "😀", "👍🏽", "𝒳"];
    static readonly int[] NearLimits = [24, 25, 30, 31, 75, 76, 100, 101, 150, 151, 255, 256, 300, 301, 2000, 2001, 3000, 3001, 12_001, 40_001];

    static Gen<string> Text(int max, bool required = false) =>
        from length in Gen.Frequency((5, Gen.Choose(0, 30)), (2, Gen.Elements(NearLimits.Where(n => n <= max))), (2, Gen.Choose(0, max)))
        from seed in Gen.Choose(0, int.MaxValue)
        select Build(seed, length, required);

    // A required text starts with a letter, so it is never blank.
    static string Build(int seed, int length, bool required)
    {
        var random = new Random(seed);
        var text = new StringBuilder(required ? "x" : "", length + 4);
        while (text.Length < length) text.Append(Pieces[random.Next(Pieces.Length)]);
        return text.ToString();
    }

    static Gen<T?> Maybe<T>(Gen<T> gen) where T : class => Gen.Frequency((1, Gen.Constant<T?>(null)), (2, gen.Select(x => (T?)x)));

    static Gen<string> Id => Text(300, required: true);

    static Gen<SelectOption> Option =>
        from text in Text(100, required: true)
        from value in Text(200, required: true)
        from description in Maybe(Text(100, required: true))
        select new SelectOption(text, value, description);

    static Gen<SelectOption[]> Options(int min, int max) => Gen.Choose(min, max).SelectMany(n => Gen.ArrayOf(Option, n));

    static Gen<ConfirmDialog> Confirm =>
        from title in Text(120, required: true)
        from text in Text(400, required: true)
        from yes in Text(40, required: true)
        from no in Text(40, required: true)
        select new ConfirmDialog(title, text, yes, no, ButtonStyle.Danger);

    static Gen<BlockElement> ButtonGen =>
        from text in Text(100, required: true)
        from id in Id
        from value in Maybe(Text(2500))
        from style in Gen.Elements(ButtonStyle.Default, ButtonStyle.Primary, ButtonStyle.Danger)
        from url in Maybe(Text(3500, required: true))
        from confirm in Maybe(Confirm)
        select (BlockElement)new ButtonElement(text, id, value, style, url, confirm);

    static Gen<BlockElement> Menu => Gen.OneOf(
        from id in Id from placeholder in Text(200, required: true) from options in Options(1, 150) from initial in Maybe(Option)
        select (BlockElement)new StaticSelectElement(id, placeholder, options, initial),
        from id in Id from placeholder in Text(200, required: true) from initial in Maybe(Option)
        select (BlockElement)new ExternalSelectElement(id, placeholder, 2, initial),
        from id in Id from options in Options(1, 15)
        select (BlockElement)new CheckboxesElement(id, options, options.Take(2).ToList()));

    static Gen<BlockElement> Interactive => Gen.Frequency(
        (4, ButtonGen), (2, Menu), (1, from id in Id from options in Options(1, 8) select (BlockElement)new OverflowElement(id, options)));

    static Gen<BlockElement> Field => Gen.Frequency(
        (2, from id in Id from initial in Maybe(Text(3500)) from placeholder in Maybe(Text(200, required: true)) from multiline in Gen.Elements(true, false)
            select (BlockElement)new PlainTextInputElement(id, initial, placeholder, multiline)),
        (1, Menu));

    static Gen<Block> AnyBlock =>
        from block in Gen.Frequency(
            (6, from text in Maybe(Text(20_000))
                from count in Gen.Frequency((3, Gen.Constant(0)), (2, Gen.Choose(0, 30)))
                from fields in Gen.ArrayOf(Text(2500, required: true), count)
                from accessory in Maybe(Interactive)
                select (Block)new SectionBlock(text, fields, accessory)),
            (1, Text(300, required: true).Select(text => (Block)new HeaderBlock(text))),
            (2, Gen.Choose(0, 15).SelectMany(n => Gen.ArrayOf(Text(3500, required: true), n)).Select(texts => (Block)new ContextBlock(texts))),
            (1, Gen.Constant<Block>(new DividerBlock())),
            (2, Gen.Choose(0, 40).SelectMany(n => Gen.ArrayOf(Interactive, n)).Select(elements => (Block)new ActionsBlock(elements))),
            (1, from label in Text(2500, required: true) from element in Field from optional in Gen.Elements(true, false) from hint in Maybe(Text(2500))
                select (Block)new InputBlock(label, element, optional, hint)))
        from id in Gen.Frequency((3, Gen.Constant<string?>(null)), (1, Id.Select(x => (string?)x)))
        select block with { BlockId = id };

    static Gen<Block[]> ManyBlocks =>
        Gen.Frequency((4, Gen.Choose(0, 8)), (3, Gen.Choose(0, 60)), (1, Gen.Choose(0, 300))).SelectMany(n => Gen.ArrayOf(AnyBlock, n));

    static Gen<SlackMessage> Messages =>
        from text in Gen.Frequency((1, Gen.Constant("")), (1, Gen.Constant(" \n")), (6, Text(45_000)))
        from blocks in ManyBlocks
        select new SlackMessage(text, blocks);

    static Gen<SlackView> Views => Gen.OneOf(
        ManyBlocks.Select(blocks => SlackView.Home(blocks)),
        from title in Text(40, required: true)
        from callbackId in Id
        from blocks in ManyBlocks
        from submit in Maybe(Text(40, required: true))
        from close in Maybe(Text(40))
        from metadata in Maybe(Text(MaxPrivateMetadataLength))
        select SlackView.Modal(title, callbackId, blocks, submit, close, metadata is { Length: <= MaxPrivateMetadataLength } ? metadata : null));

    // ---------- Helpers

    static SlackMessage Blocks(params Block[] blocks) => new("text", blocks);

    static SlackMessage Button(BlockElement element) => Blocks(new ActionsBlock([element]));

    static bool IsShown([NotNullWhen(true)] string? text) => !string.IsNullOrWhiteSpace(text);

    // Problems names this one breach and nothing else, and Fit's every output is free of problems unless the breach is a programming error.
    static void AssertBreach(SlackMessage message, string where, bool mends = true)
    {
        Assert.Equal([where], Problems(message).Select(p => p[..p.IndexOf(": ", StringComparison.Ordinal)]));
        if (mends) Assert.All(Fit(message), m => Assert.Empty(Problems(m)));
    }

    static void AssertBreach(SlackView view, string where)
    {
        Assert.Equal([where], Problems(view).Select(p => p[..p.IndexOf(": ", StringComparison.Ordinal)]));
        Assert.Empty(Problems(Fit(view)));
    }

    static void AssertJson(string expected, JsonNode actual) =>
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected), actual), actual.ToJsonString());

    // The texts a reader sees, in order, as Fit must keep them: blank ones left out, each cut to its limit.
    static IEnumerable<string> Content(IEnumerable<Block> blocks) => blocks.SelectMany(block => block switch
    {
        HeaderBlock h => Shown([h.Text], MaxHeaderTextLength),
        SectionBlock s => [.. Shown([s.Text], MaxSectionTextLength), .. Buttons([s.Accessory]), .. Shown(s.Fields ?? [], MaxFieldLength)],
        ContextBlock c => Shown(c.Elements, MaxContextTextLength),
        ActionsBlock a => Buttons(a.Elements.Where(e => e is not ButtonElement { ActionId: SeeMoreActionId })),
        _ => [],
    });

    static IEnumerable<string> Buttons(IEnumerable<BlockElement?> elements) =>
        Shown(elements.OfType<ButtonElement>().Select(b => b.Text), MaxButtonTextLength);

    static IEnumerable<string> Shown(IEnumerable<string?> texts, int max) => texts.Where(IsShown).Select(t => Truncate(t!, max));

    // Each "See more" button's key, with the index of its actions block.
    static IEnumerable<(int Index, string Key)> SeeMoreButtons(IReadOnlyList<Block> blocks) =>
        blocks.Select((block, i) => (block, i))
            .SelectMany(x => x.block is ActionsBlock a ? a.Elements.OfType<ButtonElement>().Where(b => b.ActionId == SeeMoreActionId).Select(b => (x.i, b.Value!)) : []);

    static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    // A lone surrogate cannot be encoded, so a split pair in any text would throw here.
    static void AssertNoSplitPairs(SlackMessage message)
    {
        AssertNoSplitPairs(message.ToJson());
        foreach (var text in message.SeeMore.Values) Strict.GetByteCount(text);
    }

    static void AssertNoSplitPairs(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (_, value) in o) AssertNoSplitPairs(value);
                break;
            case JsonArray a:
                foreach (var item in a) AssertNoSplitPairs(item);
                break;
            case JsonValue v when v.TryGetValue<string>(out var text):
                Strict.GetByteCount(text);
                break;
        }
    }
}
