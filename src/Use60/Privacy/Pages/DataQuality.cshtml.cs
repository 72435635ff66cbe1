using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Use60.Data;

namespace Use60.Privacy.Pages;

/// <summary>
/// Data quality (/admin/data-quality): the org's average contact score, how the scores spread, and the contacts that score lowest
/// with what costs them points. Owners and admins only; it reads through row-level security like every admin page, so it covers
/// the contacts the admin may see (all of them while the org shares its CRM). A contact is shown as first name, last initial and
/// company, and its gaps by field name: never an email address, a phone number or a URL.
/// </summary>
public sealed class DataQualityModel(Use60Db db, Security.SecurityAudit audit) : PageModel
{
    public const string PagePath = "/admin/data-quality";
    public const int LowestShown = 25;

    public sealed record Band(string Label, int From, int To, int Count);

    public sealed record Line(Guid Id, string Name, string? Company, string Owner, int Score, string Gaps);

    public int Contacts { get; private set; }
    public double Average { get; private set; }
    public int Complete { get; private set; }
    public IReadOnlyList<Band> Distribution { get; private set; } = [];
    public IReadOnlyList<Line> Lowest { get; private set; } = [];
    public bool CrmShared { get; private set; } = true;

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        var scores = await db.Contacts.AsNoTracking().GroupBy(c => c.DataQualityScore)
            .Select(g => new { Score = g.Key, Count = g.Count() }).ToListAsync(cancellationToken);
        Contacts = scores.Sum(s => s.Count);
        Average = Contacts == 0 ? 0 : scores.Sum(s => (double)s.Score * s.Count) / Contacts;
        Complete = scores.Where(s => s.Score == 100).Sum(s => s.Count);
        Distribution = [.. new[] { (0, 19), (20, 39), (40, 59), (60, 79), (80, 99), (100, 100) }.Select(b =>
            new Band(b.Item1 == b.Item2 ? "100" : $"{b.Item1}–{b.Item2}", b.Item1, b.Item2,
                scores.Where(s => s.Score >= b.Item1 && s.Score <= b.Item2).Sum(s => s.Count)))];

        var lowest = await (from c in db.Contacts.AsNoTracking()
                            where c.DataQualityScore < 100
                            orderby c.DataQualityScore, c.FirstName, c.LastName, c.Id
                            select c).Take(LowestShown).ToListAsync(cancellationToken);
        var companyIds = lowest.Where(c => c.CompanyId is not null).Select(c => c.CompanyId!.Value).Distinct().ToList();
        var companies = await db.Companies.AsNoTracking().Where(c => companyIds.Contains(c.Id)).ToDictionaryAsync(c => c.Id, c => c.Name, cancellationToken);
        var owners = await db.Users.AsNoTracking().ToDictionaryAsync(u => u.Id, u => u.Name, cancellationToken);
        Lowest = [.. lowest.Select(c => new Line(c.Id, ShortName(c.FirstName, c.LastName),
            c.CompanyId is { } company ? companies.GetValueOrDefault(company) : null, owners.GetValueOrDefault(c.UserId, "(former member)"),
            c.DataQualityScore, ContactQuality.Assess(c.FirstName, c.LastName, c.Title, c.CompanyId, c.Email, c.Phone, c.LinkedinUrl).Describe()))];
        // Their email, phone and LinkedIn were opened to say what is wrong with them: a read of PII, audited like the copilot's.
        if (lowest.Count > 0)
        {
            audit.RecordContactsRead(db, "admin:data-quality", lowest.Count);
            await db.SaveChangesAsync(cancellationToken);
        }
        CrmShared = await db.OrgSettings.AsNoTracking().Select(s => (bool?)s.EnableCrmSharing).SingleOrDefaultAsync(cancellationToken) ?? true;
    }

    /// <summary>"Sarah Chen" → "Sarah C.": enough to find the contact in the CRM, less than their whole name.</summary>
    public static string ShortName(string first, string last) =>
        string.IsNullOrWhiteSpace(last) ? first : $"{first} {char.ToUpperInvariant(last.Trim()[0])}.";
}
