using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.WebUtilities;

namespace Use60.Tests.Drills;

/// <summary>One generated request: what is sent, and whether it carries a valid signature (or token) for what it sends.</summary>
public sealed record FuzzRequest(string Family, string Endpoint, HttpMethod Method, string PathAndQuery, byte[]? Body, string? ContentType,
    IReadOnlyList<KeyValuePair<string, string>> Headers, string Variant)
{
    public HttpRequestMessage ToMessage()
    {
        var message = new HttpRequestMessage(Method, PathAndQuery);
        if (Body is not null)
        {
            message.Content = new ByteArrayContent(Body);
            if (ContentType is not null) message.Content.Headers.TryAddWithoutValidation("Content-Type", ContentType);
        }
        foreach (var (name, value) in Headers) message.Headers.TryAddWithoutValidation(name, value);
        return message;
    }
}

/// <summary>
/// Bad input, deterministically from a seed: injection strings, huge and empty values, wrong types, invalid UTF-8, truncation, and
/// structural damage to JSON and form bodies. Every value is derived from the one <see cref="Random"/>, so a seed reproduces a run.
/// </summary>
public static class FuzzInputs
{
    public const string Script = "<script>alert(1)</script>";
    public const string ImgOnError = "\"><img src=x onerror=alert(1)>";

    /// <summary>What an attacker types into a text field.</summary>
    public static readonly string[] Injections =
    [
        "'; DROP TABLE contacts;--", "' OR '1'='1", "1; SELECT pg_sleep(5);--", "\" OR \"\"=\"", "admin'--", "') OR ('a'='a",
        Script, ImgOnError, "<svg onload=alert(1)>", "javascript:alert(1)", "<a href=\"javascript:alert(1)\">x</a>", "</textarea><script>alert(1)</script>",
        "{{7*7}}", "${7*7}", "@(1+1)", "<%= 7*7 %>", "${jndi:ldap://127.0.0.1/x}", "../../../../etc/passwd", "%00", "\0", "\u0000\u0001\u001f",
        "<@U0ADMIN> <!channel> <!here>", "*bold* _it_ ~s~ `code` ```block```", "&lt;script&gt;", "\r\nSet-Cookie: x=1", "😀👍🏽", "\u202Eevil\u202C",
        "\uFEFF", "Ω≈ç√∫", "null", "undefined", "NaN", "-1", "0", "99999999999999999999999999", "1e309", "[]", "{}", "\\", "\"", "'",
        "%", "%zz", "%C0%AF", "+", "&", "=", "?x=1&y=2", "00000000-0000-0000-0000-000000000000", "not-a-guid",
    ];

    public static string Pick(Random random, IReadOnlyList<string> values) => values[random.Next(values.Count)];

    /// <summary>A bad value for a text field: mostly an injection string, sometimes empty, long, or several glued together.</summary>
    public static string Text(Random random) => random.Next(10) switch
    {
        0 => "",
        1 => new string('A', random.Next(5_000, 70_000)),
        2 => Pick(random, Injections) + Pick(random, Injections) + Pick(random, Injections),
        3 => RandomUnicode(random, random.Next(1, 200)),
        _ => Pick(random, Injections),
    };

    /// <summary>Random code points, lone surrogates included (they do not survive UTF-8 encoding as themselves).</summary>
    public static string RandomUnicode(Random random, int length)
    {
        var builder = new StringBuilder(length);
        for (var i = 0; i < length; i++) builder.Append((char)random.Next(0, 0xFFFF));
        return builder.ToString();
    }

    /// <summary>Byte sequences that are not UTF-8: overlong forms, lone continuation bytes, surrogates, truncated sequences.</summary>
    static readonly byte[][] InvalidUtf8 =
    [
        [0xC0, 0xAF], [0x80], [0xBF, 0xBF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0xFF], [0xFE, 0xFF], [0xF0, 0x9F, 0x98],
    ];

    /// <summary>Damages a body at the byte level: truncation, invalid UTF-8 spliced in, bytes flipped, a prefix or suffix of junk.</summary>
    public static byte[] DamageBytes(Random random, byte[] body)
    {
        var bytes = body.ToList();
        switch (random.Next(6))
        {
            case 0:
                return body[..random.Next(0, Math.Max(1, body.Length))];
            case 1:
                bytes.InsertRange(random.Next(bytes.Count + 1), InvalidUtf8[random.Next(InvalidUtf8.Length)]);
                return [.. bytes];
            case 2:
                for (var i = 0; i < 1 + random.Next(8) && bytes.Count > 0; i++) bytes[random.Next(bytes.Count)] = (byte)random.Next(256);
                return [.. bytes];
            case 3:
                return [.. InvalidUtf8[random.Next(InvalidUtf8.Length)], .. body];
            case 4:
                return [.. body, .. Encoding.UTF8.GetBytes(Pick(random, ["}", "]]]", "\"", "&&&", "=%", "\0", "{\"a\":"]))];
            default:
                var junk = new byte[random.Next(1, 512)];
                random.NextBytes(junk);
                return junk;
        }
    }

    /// <summary>A copy of <paramref name="node"/> with one leaf (or key) damaged: a bad string, a wrong type, removed, or made huge.</summary>
    public static JsonNode MutateJson(Random random, JsonNode node)
    {
        var copy = node.DeepClone();
        var slots = new List<(JsonNode Parent, object Key)>();
        Collect(copy, slots);
        if (slots.Count == 0) return copy;
        var (parent, key) = slots[random.Next(slots.Count)];
        JsonNode? replacement = random.Next(8) switch
        {
            0 => null,
            1 => JsonValue.Create(random.Next(3) == 0 ? double.MaxValue : -random.Next(int.MaxValue)),
            2 => new JsonArray(JsonValue.Create(Text(random)), new JsonObject()),
            3 => new JsonObject { ["$ne"] = Text(random) },
            4 => JsonValue.Create(random.Next(2) == 0),
            _ => JsonValue.Create(Text(random)),
        };
        if (parent is JsonObject obj)
        {
            if (random.Next(6) == 0) obj.Remove((string)key);
            else obj[(string)key] = replacement;
        }
        else if (parent is JsonArray array) array[(int)key] = replacement;
        return copy;
    }

