using System.Globalization;
using System.Text;

namespace Use60.Privacy;

/// <summary>A contact field's value as it should be stored, or why it cannot be (a sentence to show the person who typed it).</summary>
public readonly record struct FieldResult(string? Value, string? Problem)
{
    public bool IsValid => Problem is null;

    public static FieldResult Ok(string? value) => new(value, null);

    public static FieldResult Rejected(string problem) => new(null, problem);
}

/// <summary>
/// The contact fields with a format (the seeds' validation migration): email, phone and LinkedIn profile URL, each normalised to
/// one spelling or rejected with a message. Blank means "not known" and is always accepted (as null). Messages never repeat the
/// value, so they are safe to log as well as to show.
/// </summary>
public static class ContactFields
{
    public const string EmailField = "email", PhoneField = "phone", LinkedInField = "linkedin_url";

    const string EmailExample = "like sarah.chen@northwind.example";
    const string LinkedInExample = "like https://linkedin.com/in/john-smith";

    /// <summary>
    /// An email address, RFC 5322 simplified as the seeds have it: a dot-atom before the @ (no quoted names, no comments), a domain
    /// of letters, digits and hyphens with a dot before its ending. Stored trimmed and in lower case (mailboxes are
    /// case-insensitive in practice, and one spelling is what finds duplicates); a leading "mailto:" is dropped.
    /// </summary>
    public static FieldResult Email(string? raw)
    {
        var text = raw?.Trim();
        if (string.IsNullOrEmpty(text)) return FieldResult.Ok(null);
        if (text.StartsWith("mailto:", StringComparison.OrdinalIgnoreCase)) text = text["mailto:".Length..].Trim();
        var at = text.IndexOf('@');
        if (at <= 0 || at != text.LastIndexOf('@') || at == text.Length - 1)
            return FieldResult.Rejected($"An email address needs one @ between the name and the domain, {EmailExample}.");
        if (text.Length > 254 || at > 64)
            return FieldResult.Rejected("An email address may be at most 254 characters long, with at most 64 before the @.");
        var (local, domain) = (text[..at], text[(at + 1)..]);
        if (!IsDotAtom(local))
            return FieldResult.Rejected("The part of an email address before the @ may use letters, digits, dots and ! # $ % & ' * + / = ? ^ _ ` { | } ~ -, " +
                                        "with no space, and no dot at either end or two in a row.");
        if (!IsDomain(domain))
            return FieldResult.Rejected($"The domain of an email address (after the @) must be a name with a dot before its ending, {EmailExample}.");
        return FieldResult.Ok(text.ToLowerInvariant());
    }

    /// <summary>
    /// A phone number: digits, with a leading + when the country is known. Written with + (or 00) in front, or given a
    /// <paramref name="countryCallingCode"/> ("1", "44") for a national number, it is stored in E.164 ("+14155550100": a country
    /// code that does not start with 0, 7 to 15 digits in all, and 10 after a +1). Without a country it is stored as its digits
    /// (the seeds' digits_only). Spaces, dashes, dots, brackets and a "(0)" trunk prefix are formatting and are dropped.
    /// </summary>
    public static FieldResult Phone(string? raw, string? countryCallingCode = null)
    {
        var text = raw?.Trim();
        if (string.IsNullOrEmpty(text)) return FieldResult.Ok(null);
        if (text.StartsWith("tel:", StringComparison.OrdinalIgnoreCase)) text = text[4..].Trim();
        var international = text.StartsWith('+');
        var body = (international ? text[1..] : text).Replace("(0)", "");
        var digits = new StringBuilder(body.Length);
        foreach (var c in body)
        {
            if (char.IsAsciiDigit(c)) digits.Append(c);
            else if (c is not (' ' or '-' or '.' or '(' or ')' or '/'))
                return FieldResult.Rejected("A phone number may contain only digits, spaces, dashes, dots and brackets, with a + in front " +
                                            "when it starts with the country code, like +1 415 555 0100.");
        }
        var number = digits.ToString();
        if (!international && number.StartsWith("00", StringComparison.Ordinal))
            (international, number) = (true, number[2..]);
        if (!international && !string.IsNullOrEmpty(countryCallingCode))
            (international, number) = (true, countryCallingCode.TrimStart('+') + (number.StartsWith('0') ? number[1..] : number));
        if (!international)
            return number.Length is >= 7 and <= 15
                ? FieldResult.Ok(number)
                : FieldResult.Rejected("A phone number has 7 to 15 digits.");
        if (number.Length == 0 || number[0] == '0')
            return FieldResult.Rejected("A country code never starts with 0: write +44 20 7946 0958, not +044 or +0….");
        if (number.Length is < 7 or > 15)
            return FieldResult.Rejected("An international phone number has 7 to 15 digits after the + (E.164), like +44 20 7946 0958.");
        if (number[0] == '1' && number.Length != 11)
            return FieldResult.Rejected("A +1 (North American) phone number has 10 digits after the 1, like +1 415 555 0100.");
        return FieldResult.Ok("+" + number);
    }

