using System.Globalization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.EntityFrameworkCore;
using Use60.Data;

namespace Use60.Security.Pages;

/// <summary>The audit log (/admin/security/audit): the org's security audit log, filtered by user, event and UTC dates, a page at a time.</summary>
public sealed class AuditLogModel(Use60Db db, AuditLogSearch search) : PageModel
{
    public const string PagePath = "/admin/security/audit";
    const string DateFormat = "yyyy-MM-dd";
    const int MaxDetails = 300;

    public AuditLogSearch.Filter Filter { get; private set; } = new(null, null, null, null, AuditLogSearch.DefaultPageSize);
    public AuditLogSearch.Page Result { get; private set; } = new([], null, null);

    public sealed record Member(Guid Id, string Name);

    /// <summary>The org's members by name, for the user filter and to name each entry's user.</summary>
    public IReadOnlyList<Member> Members { get; private set; } = [];

    public IReadOnlyList<string> EventTypes { get; private set; } = [];

    /// <summary>Whether this page was reached by paging (it then links back to the newest entries).</summary>
    public bool Paged { get; private set; }

    public async Task OnGetAsync([FromQuery(Name = "user")] string? user, [FromQuery(Name = "type")] string? type,
        [FromQuery(Name = "from")] string? from, [FromQuery(Name = "to")] string? to, [FromQuery(Name = "size")] int? size,
        [FromQuery(Name = "before")] string? before, [FromQuery(Name = "after")] string? after, CancellationToken cancellationToken)
    {
        // Anything that does not parse is no filter rather than an error; dates the wrong way round are swapped.
        var (fromDate, toDate) = (Date(from), Date(to));
        if (fromDate > toDate) (fromDate, toDate) = (toDate, fromDate);
        Filter = new AuditLogSearch.Filter(Guid.TryParse(user, out var userId) ? userId : null, string.IsNullOrWhiteSpace(type) ? null : type.Trim(),
            fromDate, toDate, size is { } requested && AuditLogSearch.PageSizes.Contains(requested) ? requested : AuditLogSearch.DefaultPageSize);
        var (beforeCursor, afterCursor) = (AuditLogSearch.Cursor.Parse(before), AuditLogSearch.Cursor.Parse(after));
        Paged = beforeCursor is not null || afterCursor is not null;
        Result = await search.PageAsync(Filter, beforeCursor, afterCursor, cancellationToken);
        Members = await db.Users.AsNoTracking().OrderBy(u => u.Name).Select(u => new Member(u.Id, u.Name)).ToListAsync(cancellationToken);
        EventTypes = await search.EventTypesAsync(cancellationToken);
    }

    static DateOnly? Date(string? text) =>
        DateOnly.TryParseExact(text, DateFormat, CultureInfo.InvariantCulture, DateTimeStyles.None, out var date) ? date : null;

    public static string DateValue(DateOnly? date) => date?.ToString(DateFormat, CultureInfo.InvariantCulture) ?? "";

    /// <summary>This page's filters, at another page of the results (or, with no cursor, the newest).</summary>
    public string Link(AuditLogSearch.Cursor? before = null, AuditLogSearch.Cursor? after = null)
    {
        var query = new Dictionary<string, string?>
        {
            ["user"] = Filter.UserId?.ToString(), ["type"] = Filter.EventType, ["from"] = Filter.From is null ? null : DateValue(Filter.From),
            ["to"] = Filter.To is null ? null : DateValue(Filter.To),
            ["size"] = Filter.PageSize == AuditLogSearch.DefaultPageSize ? null : Filter.PageSize.ToString(CultureInfo.InvariantCulture),
            ["before"] = before?.ToString(), ["after"] = after?.ToString(),
        };
        return QueryHelpers.AddQueryString(PagePath, query.Where(p => p.Value is not null));
    }

    public string UserName(Guid? userId) => userId is { } id ? Members.FirstOrDefault(m => m.Id == id)?.Name ?? "a former member" : "—";

    public static string When(DateTimeOffset at) => at.ToString("d MMM yyyy HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);

    /// <summary>The entry's details (a JSON object: never secrets or message contents), shortened for the table.</summary>
    public static string Details(string details) => details.Length <= MaxDetails ? details : details[..MaxDetails] + "…";
}
