using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Use60.Copilot;

/// <summary>
/// Checks a model's reply against the facts of the turn: every figure it states (amounts, percentages, counts,
/// dates) must appear in a tool output of this conversation turn or in the rep's own words. A reply that states
/// figures from nowhere is not shown.
/// </summary>
public static partial class ReplyGuard
{
    // Numbers as people write them: 1,234,567.89 · $5M · 45% · 2026-12-01 (a date's parts are numbers too).
    [GeneratedRegex(@"(?<![\p{L}\d])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\p{L}\d])\d+(?:\.\d+)?")]
    private static partial Regex Number();

    [GeneratedRegex(@"^\s*(k|m|bn|thousand|million|billion)\b", RegexOptions.IgnoreCase)]
    private static partial Regex Scale();

    /// <summary>Small numbers are counting and list words ("3 deals", "step 2"), not CRM facts worth refusing a reply for.</summary>
    const decimal SmallestFact = 11;

    /// <summary>The figures in <paramref name="reply"/> that no tool output or the rep's message supports.</summary>
    public static IReadOnlyList<string> Unsupported(string reply, IEnumerable<string> toolOutputs, string userText)
    {
        var known = new HashSet<decimal>();
        foreach (var text in toolOutputs.Append(userText))
        {
            foreach (var value in Values(text)) known.Add(value);
            if (TryParseJson(text) is { } json) AddCounts(json, known);
        }
        var unsupported = new List<string>();
        foreach (Match match in Number().Matches(reply))
        {
            var value = Parse(match.Value);
            var multiplier = Scale().Match(reply[(match.Index + match.Length)..]) is { Success: true } scale ? Multiplier(scale.Groups[1].Value) : 1m;
            if (value < SmallestFact && multiplier == 1) continue;
            // "$1.2M" is 1,234,567 rounded to the precision the reply shows; "185,000" is 185000.00 rounded.
            var decimals = match.Value.Contains('.') ? match.Value.Length - match.Value.IndexOf('.') - 1 : 0;
            if (known.Any(k => Math.Round(k / multiplier, decimals, MidpointRounding.AwayFromZero) == value)) continue;
            unsupported.Add(match.Value);
        }
        return unsupported;
    }

    static IEnumerable<decimal> Values(string text) => Number().Matches(text).Select(m => Parse(m.Value));

    static decimal Parse(string text) => decimal.Parse(text.Replace(",", ""), NumberStyles.Number, CultureInfo.InvariantCulture);

    static decimal Multiplier(string scale) => scale.ToLowerInvariant() switch
    {
        "k" or "thousand" => 1_000m,
        "m" or "million" => 1_000_000m,
        _ => 1_000_000_000m,
    };

    // "You have 4 meetings" is supported by a list of four meetings.
    static void AddCounts(JsonNode node, HashSet<decimal> known)
    {
        switch (node)
        {
            case JsonArray array:
                known.Add(array.Count);
                foreach (var item in array) if (item is not null) AddCounts(item, known);
                break;
            case JsonObject obj:
                foreach (var (_, value) in obj) if (value is not null) AddCounts(value, known);
                break;
        }
    }

    static JsonNode? TryParseJson(string text)
    {
        try
        {
            return text.TrimStart().StartsWith('{') || text.TrimStart().StartsWith('[') ? JsonNode.Parse(text) : null;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }
}