    /// <summary>Every string leaf of a JSON tree replaced in turn, one copy each: injection in every text field of a valid payload.</summary>
    public static IEnumerable<JsonNode> EachStringField(JsonNode node, string value)
    {
        var count = new List<(JsonNode, object)>();
        Collect(node.DeepClone(), count);
        for (var i = 0; i < count.Count; i++)
        {
            var copy = node.DeepClone();
            var slots = new List<(JsonNode Parent, object Key)>();
            Collect(copy, slots);
            var (parent, key) = slots[i];
            var current = parent is JsonObject o ? o[(string)key] : ((JsonArray)parent)[(int)key];
            if (current is not JsonValue v || !v.TryGetValue<string>(out _)) continue;
            if (parent is JsonObject obj) obj[(string)key] = value;
            else ((JsonArray)parent)[(int)key] = value;
            yield return copy;
        }
    }

    static void Collect(JsonNode? node, List<(JsonNode, object)> slots)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (key, child) in obj.ToList())
                {
                    slots.Add((obj, key));
                    Collect(child, slots);
                }
                break;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    slots.Add((array, i));
                    Collect(array[i], slots);
                }
                break;
        }
    }

    /// <summary>A form body (application/x-www-form-urlencoded) with one damage: a field bad, missing, duplicated, huge, or badly escaped.</summary>
    public static byte[] MutateForm(Random random, IReadOnlyList<KeyValuePair<string, string>> fields)
    {
        var list = fields.ToList();
        var raw = new List<string>();
        switch (random.Next(7))
        {
            case 0 when list.Count > 0:
                list.RemoveAt(random.Next(list.Count));
                break;
            case 1 when list.Count > 0:
                var twice = list[random.Next(list.Count)];
                list.Add(new(twice.Key, random.Next(2) == 0 ? twice.Value : Text(random)));
                break;
            case 2 when list.Count > 0:
                var huge = random.Next(list.Count);
                list[huge] = new(list[huge].Key, new string('x', random.Next(2) == 0 ? 1 << 20 : 100_000));
                break;
            case 3:
                raw.Add(Pick(random, ["%zz=1", "a=%C0%AF", "=", "&&&", "%=%", "a==b", "x=%ED%A0%80", "%00=%00", "[]=1", "a[b]=c"]));
                break;
            case 4:
                list.Add(new(Text(random), Text(random)));
                break;
            default:
                if (list.Count == 0) break;
                var at = random.Next(list.Count);
                list[at] = new(list[at].Key, Text(random));
                break;
        }
        var encoded = list.Select(f => Uri.EscapeDataString(f.Key) + "=" + EscapeLong(f.Value)).Concat(raw);
        return Encoding.UTF8.GetBytes(string.Join('&', encoded));
    }

    /// <summary>Uri.EscapeDataString with lone surrogates allowed (replaced, as a browser would send them).</summary>
    static string EscapeLong(string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        var builder = new StringBuilder(bytes.Length * 2);
        foreach (var b in bytes)
            if (b is >= (byte)'a' and <= (byte)'z' or >= (byte)'A' and <= (byte)'Z' or >= (byte)'0' and <= (byte)'9' or (byte)'-' or (byte)'.' or (byte)'_' or (byte)'~')
                builder.Append((char)b);
            else builder.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        return builder.ToString();
    }

    public static byte[] Form(IEnumerable<KeyValuePair<string, string>> fields) =>
        Encoding.UTF8.GetBytes(string.Join('&', fields.Select(f => Uri.EscapeDataString(f.Key) + "=" + EscapeLong(f.Value))));

    /// <summary>A wrong (or absent, or malformed) Content-Type for a body.</summary>
    public static string? WrongContentType(Random random) => Pick(random,
        ["text/plain", "application/xml", "multipart/form-data; boundary=x", "application/json; charset=utf-16", "image/png", "", "garbage",
         "application/x-www-form-urlencoded; charset=ebcdic", "application/json", "application/x-www-form-urlencoded", ";;;", "*/*"]) is { Length: > 0 } type
        ? type : null;

    /// <summary>A query string for an OAuth callback: code, state and error, each bad in its own way (or missing, or doubled).</summary>
    public static string CallbackQuery(Random random, string? validState = null)
    {
        var fields = new List<string>();
        foreach (var name in new[] { "code", "state", "error" })
        {
            switch (random.Next(6))
            {
                case 0: break;
                case 1: var text = Text(random); fields.Add(name + "=" + EscapeLong(text[..Math.Min(2000, text.Length)])); break;
                case 2: fields.Add(name + "=" + Pick(random, ["%zz", "%C0%AF", "%ED%A0%80", "", "%00"])); break;
                case 3: fields.Add($"{name}=a&{name}=b"); break;
                case 4 when name == "state" && validState is not null: fields.Add("state=" + Uri.EscapeDataString(validState)); break;
                default: fields.Add(name + "=" + Uri.EscapeDataString(Pick(random, Injections))); break;
            }
        }
        return fields.Count == 0 ? "" : "?" + string.Join('&', fields);
    }

    public static string Query(IEnumerable<KeyValuePair<string, string>> fields) => QueryHelpers.AddQueryString("", fields.ToDictionary(f => f.Key, f => (string?)f.Value));
}
