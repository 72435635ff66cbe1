using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Use60.Privacy;

/// <summary>
/// Payment card numbers, which use60 never stores and never sends to a model: 13–19 digits that pass the Luhn check, written
/// together or in groups joined by single spaces or dashes ("4111 1111 1111 1111", "3782-822463-10005"). A hand-written scanner,
/// not a regex, so text without such a run (nearly all of it) is checked in one pass and comes back as the same string.
/// </summary>
/// <remarks>
/// What is not a card number: a run failing Luhn (most order and phone numbers); a run of more than 19 digits with no separators
/// (an id, not a card inside it); digits glued to a word ("ORD4111…", "…-7f00-8123-…" in a GUID, "12.4111…" in a decimal), since
/// those are identifiers and amounts whose change would break what reads them. A spaced run longer than 19 digits ("card
/// 4111 1111 1111 1111 2024") is searched, group by group, for its longest Luhn-valid stretch of 13–19 digits.
/// </remarks>
public static class CardNumbers
{
    public const string Placeholder = "[card number removed]";
    public const int MinDigits = 13, MaxDigits = 19;

    /// <summary>True if <paramref name="text"/> holds something <see cref="Redact(string)"/> would remove.</summary>
    public static bool Contains(string? text) => text is not null && MayHold(text) && Hits(text) is not null;

    /// <summary><paramref name="text"/> with every card number replaced by <see cref="Placeholder"/>; the same instance when it holds none.</summary>
    [return: NotNullIfNotNull(nameof(text))]
    public static string? Redact(string? text)
    {
        if (text is null || !MayHold(text) || Hits(text) is not { } hits) return text;
        var output = new StringBuilder(text.Length);
        var copied = 0;
        foreach (var (start, end) in hits)
        {
            output.Append(text, copied, start - copied).Append(Placeholder);
            copied = end;
        }
        return output.Append(text, copied, text.Length - copied).ToString();
    }

