using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Use60.Crm;
using Use60.Data;
using Use60.Security;

namespace Use60.Copilot;

public sealed record EntityCandidate(string Type, Guid Id, string Name, string? Detail, double Confidence);

/// <summary>
/// People, companies and deals from a partial reference: a first name, a nickname ("Bob" for Robert), a surname, a
/// company. Candidates carry a confidence; more than one good candidate means the copilot must ask which. A search that finds
/// contacts is a sensitive read (audited): the copilot's tools run it, and their telemetry saves the audit row with the call.
/// </summary>
public sealed partial class EntityResolver(Use60Db db, SecurityAudit audit)
{
    /// <summary>A candidate this close to the best one is as good: asking beats guessing.</summary>
    public const double AmbiguityMargin = 0.1;

    public const double GoodConfidence = 0.6;

    static readonly Dictionary<string, string[]> Nicknames = new(StringComparer.OrdinalIgnoreCase)
    {
        ["bob"] = ["robert"], ["bobby"] = ["robert"], ["rob"] = ["robert"], ["bill"] = ["william"], ["will"] = ["william"],
        ["liz"] = ["elizabeth"], ["beth"] = ["elizabeth"], ["kate"] = ["katherine", "kathryn", "catherine"], ["katie"] = ["katherine", "kathryn"],
        ["mike"] = ["michael"], ["jim"] = ["james"], ["jimmy"] = ["james"], ["tom"] = ["thomas"], ["dan"] = ["daniel"], ["danny"] = ["daniel"],
        ["sam"] = ["samuel", "samantha"], ["alex"] = ["alexander", "alexandra"], ["chris"] = ["christopher", "christina", "christine"],
        ["matt"] = ["matthew"], ["nick"] = ["nicholas"], ["tony"] = ["anthony"], ["dave"] = ["david"], ["steve"] = ["steven", "stephen"],
        ["joe"] = ["joseph"], ["ben"] = ["benjamin"], ["jen"] = ["jennifer"], ["jenny"] = ["jennifer"], ["sue"] = ["susan"],
        ["andy"] = ["andrew"], ["greg"] = ["gregory"], ["pat"] = ["patrick", "patricia"], ["rick"] = ["richard"], ["dick"] = ["richard"],
        ["ed"] = ["edward"], ["vic"] = ["victor", "victoria"], ["art"] = ["arthur"], ["abby"] = ["abigail"], ["meg"] = ["margaret"],
        ["peggy"] = ["margaret"], ["maggie"] = ["margaret"], ["becky"] = ["rebecca"], ["josh"] = ["joshua"], ["zach"] = ["zachary"],
    };

    [GeneratedRegex(@"[^\p{L}\p{N}' -]+")]
    private static partial Regex Punctuation();

