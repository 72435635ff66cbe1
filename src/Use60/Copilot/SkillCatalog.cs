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
    static readonly Lazy<IReadOnlyDictionary<string, (SkillDocument Skill, string Text)>> BuiltIns = new(LoadBuiltIns);

    /// <summary>The <see cref="SkillDocument.Source"/> of an org's own version.</summary>
    public const string OrgSource = "org override";

    public static IReadOnlyCollection<SkillDocument> BuiltInSkills => [.. BuiltIns.Value.Values.Select(b => b.Skill)];

    /// <summary>The document of the built-in skill or sequence <paramref name="key"/> as it ships (newlines as \n); null when none has that key.</summary>
    public static string? BuiltInText(string key) => BuiltIns.Value.TryGetValue(key, out var builtIn) ? builtIn.Text : null;

    (Guid OrgId, DbResult<List<SkillOverride>> Overrides)? preloaded;

    /// <summary>Reads the org's overrides with the rest of <paramref name="batch"/>; this scope's lookups for that org then use them.</summary>
    public void Preload(DbBatch batch, Guid orgId) =>
        preloaded = (orgId, batch.Add<List<SkillOverride>>($"SELECT coalesce(json_agg(s), '[]') FROM skill_overrides s WHERE s.org_id = {orgId}"));

    public async Task<IReadOnlyList<SkillDocument>> ListAsync(Guid orgId, CancellationToken cancellationToken)
    {
        var skills = BuiltIns.Value.ToDictionary(b => b.Key, b => b.Value.Skill);
        var overrides = preloaded is { } read && read.OrgId == orgId
            ? read.Overrides.Value
            : await db.SkillOverrides.AsNoTracking().Where(s => s.OrgId == orgId).ToListAsync(cancellationToken);
        foreach (var o in overrides)
        {
            try
            {
                skills[o.SkillKey] = Parse(o.Document, OrgSource) with { Key = o.SkillKey };
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

    static IReadOnlyDictionary<string, (SkillDocument, string)> LoadBuiltIns()
    {
        var assembly = typeof(SkillCatalog).Assembly;
        var skills = new Dictionary<string, (SkillDocument, string)>();
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.Contains(".Copilot.Skills.", StringComparison.Ordinal) && n.EndsWith(".md")))
        {
            using var reader = new StreamReader(assembly.GetManifestResourceStream(name)!);
            var text = reader.ReadToEnd().Replace("\r\n", "\n");
            var skill = Parse(text, "built-in");
            skills.Add(skill.Key, (skill, text));
        }
        return skills;
    }

    /// <summary>Reads a skill document; a clear <see cref="SkillFormatException"/> says what is wrong with it, whatever is wrong with it.</summary>
    public static SkillDocument Parse(string document, string source)
    {
        var text = document.Replace("\r\n", "\n");
        if (!text.StartsWith("---\n", StringComparison.Ordinal)) throw new SkillFormatException("A skill starts with YAML front matter between two '---' lines.");
        var end = text.IndexOf("\n---", 3, StringComparison.Ordinal);
        if (end < 0) throw new SkillFormatException("The front matter has no closing '---' line.");
        JsonObject front;
        try
        {
            var yaml = new YamlStream();
            yaml.Load(new StringReader(text[4..Math.Max(4, end)]));
            front = (yaml.Documents.Count == 1 ? ToJson(yaml.Documents[0].RootNode) : null) as JsonObject
                    ?? throw new SkillFormatException("The front matter must be a YAML mapping of fields (key, name, description, …).");
        }
        catch (YamlException e)
        {
            throw new SkillFormatException($"The front matter is not valid YAML (line {e.Start.Line}): {e.Message}");
        }
        string Required(string field) => Text(front[field], $"'{field}'") is { Length: > 0 } value ? value : throw new SkillFormatException($"The front matter needs '{field}'.");
        var key = Required("key");
        var steps = List(front["steps"], "'steps'").Select((s, i) => s is JsonObject step
            ? new SequenceStep(Text(step["id"], $"The 'id' of step {i + 1}") ?? $"step{i + 1}",
                Text(step["action"], $"The 'action' of step {i + 1}") ?? throw new SkillFormatException($"Step {i + 1} of {key} has no 'action'."),
                step["params"] switch
                {
                    null => [],
                    JsonObject parameters => parameters,
                    _ => throw new SkillFormatException($"The 'params' of step {i + 1} must be a mapping of names to values."),
                },
                Flag(step["optional"], $"The 'optional' of step {i + 1}"))
            : throw new SkillFormatException($"Step {i + 1} of {key} must be a mapping.")).ToList();
        var inputs = List(front["inputs"], "'inputs'").Select((input, i) => input is JsonObject field
            ? new SkillInput(Text(field["name"], $"The 'name' of input {i + 1}") ?? "", Text(field["description"], $"The 'description' of input {i + 1}") ?? "",
                Flag(field["required"], $"The 'required' of input {i + 1}"))
            : throw new SkillFormatException($"Input {i + 1} must be a mapping with a 'name'.")).ToList();
        foreach (var step in steps)
        {
            try
            {
                TemplateVariables.References(step.Params); // a malformed ${…} is an error now, not when a rep runs it
            }
            catch (TemplateVariableException e)
            {
                throw new SkillFormatException($"Step '{step.Id}': {e.Message}.");
            }
        }
        return new SkillDocument(key, Required("name"), Required("description"), Text(front["category"], "'category'") ?? "general",
            Text(front["response"], "'response'"), inputs, [.. List(front["actions"], "'actions'").Select((a, i) => Text(a, $"Action {i + 1}")).OfType<string>()],
            steps, text[(end + 4)..].Trim(), source);
    }

    /// <summary>A scalar as text (a plain 42 or true reads as "42" or "true"); a list or mapping where text belongs is an error.</summary>
    static string? Text(JsonNode? node, string what) => node switch
    {
        null => null,
        JsonValue value when value.TryGetValue<string>(out var text) => text,
        JsonValue value => value.ToJsonString(),
        _ => throw new SkillFormatException($"{what} must be text, not a {(node is JsonArray ? "list" : "mapping")}."),
    };

    static bool Flag(JsonNode? node, string what) => node switch
    {
        null => false,
        JsonValue value when value.TryGetValue<bool>(out var flag) => flag,
        _ => throw new SkillFormatException($"{what} must be true or false."),
    };

    static JsonArray List(JsonNode? node, string what) => node switch
    {
        null => [],
        JsonArray list => list,
        _ => throw new SkillFormatException($"{what} must be a list."),
    };

    // Plain scalars that look like numbers or booleans become those; quoted ones stay strings, as YAML means.
    static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(c => KeyValuePair.Create(
            c.Key is YamlScalarNode { Value: { } name } ? name : throw new SkillFormatException("The front matter's field names must be plain words."), ToJson(c.Value)))),
        YamlSequenceNode list => new JsonArray([.. list.Children.Select(ToJson)]),
        YamlScalarNode { Style: ScalarStyle.Plain, Value: "true" or "false" } b => JsonValue.Create(b.Value == "true"),
        YamlScalarNode { Style: ScalarStyle.Plain, Value: "null" or "~" or "" } => null,
        YamlScalarNode { Style: ScalarStyle.Plain } s when long.TryParse(s.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) => JsonValue.Create(l),
        YamlScalarNode { Style: ScalarStyle.Plain } s when decimal.TryParse(s.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => JsonValue.Create(d),
        YamlScalarNode s => JsonValue.Create(s.Value),
        _ => null,
    };
}
