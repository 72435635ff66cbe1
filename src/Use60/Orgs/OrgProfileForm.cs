using System.Text.Json;

namespace Use60.Orgs;

/// <summary>
/// The org profile as the Settings page edits it: plain text, one item per line ("Name: description" for products and
/// competitors), validated and turned into an <see cref="OrgProfile"/> and back.
/// </summary>
public sealed class OrgProfileForm
{
    public const int MaxItems = 20, MaxLine = 500, MaxName = 200, MaxVoice = 2000;

    // Model binding turns an empty field into null; the form always holds text.

    public string CompanyName { get; set => field = value ?? ""; } = "";
    public string Products { get; set => field = value ?? ""; } = "";
    public string Competitors { get; set => field = value ?? ""; } = "";
    public string PainPoints { get; set => field = value ?? ""; } = "";
    public string ValuePropositions { get; set => field = value ?? ""; } = "";
    public string BrandVoice { get; set => field = value ?? ""; } = "";

    public static OrgProfileForm Of(OrgProfile? profile) => profile is null ? new() : new()
    {
        CompanyName = profile.CompanyName,
        Products = string.Join('\n', profile.Products.Select(p => Joined(p.Name, p.Description))),
        Competitors = string.Join('\n', profile.Competitors.Select(c => Joined(c.Name, c.Positioning))),
        PainPoints = string.Join('\n', profile.PainPoints),
        ValuePropositions = string.Join('\n', profile.ValuePropositions),
        BrandVoice = profile.BrandVoice,
    };

    /// <summary>Problems by field (empty: valid).</summary>
    public Dictionary<string, string> Validate()
    {
        var problems = new Dictionary<string, string>();
        if (string.IsNullOrWhiteSpace(CompanyName)) problems[nameof(CompanyName)] = "Enter the company's name: the copilot introduces itself as its teammate.";
        else if (CompanyName.Trim().Length > MaxName) problems[nameof(CompanyName)] = $"Keep the name under {MaxName} characters.";
        foreach (var (field, text) in new[] { (nameof(Products), Products), (nameof(Competitors), Competitors), (nameof(PainPoints), PainPoints),
                     (nameof(ValuePropositions), ValuePropositions) })
        {
            var lines = Lines(text);
            if (lines.Count > MaxItems) problems[field] = $"Keep it to {MaxItems} lines at most (there are {lines.Count}).";
            else if (lines.FirstOrDefault(l => l.Length > MaxLine) is { } longLine)
                problems[field] = $"Each line must be under {MaxLine} characters; \"{longLine[..40]}…\" is {longLine.Length}.";
            else if (field is nameof(Products) or nameof(Competitors) && lines.FirstOrDefault(l => Split(l).Name.Length == 0) is { } nameless)
                problems[field] = $"Start each line with a name: \"{nameless}\" has none before its colon.";
        }
        if (BrandVoice.Trim().Length > MaxVoice) problems[nameof(BrandVoice)] = $"Keep the brand voice under {MaxVoice} characters.";
        return problems;
    }

    /// <summary>The profile this form describes (call <see cref="Validate"/> first).</summary>
    public OrgProfile ToProfile(Guid orgId) => new()
    {
        OrgId = orgId,
        CompanyName = CompanyName.Trim(),
        Products = [.. Lines(Products).Select(Split).Select(p => new ProductInfo { Name = p.Name, Description = p.Detail })],
        Competitors = [.. Lines(Competitors).Select(Split).Select(c => new CompetitorInfo { Name = c.Name, Positioning = c.Detail })],
        PainPoints = Lines(PainPoints),
        ValuePropositions = Lines(ValuePropositions),
        BrandVoice = BrandVoice.Trim(),
    };

    /// <summary>The profile as JSON, for revisions and the audit log's before and after.</summary>
    public static string Snapshot(OrgProfile? profile) => JsonSerializer.Serialize(profile is null ? null : new
    {
        company_name = profile.CompanyName,
        products = profile.Products.Select(p => new { name = p.Name, description = p.Description }),
        competitors = profile.Competitors.Select(c => new { name = c.Name, positioning = c.Positioning }),
        pain_points = profile.PainPoints,
        value_propositions = profile.ValuePropositions,
        brand_voice = profile.BrandVoice,
    });

    /// <summary>A profile back from <see cref="Snapshot"/> (a revision being restored).</summary>
    public static OrgProfile FromSnapshot(Guid orgId, string json)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        IEnumerable<JsonElement> Items(string name) => root.TryGetProperty(name, out var array) && array.ValueKind == JsonValueKind.Array ? array.EnumerateArray() : [];
        string Text(JsonElement element, string name) => element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : "";
        return new OrgProfile
        {
            OrgId = orgId,
            CompanyName = Text(root, "company_name"),
            Products = [.. Items("products").Select(p => new ProductInfo { Name = Text(p, "name"), Description = Text(p, "description") })],
            Competitors = [.. Items("competitors").Select(c => new CompetitorInfo { Name = Text(c, "name"), Positioning = Text(c, "positioning") })],
            PainPoints = [.. Items("pain_points").Select(p => p.GetString() ?? "")],
            ValuePropositions = [.. Items("value_propositions").Select(p => p.GetString() ?? "")],
            BrandVoice = Text(root, "brand_voice"),
        };
    }

    static List<string> Lines(string? text) =>
        [.. (text ?? "").Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0)];

    static (string Name, string Detail) Split(string line)
    {
        var colon = line.IndexOf(':');
        return colon < 0 ? (line.Trim(), "") : (line[..colon].Trim(), line[(colon + 1)..].Trim());
    }

    static string Joined(string name, string rest) => string.IsNullOrWhiteSpace(rest) ? name : $"{name}: {rest}";
}