    public async Task<IReadOnlyList<EntityCandidate>> ResolveAsync(string name, string? entityType, CancellationToken cancellationToken)
    {
        var query = Normalise(name);
        if (query.Length == 0) return [];
        var type = entityType?.Trim().ToLowerInvariant() switch
        {
            "person" or "people" or "contact" or "contacts" => "contact",
            "company" or "companies" or "account" => "company",
            "deal" or "deals" or "opportunity" => "deal",
            _ => null,
        };
        var tokens = query.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var first = tokens[0];
        var firstNames = (string[])[first, .. Nicknames.GetValueOrDefault(first) ?? []];
        var like = "%" + query + "%";
        var candidates = new List<EntityCandidate>();

        if (type is null or "contact")
        {
            var last = tokens.Length > 1 ? tokens[^1] : first;
            var contacts = await (from c in db.Contacts.AsNoTracking()
                                  join co in db.Companies.AsNoTracking() on c.CompanyId equals co.Id into cos
                                  from co in cos.DefaultIfEmpty()
                                  where firstNames.Contains(c.FirstName.ToLower()) || c.LastName.ToLower() == last
                                        || EF.Functions.ILike(c.FirstName + " " + c.LastName, like) || co != null && EF.Functions.ILike(co.Name, like)
                                        || c.FirstName.ToLower().StartsWith(first)
                                  select new { c.Id, c.FirstName, c.LastName, c.Title, Company = co == null ? null : co.Name })
                .Take(200).ToListAsync(cancellationToken);
            foreach (var c in contacts)
            {
                var full = Normalise($"{c.FirstName} {c.LastName}");
                var firstName = c.FirstName.ToLowerInvariant();
                var score = full == query ? 1.0
                    : tokens.Length > 1 && firstNames.Contains(firstName) && c.LastName.StartsWith(tokens[^1], StringComparison.OrdinalIgnoreCase) ? 0.95
                    : tokens.Length == 1 && firstName == first ? 0.8
                    : tokens.Length == 1 && firstNames.Contains(firstName) ? 0.75
                    : tokens.Length == 1 && c.LastName.Equals(first, StringComparison.OrdinalIgnoreCase) ? 0.7
                    : c.Company is not null && Normalise(c.Company).Contains(query) ? 0.5
                    : first.Length >= 3 && firstName.StartsWith(first) ? 0.55
                    : 0;
                if (score > 0)
                    candidates.Add(new EntityCandidate("contact", c.Id, $"{c.FirstName} {c.LastName}".Trim(),
                        string.Join(", ", new[] { c.Title, c.Company }.Where(s => !string.IsNullOrEmpty(s))), score));
            }
            if (candidates.Count > 0) audit.RecordContactsRead(db, "contact search", candidates.Count);
        }
        if (type is null or "company")
        {
            var companies = await db.Companies.AsNoTracking().Where(c => EF.Functions.ILike(c.Name, like) || EF.Functions.ILike(c.Name, first + "%"))
                .Select(c => new { c.Id, c.Name, c.Industry }).Take(50).ToListAsync(cancellationToken);
            foreach (var c in companies)
            {
                var normal = Normalise(c.Name);
                candidates.Add(new EntityCandidate("company", c.Id, c.Name, c.Industry,
                    normal == query ? 1.0 : normal.StartsWith(query, StringComparison.Ordinal) ? 0.85 : normal.Contains(query) ? 0.7 : 0.4));
            }
        }
        if (type is null or "deal")
        {
            var deals = await (from d in db.Deals.AsNoTracking()
                               join co in db.Companies.AsNoTracking() on d.CompanyId equals co.Id into cos
                               from co in cos.DefaultIfEmpty()
                               where EF.Functions.ILike(d.Name, like) || co != null && EF.Functions.ILike(co.Name, like)
                               select new { d.Id, d.Name, d.Stage, Company = co == null ? null : co.Name })
                .Take(50).ToListAsync(cancellationToken);
            foreach (var d in deals)
            {
                var normal = Normalise(d.Name);
                var score = normal == query ? 1.0 : normal.StartsWith(query, StringComparison.Ordinal) ? 0.85 : normal.Contains(query) ? 0.8 : 0.7;
                // An open deal is what a rep usually means by "the Acme deal".
                if (!d.Stage.IsOpen()) score -= 0.15;
                candidates.Add(new EntityCandidate("deal", d.Id, d.Name, $"{SnakeCase.ValueOf(d.Stage).Replace('_', ' ')}{(d.Company is null ? "" : ", " + d.Company)}", score));
            }
        }
        return [.. candidates.OrderByDescending(c => c.Confidence).ThenBy(c => c.Name, StringComparer.Ordinal).Take(10)];
    }

    /// <summary>The candidates as good as the best one: one means resolved, several mean ask, none means not found.</summary>
    public static IReadOnlyList<EntityCandidate> Good(IReadOnlyList<EntityCandidate> candidates)
    {
        if (candidates.Count == 0 || candidates[0].Confidence < GoodConfidence) return [];
        var best = candidates[0];
        return [.. candidates.Where(c => c.Type == best.Type && c.Confidence >= best.Confidence - AmbiguityMargin && c.Confidence >= GoodConfidence)];
    }

    static string Normalise(string text)
    {
        var cleaned = Punctuation().Replace(text.ToLowerInvariant().Replace('’', '\''), " ").Trim();
        cleaned = Regex.Replace(cleaned, @"^(the|my)\s+|\s+(deal|account|opportunity)$", "").Trim();
        return Regex.Replace(cleaned, @"\s+", " ");
    }
}