    /// <summary>
    /// A LinkedIn profile URL, stored as https://linkedin.com/in/{name}: any case, http or https (or none), www., m. or a country's
    /// subdomain, a trailing slash, a query (utm_source=share) or a fragment, and pages under the profile all lead to the same
    /// spelling. Anything that is not a person's /in/ profile (a company page, a post, a search) is rejected.
    /// </summary>
    public static FieldResult LinkedIn(string? raw)
    {
        var text = raw?.Trim();
        if (string.IsNullOrEmpty(text)) return FieldResult.Ok(null);
        if (!text.Contains("://", StringComparison.Ordinal)) text = "https://" + text;
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || text.Any(char.IsWhiteSpace))
            return FieldResult.Rejected($"That is not a web address: a LinkedIn profile URL looks {LinkedInExample}.");
        var host = uri.Host;
        var sub = host.EndsWith(".linkedin.com", StringComparison.Ordinal) ? host[..^".linkedin.com".Length] : null;
        if (host != "linkedin.com" && sub is not ("www" or "m") && !(sub is { Length: 2 } && sub.All(char.IsAsciiLetterLower)))
            return FieldResult.Rejected($"A LinkedIn profile URL is on linkedin.com, {LinkedInExample}.");
        var segments = uri.AbsolutePath.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (segments.Length < 2 || !segments[0].Equals("in", StringComparison.OrdinalIgnoreCase))
            return FieldResult.Rejected(segments.FirstOrDefault()?.ToLowerInvariant() switch
            {
                "company" or "school" or "showcase" => $"That is a LinkedIn company or school page, not a person's profile: use their profile URL, {LinkedInExample}.",
                _ => $"That LinkedIn URL is not a person's profile: use the one with /in/ and their name, {LinkedInExample}.",
            });
        var name = Uri.UnescapeDataString(segments[1]).ToLowerInvariant();
        if (name.Length is < 3 or > 100 || !name.All(c => char.IsLetterOrDigit(c) || c is '-' or '_'))
            return FieldResult.Rejected($"The name in a LinkedIn profile URL has 3 to 100 letters, digits and hyphens, {LinkedInExample}.");
        return FieldResult.Ok("https://linkedin.com/in/" + Uri.EscapeDataString(name));
    }

    static bool IsDotAtom(string local)
    {
        if (local.Length == 0 || local[0] == '.' || local[^1] == '.' || local.Contains("..", StringComparison.Ordinal)) return false;
        foreach (var c in local)
            if (!(char.IsAsciiLetterOrDigit(c) || c == '.' || "!#$%&'*+/=?^_`{|}~-".Contains(c))) return false;
        return true;
    }

    static bool IsDomain(string domain)
    {
        var labels = domain.Split('.');
        if (labels.Length < 2) return false;
        foreach (var label in labels)
            if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-' || !label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
                return false;
        var ending = labels[^1];
        return (ending.Length >= 2 && ending.All(char.IsAsciiLetter)) || ending.StartsWith("xn--", StringComparison.OrdinalIgnoreCase);
    }
}

/// <summary>
/// A contact's data-quality score, 0–100: the points of each field that is present and valid. The seeds name the score but not
/// its weights; these follow what a rep needs to reach someone: an email address most (30), then a phone number and a LinkedIn
/// profile (20 each), then the full name, the job title and the company (10 each). Migration 0022's
/// <c>contact_data_quality_score</c> computes the same in SQL for rows written before it (a test keeps the two in step).
/// </summary>
public static class ContactQuality
{
    public sealed record Weight(string Field, string Label, int Points);

    public static readonly IReadOnlyList<Weight> Weights =
    [
        new(ContactFields.EmailField, "email", 30),
        new(ContactFields.PhoneField, "phone", 20),
        new(ContactFields.LinkedInField, "LinkedIn", 20),
        new("name", "full name", 10),
        new("title", "job title", 10),
        new("company", "company", 10),
    ];

    public enum Gap { Missing, Invalid }

    /// <summary>The score, and what costs points: each field missing or (for rows stored before validation) invalid.</summary>
    public sealed record Assessment(int Score, IReadOnlyList<(Weight Field, Gap Gap)> Gaps)
    {
        public string Describe() => string.Join(", ", Gaps.Select(g => $"{g.Field.Label} {(g.Gap == Gap.Missing ? "missing" : "invalid")}"));
    }

    public static Assessment Assess(string? firstName, string? lastName, string? title, Guid? companyId, string? email, string? phone, string? linkedinUrl)
    {
        var gaps = new List<(Weight, Gap)>();
        var score = 0;
        foreach (var weight in Weights)
        {
            Gap? gap = weight.Field switch
            {
                ContactFields.EmailField => Check(email, ContactFields.Email),
                ContactFields.PhoneField => Check(phone, p => ContactFields.Phone(p)),
                ContactFields.LinkedInField => Check(linkedinUrl, ContactFields.LinkedIn),
                "name" => string.IsNullOrWhiteSpace(firstName) || string.IsNullOrWhiteSpace(lastName) ? Gap.Missing : null,
                "title" => string.IsNullOrWhiteSpace(title) ? Gap.Missing : null,
                _ => companyId is null ? Gap.Missing : null,
            };
            if (gap is { } found) gaps.Add((weight, found));
            else score += weight.Points;
        }
        return new Assessment(score, gaps);
    }

    static Gap? Check(string? value, Func<string?, FieldResult> check) =>
        string.IsNullOrWhiteSpace(value) ? Gap.Missing : check(value).IsValid ? null : Gap.Invalid;

    /// <summary>"72" → "72/100", for pages.</summary>
    public static string Format(double score) => score.ToString("0", CultureInfo.InvariantCulture) + "/100";
}
