using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Use60.Data;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Use60.Copilot;

public sealed record SkillInput(string Name, string Description, bool Required);

/// <summary>One step of a sequence: an action of execute_action, its parameters with <c>${…}</c> variables, and whether a failure skips it.</summary>
public sealed record SequenceStep(string Id, string Action, JsonObject Params, bool Optional);

/// <summary>A skill or sequence: Markdown with YAML front matter (key, name, description, category, inputs, actions, steps).</summary>
public sealed record SkillDocument(string Key, string Name, string Description, string Category, string? Response,
    IReadOnlyList<SkillInput> Inputs, IReadOnlyList<string> Actions, IReadOnlyList<SequenceStep> Steps, string Body, string Source)
{
    public bool IsSequence => Steps.Count > 0;
}

public sealed class SkillFormatException(string message) : Exception(message);

/// <summary>
/// The built-in skills and sequences (Markdown files shipped in the app) overlaid with the org's own versions from the
/// database: an override with a built-in's key replaces it for that org; any other key adds a skill.
/// </summary>
public sealed class SkillCatalog(Use60Db db)
{
    static readonly Lazy<IReadOnlyDictionary<string, SkillDocument>> BuiltIns = new(LoadBuiltIns);

    public static IReadOnlyCollection<SkillDocument> BuiltInSkills => BuiltIns.Value.Values.ToList();

    (Guid OrgId, DbResult<List<SkillOverride>> Overrides)? preloaded;

    /// <summary>Reads the org's overrides with the rest of <paramref name="batch"/>; this scope's lookups for that org then use them.</summary>
    public void Preload(DbBatch batch, Guid orgId) =>
        preloaded = (orgId, batch.Add<List<SkillOverride>>($"SELECT coalesce(json_agg(s), '[]') FROM skill_overrides s WHERE s.org_id = {orgId}"));

    public async Task<IReadOnlyList<SkillDocument>> ListAsync(Guid orgId, CancellationToken cancellationToken)
    {
        var skills = new Dictionary<string, SkillDocument>(BuiltIns.Value);
        var overrides = preloaded is { } read && read.OrgId == orgId
            ? read.Overrides.Value
            : await db.SkillOverrides.AsNoTracking().Where(s => s.OrgId == orgId).ToListAsync(cancellationToken);
        foreach (var o in overrides)
        {
            try
            {
                skills[o.SkillKey] = Parse(o.Document, "org override") with { Key = o.SkillKey };
            }
            catch (SkillFormatException)
            {
                // Overrides are validated when saved; one that no longer parses falls back to the built-in rather than breaking the copilot.
            }
        }
        return [.. skills.Values.OrderBy(s => s.Category, StringComparer.Ordinal).ThenBy(s => s.Key, StringComparer.Ordinal)];
    }

    public async Task<SkillDocument?> FindAsync(Guid orgId, string key, CancellationToken cancellationToken) =>
        (await ListAsync(orgId, cancellationToken)).FirstOrDefault(s => string.Equals(s.Key, key.Trim(), StringComparison.OrdinalIgnoreCase));

    static IReadOnlyDictionary<string, SkillDocument> LoadBuiltIns()
    {
        var assembly = typeof(SkillCatalog).Assembly;
        var skills = new Dictionary<string, SkillDocument>();
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.Contains(".Copilot.Skills.", StringComparison.Ordinal) && n.EndsWith(".md")))
        {
            using var reader = new StreamReader(assembly.GetManifestResourceStream(name)!);
            var skill = Parse(reader.ReadToEnd(), "built-in");
            skills.Add(skill.Key, skill);
        }
        return skills;
    }

    /// <summary>Reads a skill document; a clear <see cref="SkillFormatException"/> says what is wrong with it.</summary>
    public static SkillDocument Parse(string document, string source)
    {
        var text = document.Replace("\r\n", "\n");
        if (!text.StartsWith("---\n", StringComparison.Ordinal)) throw new SkillFormatException("A skill starts with YAML front matter between two '---' lines.");
        var end = text.IndexOf("\n---", 4, StringComparison.Ordinal);
        if (end < 0) throw new SkillFormatException("The front matter has no closing '---' line.");
        JsonObject front;
        try
        {
            var yaml = new YamlStream();
            yaml.Load(new StringReader(text[4..end]));
            front = ToJson(yaml.Documents.Single().RootNode) as JsonObject ?? throw new SkillFormatException("The front matter must be a YAML mapping.");
        }
        catch (YamlException e)
        {
            throw new SkillFormatException($"The front matter is not valid YAML (line {e.Start.Line}): {e.Message}");
        }
        string Required(string field) => (string?)front[field] is { Length: > 0 } value ? value : throw new SkillFormatException($"The front matter needs '{field}'.");
        var key = Required("key");
        var steps = (front["steps"] as JsonArray ?? []).Select((s, i) => s is JsonObject step
            ? new SequenceStep((string?)step["id"] ?? $"step{i + 1}",
                (string?)step["action"] ?? throw new SkillFormatException($"Step {i + 1} of {key} has no 'action'."),
                step["params"] as JsonObject ?? [], step["optional"]?.GetValue<bool>() ?? false)
            : throw new SkillFormatException($"Step {i + 1} of {key} must be a mapping.")).ToList();
        var inputs = (front["inputs"] as JsonArray ?? []).OfType<JsonObject>()
            .Select(i => new SkillInput((string?)i["name"] ?? "", (string?)i["description"] ?? "", i["required"]?.GetValue<bool>() ?? false)).ToList();
        foreach (var step in steps)
            TemplateVariables.References(step.Params); // a malformed ${…} is an error now, not when a rep runs it
        return new SkillDocument(key, Required("name"), Required("description"), (string?)front["category"] ?? "general", (string?)front["response"],
            inputs, [.. (front["actions"] as JsonArray ?? []).Select(a => (string?)a).OfType<string>()], steps, text[(end + 4)..].Trim(), source);
    }

    // Plain scalars that look like numbers or booleans become those; quoted ones stay strings, as YAML means.
    static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(c => KeyValuePair.Create(((YamlScalarNode)c.Key).Value ?? "", ToJson(c.Value)))),
        YamlSequenceNode list => new JsonArray([.. list.Children.Select(ToJson)]),
        YamlScalarNode { Style: ScalarStyle.Plain, Value: "true" or "false" } b => JsonValue.Create(b.Value == "true"),
        YamlScalarNode { Style: ScalarStyle.Plain, Value: "null" or "~" or "" } => null,
        YamlScalarNode { Style: ScalarStyle.Plain } s when long.TryParse(s.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) => JsonValue.Create(l),
        YamlScalarNode { Style: ScalarStyle.Plain } s when decimal.TryParse(s.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => JsonValue.Create(d),
        YamlScalarNode s => JsonValue.Create(s.Value),
        _ => null,
    };
}