    /// <summary>
    /// JSON text with card numbers removed from its string values (numbers, keys and structure untouched); the same instance when
    /// it holds none. Text that is not JSON is redacted as plain text.
    /// </summary>
    [return: NotNullIfNotNull(nameof(json))]
    public static string? RedactJson(string? json)
    {
        if (json is null || !Contains(json)) return json;
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json);
        }
        catch (JsonException)
        {
            return Redact(json);
        }
        return RedactJson(node) ? node!.ToJsonString(Compact) : json;
    }

    /// <summary>Removes card numbers from every string value in <paramref name="node"/>, in place. True if anything changed.</summary>
    public static bool RedactJson(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject obj:
            {
                var changed = false;
                List<(string, string)>? replaced = null;
                foreach (var (key, value) in obj)
                {
                    if (StringOf(value) is { } text)
                    {
                        var redacted = Redact(text);
                        if (!ReferenceEquals(redacted, text)) (replaced ??= []).Add((key, redacted));
                    }
                    else changed |= RedactJson(value);
                }
                foreach (var (key, redacted) in replaced ?? []) obj[key] = redacted;
                return changed || replaced is not null;
            }
            case JsonArray array:
            {
                var changed = false;
                for (var i = 0; i < array.Count; i++)
                {
                    if (StringOf(array[i]) is { } text)
                    {
                        var redacted = Redact(text);
                        if (ReferenceEquals(redacted, text)) continue;
                        array[i] = redacted;
                        changed = true;
                    }
                    else changed |= RedactJson(array[i]);
                }
                return changed;
            }
            default:
                return false;
        }
    }

    /// <summary>The Luhn (mod 10) check over ASCII digits, ignoring spaces and dashes.</summary>
    public static bool IsLuhnValid(ReadOnlySpan<char> number)
    {
        int sum = 0, count = 0;
        for (var i = number.Length - 1; i >= 0; i--)
        {
            var c = number[i];
            if (c is ' ' or '-') continue;
            if (!char.IsAsciiDigit(c)) return false;
            var digit = c - '0';
            if (count++ % 2 == 1)
            {
                digit *= 2;
                if (digit > 9) digit -= 9;
            }
            sum += digit;
        }
        return count > 0 && sum % 10 == 0;
    }

    static readonly JsonSerializerOptions Compact = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    static string? StringOf(JsonNode? node) =>
        node is JsonValue value && value.GetValueKind() == JsonValueKind.String ? value.GetValue<string>() : null;

    /// <summary>The quick no: fewer than 13 ASCII digits in all.</summary>
    static bool MayHold(string text)
    {
        var span = text.AsSpan();
        var digits = 0;
        for (var at = span.IndexOfAnyInRange('0', '9'); at >= 0; at = span.IndexOfAnyInRange('0', '9'))
        {
            span = span[at..];
            var run = span.IndexOfAnyExceptInRange('0', '9');
            if (run < 0) run = span.Length;
            if ((digits += run) >= MinDigits) return true;
            span = span[run..];
        }
        return false;
    }

    /// <summary>A run of digits: where it starts and ends (exclusive) in the text.</summary>
    readonly record struct Group(int Start, int End)
    {
        public int Digits => End - Start;
    }

    /// <summary>Every card number in the text, in order, as [start, end); null when there is none.</summary>
    static List<(int Start, int End)>? Hits(string text)
    {
        List<(int, int)>? hits = null;
        var groups = new List<Group>();
        var position = 0;
        while (position < text.Length)
        {
            var at = text.AsSpan(position).IndexOfAnyInRange('0', '9');
            if (at < 0) break;
            var spanStart = position + at;

            // The whole span: digit groups joined by one space or dash each.
            groups.Clear();
            var i = spanStart;
            while (true)
            {
                var groupStart = i;
                while (i < text.Length && char.IsAsciiDigit(text[i])) i++;
                groups.Add(new Group(groupStart, i));
                if (i + 1 < text.Length && text[i] is ' ' or '-' && char.IsAsciiDigit(text[i + 1])) i++;
                else break;
            }
            position = i;
            if (GluedBefore(text, spanStart) || GluedAfter(text, i)) continue;

            var total = 0;
            foreach (var group in groups) total += group.Digits;
            if (total < MinDigits) continue;
            if (groups.Count == 1)
            {
                // One unbroken run is a card only as a whole, never as a piece of a longer number.
                if (total <= MaxDigits && IsLuhnValid(text.AsSpan(spanStart, total))) (hits ??= []).Add((spanStart, i));
                continue;
            }
            // Grouped digits: the longest valid stretch, then the same again in the groups after it (two cards in a row).
            var from = 0;
            while (LongestValidStretch(text, groups, from) is (int first, int last))
            {
                (hits ??= []).Add((groups[first].Start, groups[last].End));
                from = last + 1;
            }
        }
        return hits;
    }

    /// <summary>The stretch of whole groups with 13–19 digits that passes Luhn, longest first, then leftmost.</summary>
    static (int First, int Last)? LongestValidStretch(string text, List<Group> groups, int from)
    {
        (int First, int Last)? best = null;
        var bestDigits = 0;
        Span<char> digits = stackalloc char[MaxDigits];
        for (var first = from; first < groups.Count; first++)
        {
            var count = 0;
            for (var last = first; last < groups.Count; last++)
            {
                var group = groups[last];
                if (count + group.Digits > MaxDigits) break;
                text.AsSpan(group.Start, group.Digits).CopyTo(digits[count..]);
                count += group.Digits;
                if (count >= MinDigits && count > bestDigits && IsLuhnValid(digits[..count]))
                    (best, bestDigits) = ((first, last), count);
            }
        }
        return best;
    }

    static bool IsWordChar(char c) => char.IsLetterOrDigit(c) || c == '_';

    /// <summary>Joined to a word before it: a letter or underscore next to it, or one through a dash or dot ("id-4111…", "3.4111…").</summary>
    static bool GluedBefore(string text, int start) =>
        start > 0 && (IsWordChar(text[start - 1]) || (text[start - 1] is '-' or '.' && start > 1 && IsWordChar(text[start - 2])));

    static bool GluedAfter(string text, int end) =>
        end < text.Length && (IsWordChar(text[end]) || (text[end] is '-' or '.' && end + 1 < text.Length && IsWordChar(text[end + 1])));
}
