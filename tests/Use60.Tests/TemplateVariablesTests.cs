using System.Text.Json;
using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Use60.Copilot;

namespace Use60.Tests;

public sealed class TemplateVariablesTests
{
    static JsonObject Context() => JsonNode.Parse("""
        {
          "inputs": { "limit": 3, "urgent": true, "note": null, "tags": ["renewal", "q3"] },
          "contact": { "first_name": "Zoë", "email": "zoe@acme.test" },
          "outputs": {
            "deal": { "name": "Acme renewal", "amount": 1200.5, "stage": "proposal" },
            "leads": [ { "contact": { "name": "Ada" } }, { "contact": { "name": "Grace" } } ],
            "seq-step-1": { "result": "sent" }
          },
          "matrix": [ [1, 2], [3, 4] ]
        }
        """)!.AsObject();

    static JsonNode? Resolve(string template) => TemplateVariables.Resolve(JsonValue.Create(template), Context());

    static string ResolveText(string template) => Resolve(template)!.GetValue<string>();

    static TemplateVariableException Fails(string template) =>
        Assert.Throws<TemplateVariableException>(() => TemplateVariables.Resolve(JsonValue.Create(template), Context()));

    // ---------- Full references

    [Theory]
    [InlineData("${outputs.deal}", JsonValueKind.Object, """{"name":"Acme renewal","amount":1200.5,"stage":"proposal"}""")]
    [InlineData("${inputs.tags}", JsonValueKind.Array, """["renewal","q3"]""")]
    [InlineData("${outputs.deal.amount}", JsonValueKind.Number, "1200.5")]
    [InlineData("${inputs.limit}", JsonValueKind.Number, "3")]
    [InlineData("${inputs.urgent}", JsonValueKind.True, "true")]
    [InlineData("${contact.first_name}", JsonValueKind.String, "\"Zoë\"")]
    [InlineData("  ${inputs.limit}\n", JsonValueKind.Number, "3")]
    public void A_full_reference_keeps_the_type_of_the_value(string template, JsonValueKind kind, string json)
    {
        var value = Resolve(template);
        Assert.NotNull(value);
        Assert.Equal(kind, value.GetValueKind());
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(json), value), value.ToJsonString());
    }

    [Fact]
    public void A_full_reference_to_a_json_null_returns_null()
    {
        Assert.Null(Resolve("${inputs.note}"));
    }

    [Fact]
    public void A_full_reference_returns_a_copy_that_can_change_without_changing_the_context()
    {
        var context = Context();
        var deal = Assert.IsType<JsonObject>(TemplateVariables.Resolve(JsonValue.Create("${outputs.deal}"), context));
        Assert.Null(deal.Parent);
        deal["amount"] = 0;
        deal["owner"] = "me";
        Assert.Equal(1200.5, context["outputs"]!["deal"]!["amount"]!.GetValue<double>());
        Assert.False(context["outputs"]!["deal"]!.AsObject().ContainsKey("owner"));
    }

    // ---------- Interpolation

    [Theory]
    [InlineData("Hi ${contact.first_name}!", "Hi Zoë!")]
    [InlineData("Deal worth ${outputs.deal.amount} USD", "Deal worth 1200.5 USD")]
    [InlineData("Top ${inputs.limit} leads", "Top 3 leads")]
    [InlineData("urgent=${inputs.urgent}", "urgent=true")]
    [InlineData("note=[${inputs.note}]", "note=[]")]
    [InlineData("deal: ${outputs.deal}", """deal: {"name":"Acme renewal","amount":1200.5,"stage":"proposal"}""")]
    [InlineData("tags: ${inputs.tags}", """tags: ["renewal","q3"]""")]
    [InlineData("${contact.first_name} ${contact.email}", "Zoë zoe@acme.test")]
    [InlineData("${outputs.seq-step-1.result}.", "sent.")]
    public void Embedded_references_are_interpolated_as_text(string template, string expected)
    {
        Assert.Equal(expected, ResolveText(template));
    }

    [Fact]
    public void Numbers_are_interpolated_in_the_invariant_culture()
    {
        var culture = Thread.CurrentThread.CurrentCulture;
        try
        {
            Thread.CurrentThread.CurrentCulture = new System.Globalization.CultureInfo("de-DE");
            Assert.Equal("Amount: 1200.5", ResolveText("Amount: ${outputs.deal.amount}"));
        }
        finally { Thread.CurrentThread.CurrentCulture = culture; }
    }

    [Theory]
    [InlineData("${outputs.leads[0].contact.name}", "Ada")]
    [InlineData("${outputs.leads[1].contact.name}", "Grace")]
    [InlineData("${outputs.seq-step-1.result}", "sent")]
    public void Nested_paths_and_array_indexes_reach_into_the_context(string template, string expected)
    {
        Assert.Equal(expected, ResolveText(template));
    }

    [Fact]
    public void Consecutive_indexes_reach_into_nested_arrays()
    {
        Assert.Equal(3, Resolve("${matrix[1][0]}")!.GetValue<int>());
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("[3,4]"), Resolve("${matrix[1]}")));
        Assert.Equal("cell 2", ResolveText("cell ${matrix[0][1]}"));
    }

    // ---------- Errors

    [Theory]
    [InlineData("${outputs.deal.amout}", "outputs.deal.amout", "outputs.deal has no 'amout'")]
    [InlineData("Total: ${outputs.deal.amout}", "outputs.deal.amout", "outputs.deal has no 'amout'")]
    [InlineData("${nope}", "nope", "the context has no 'nope'")]
    [InlineData("${Contact.first_name}", "Contact.first_name", "the context has no 'Contact'")]
    [InlineData("${outputs.leads[5].contact.name}", "outputs.leads[5].contact.name", "outputs.leads has 2 items, no [5]")]
    [InlineData("${matrix[1][2]}", "matrix[1][2]", "matrix[1] has 2 items, no [2]")]
    [InlineData("${outputs.leads[99999999999]}", "outputs.leads[99999999999]", "outputs.leads has 2 items, no [99999999999]")]
    [InlineData("${outputs.deal.name.first}", "outputs.deal.name.first", "outputs.deal.name is a string, not an object")]
    [InlineData("${outputs.deal[0]}", "outputs.deal[0]", "outputs.deal is an object, not an array")]
    [InlineData("${inputs.note.text}", "inputs.note.text", "inputs.note is null, not an object")]
    [InlineData("${outputs.leads.contact}", "outputs.leads.contact", "outputs.leads is an array, not an object")]
    public void An_unknown_path_names_the_variable_and_the_missing_part(string template, string path, string why)
    {
        var error = Fails(template);
        Assert.Equal(path, error.Path);
        Assert.Equal($"Unknown variable ${{{path}}}: {why}", error.Message);
    }

    [Theory]
    [InlineData("${}", "")]
    [InlineData("${a..b}", "a..b")]
    [InlineData("${.a}", ".a")]
    [InlineData("${a.}", "a.")]
    [InlineData("${outputs.leads[-1]}", "outputs.leads[-1]")]
    [InlineData("${outputs.leads[x]}", "outputs.leads[x]")]
    [InlineData("${outputs.leads[]}", "outputs.leads[]")]
    [InlineData("${ contact.email }", " contact.email ")]
    [InlineData("${contact.first name}", "contact.first name")]
    [InlineData("Hello ${a..b} there", "a..b")]
    public void A_malformed_reference_is_an_error(string template, string path)
    {
        var error = Fails(template);
        Assert.Equal(path, error.Path);
        Assert.StartsWith("Malformed variable ${" + path + "}", error.Message);
    }

    // ---------- Literal text

    [Theory]
    [InlineData("costs $5")]
    [InlineData("$contact.email")]
    [InlineData("{contact.email}")]
    [InlineData("unterminated ${contact.email")]
    [InlineData("${")]
    [InlineData("")]
    public void Text_without_a_complete_reference_is_left_alone(string text)
    {
        Assert.Equal(text, ResolveText(text));
        Assert.Equal(text, TemplateVariables.Display(text, Context(), out var unresolved));
        Assert.Empty(unresolved);
        Assert.Empty(TemplateVariables.References(JsonValue.Create(text)));
    }

    [Fact]
    public void Dollar_signs_next_to_a_reference_stay_as_they_are()
    {
        Assert.Equal("$1200.5 ($5 fee) ${x", ResolveText("$${outputs.deal.amount} ($5 fee) ${x"));
    }

    // ---------- Objects and arrays of templates

    [Fact]
    public void Objects_and_arrays_are_resolved_recursively_into_a_new_tree()
    {
        var template = JsonNode.Parse("""
            {
              "to": "${contact.email}",
              "subject": "Re: ${outputs.deal.name}",
              "deal": "${outputs.deal}",
              "limit": "${inputs.limit}",
              "fixed": 7, "flag": false, "none": null,
              "items": ["${outputs.leads[0].contact.name}", { "who": "${outputs.leads[1].contact.name}" }, 1, ["${matrix[0][0]}"]]
            }
            """);
        var resolved = TemplateVariables.Resolve(template, Context());
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""
            {
              "to": "zoe@acme.test",
              "subject": "Re: Acme renewal",
              "deal": { "name": "Acme renewal", "amount": 1200.5, "stage": "proposal" },
              "limit": 3,
              "fixed": 7, "flag": false, "none": null,
              "items": ["Ada", { "who": "Grace" }, 1, [1]]
            }
            """), resolved), resolved?.ToJsonString());
        Assert.NotSame(template, resolved);
        Assert.Equal("${contact.email}", template!["to"]!.GetValue<string>());
    }

    [Fact]
    public void A_template_that_is_not_a_string_is_copied()
    {
        var template = JsonNode.Parse("""{"n":1}""")!["n"];
        var resolved = TemplateVariables.Resolve(template, Context());
        Assert.Equal(1, resolved!.GetValue<int>());
        Assert.Null(resolved.Parent);
        Assert.Null(TemplateVariables.Resolve(null, Context()));
    }

    [Fact]
    public void An_error_deep_in_a_tree_names_its_variable()
    {
        var template = JsonNode.Parse("""{"a":[{"b":"ok ${contact.email}"},{"c":"${outputs.leads[2].contact}"}]}""");
        var error = Assert.Throws<TemplateVariableException>(() => TemplateVariables.Resolve(template, Context()));
        Assert.Equal("outputs.leads[2].contact", error.Path);
    }

    // ---------- Display

    [Fact]
    public void Display_shows_unresolved_variables_as_a_dash_and_reports_them()
    {
        var text = TemplateVariables.Display(
            "Hi ${contact.first_name}, ${outputs.deal.amout} for ${outputs.leads[7].contact.name} ${} ${a..b} (${outputs.deal.amount})",
            Context(), out var unresolved);
        Assert.Equal("Hi Zoë, — for — — — (1200.5)", text);
        Assert.Equal(["outputs.deal.amout", "outputs.leads[7].contact.name", "", "a..b"], unresolved);
        Assert.DoesNotContain("${", text);
    }

    [Fact]
    public void Display_interpolates_every_kind_of_value()
    {
        var text = TemplateVariables.Display("${outputs.deal} ${inputs.tags} ${inputs.urgent} [${inputs.note}] ${inputs.limit}", Context(), out var unresolved);
        Assert.Equal("""{"name":"Acme renewal","amount":1200.5,"stage":"proposal"} ["renewal","q3"] true [] 3""", text);
        Assert.Empty(unresolved);
    }

    // ---------- References

    [Fact]
    public void References_lists_the_paths_in_order_without_duplicates()
    {
        var template = JsonNode.Parse("""
            {
              "to": "${contact.email}",
              "body": "Hi ${contact.first_name}, about ${outputs.deal.name} (${contact.email})",
              "items": ["${outputs.leads[0].contact.name}", { "deal": "${outputs.deal.name}" }, 3, null, "$5", "${unterminated"],
              "last": "${matrix[1][0]}"
            }
            """);
        Assert.Equal(["contact.email", "contact.first_name", "outputs.deal.name", "outputs.leads[0].contact.name", "matrix[1][0]"],
            TemplateVariables.References(template));
        Assert.Empty(TemplateVariables.References(null));
        Assert.Empty(TemplateVariables.References(JsonNode.Parse("""{"a":[1,true,"plain"]}""")));
    }

    [Fact]
    public void References_rejects_a_malformed_reference()
    {
        var error = Assert.Throws<TemplateVariableException>(() => TemplateVariables.References(JsonNode.Parse("""["${ok}", "${a..b}"]""")));
        Assert.Equal("a..b", error.Path);
    }

    // ---------- Property: text without "${" is never changed

    static readonly string[] Pieces = ["a", "Z", " ", "\n", "$", "{", "}", "$5", "}{", "é", "😀", "\\", "\"", "[0]", "."];

    static Gen<string> PlainText =>
        Gen.OneOf(
            ArbMap.Default.GeneratorFor<string>(),
            Gen.ArrayOf(Gen.Elements(Pieces)).Select(string.Concat))
        .Where(s => s is not null && !s.Contains("${", StringComparison.Ordinal));

    [Property(MaxTest = 300, QuietOnSuccess = true)]
    public Property Text_without_a_reference_resolves_and_displays_unchanged() => Prop.ForAll(PlainText.ToArbitrary(), text =>
    {
        Assert.Equal(text, TemplateVariables.Resolve(JsonValue.Create(text), Context())!.GetValue<string>());
        Assert.Equal(text, TemplateVariables.Display(text, Context(), out var unresolved));
        Assert.Empty(unresolved);
    });
}
