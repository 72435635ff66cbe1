using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Use60.Copilot;

/// <summary>A <c>${…}</c> variable that cannot be resolved; <see cref="Path"/> is its text without <c>${ }</c>, e.g. "outputs.deal.amount".</summary>
public sealed class TemplateVariableException(string path, string message) : Exception(message)
{
    public string Path { get; } = path;
}

/// <summary>
/// The <c>${path}</c> variables in the parameters of a sequence step, resolved against the sequence's context
/// (inputs, outputs, contact, deal…). Paths are dot-separated names, each with optional indexes: <c>outputs.leads[0].contact.name</c>.
/// </summary>
public static partial class TemplateVariables
{
    const string Missing = "—";

    // Objects and arrays interpolated into text are read by people (and LLMs): keep "é" and "<" as they are rather than \u escapes.
    static readonly JsonSerializerOptions CompactJson = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>
    /// A new node with every variable of <paramref name="template"/> resolved: a string that is exactly one <c>${path}</c> becomes the value
    /// with its JSON type; variables inside other text are interpolated; objects and arrays are resolved item by item.
    /// </summary>
    /// <exception cref="TemplateVariableException">A variable is malformed or its path does not exist in the context.</exception>
    public static JsonNode? Resolve(JsonNode? template, JsonObject context) => template switch
    {
        JsonObject obj => new JsonObject(obj.Select(p => KeyValuePair.Create(p.Key, Resolve(p.Value, context)))),
        JsonArray array => new JsonArray([.. array.Select(item => Resolve(item, context))]),
        _ when AsString(template) is { } text => ResolveString(text, context),
        _ => template?.DeepClone(),
    };

    /// <summary>
    /// <paramref name="text"/> interpolated for a person to read: a variable that cannot be resolved shows as "—", never as raw <c>${…}</c>,
    /// and its path is reported in <paramref name="unresolved"/> so the caller can log it.
    /// </summary>
    public static string Display(string text, JsonObject context, out IReadOnlyList<string> unresolved)
    {
        List<string> missing = [];
        unresolved = missing;
        return Interpolate(text, context, missing);
    }

    /// <summary>The distinct paths referenced in <paramref name="template"/>, in order of appearance, to validate a sequence before it runs.</summary>
    /// <exception cref="TemplateVariableException">A reference is malformed, so no sequence using it could ever run.</exception>
    public static IReadOnlyList<string> References(JsonNode? template)
    {
        IEnumerable<string> Strings(JsonNode? node) => node switch
        {
            JsonObject obj => obj.SelectMany(p => Strings(p.Value)),
            JsonArray array => array.SelectMany(Strings),
            _ when AsString(node) is { } text => [text],
            _ => [],
        };
        var paths = Strings(template).SelectMany(s => Reference().Matches(s)).Select(m => m.Groups[1].Value).Distinct().ToList();
        foreach (var path in paths) Validate(path);
        return paths;
    }

    static JsonNode? ResolveString(string text, JsonObject context)
    {
        var matches = Reference().Matches(text);
        // A lone reference keeps the value's type, so "${outputs.deal}" passes the deal object on rather than its JSON text.
        if (matches is [var only] && only.Value == text.Trim()) return Lookup(only.Groups[1].Value, context)?.DeepClone();
        return matches.Count == 0 ? JsonValue.Create(text) : JsonValue.Create(Interpolate(text, context, unresolved: null));
    }

    // Without an unresolved list a failure throws (Resolve); with one it is recorded and shown as "—" (Display).
    static string Interpolate(string text, JsonObject context, List<string>? unresolved) => Reference().Replace(text, m =>
    {
        try { return Text(Lookup(m.Groups[1].Value, context)); }
        catch (TemplateVariableException e) when (unresolved is not null)
        {
            unresolved.Add(e.Path);
            return Missing;
        }
    });

    static string Text(JsonNode? node) => node switch
    {
        null => "",
        _ when AsString(node) is { } text => text,
        JsonValue value => value.ToJsonString(), // numbers as JSON writes them (invariant, e.g. 1200.5), booleans as true/false
        _ => node.ToJsonString(CompactJson),
    };

    // A string value built in code may hold a Guid, DateTime or char rather than a string; those deserialize to their JSON text.
    static string? AsString(JsonNode? node) => node is JsonValue value && value.GetValueKind() == JsonValueKind.String
        ? value.TryGetValue<string>(out var text) ? text : value.Deserialize<string>()
        : null;

    static void Validate(string path)
    {
        if (path.Length == 0) throw new TemplateVariableException(path, "Malformed variable ${}: the path is empty");
        if (!PathSyntax().IsMatch(path))
            throw new TemplateVariableException(path,
                $"Malformed variable ${{{path}}}: expected dot-separated names of letters, digits, '_' or '-', each with optional [n] indexes");
    }

    /// <summary>The value at <paramref name="path"/>; null only when the value exists and is JSON null.</summary>
    static JsonNode? Lookup(string path, JsonObject context)
    {
        Validate(path);
        JsonNode? current = context;
        foreach (Match step in PathStep().Matches(path))
        {
            // The path up to this step, for a message that says which part is missing.
            var parent = step.Index == 0 ? "the context" : path[..step.Index].TrimEnd('.');
            TemplateVariableException Unknown(string why) => new(path, $"Unknown variable ${{{path}}}: {parent} {why}");

            if (step.Groups["name"] is { Success: true, Value: var name })
                current = current is JsonObject obj ? obj.TryGetPropertyValue(name, out var child) ? child : throw Unknown($"has no '{name}'")
                    : throw Unknown($"is {Describe(current)}, not an object");
            else if (current is JsonArray array)
                // Digits too long for an int are out of range like any other index past the end.
                current = int.TryParse(step.Groups["index"].Value, out var i) && i < array.Count ? array[i]
                    : throw Unknown($"has {array.Count} item{(array.Count == 1 ? "" : "s")}, no [{step.Groups["index"].Value}]");
            else throw Unknown($"is {Describe(current)}, not an array");
        }
        return current;
    }

    static string Describe(JsonNode? node) => node?.GetValueKind() switch
    {
        null or JsonValueKind.Null => "null",
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        _ => "a boolean",
    };

    // "${" up to the next "}"; an unterminated "${" does not match and stays literal text.
    [GeneratedRegex(@"\$\{([^}]*)\}")]
    private static partial Regex Reference();

    [GeneratedRegex(@"^[\p{L}\p{Nd}_-]+(\[[0-9]+\])*(\.[\p{L}\p{Nd}_-]+(\[[0-9]+\])*)*\z")]
    private static partial Regex PathSyntax();

    [GeneratedRegex(@"(?<name>[\p{L}\p{Nd}_-]+)|\[(?<index>[0-9]+)\]")]
    private static partial Regex PathStep();
}
