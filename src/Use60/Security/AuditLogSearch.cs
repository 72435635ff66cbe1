using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Use60.Data;

namespace Use60.Security;

/// <summary>
/// The audit log for the admin site: filtered by user, event type and UTC date range, newest first, a bounded page at a time with
/// keyset paging on (occurred_at, id), so a page costs the same however deep it is and new entries never shift the pages. Read in
/// the viewer's tenant scope: row-level security shows owners and admins their org's log, nobody else's.
/// </summary>
public sealed class AuditLogSearch(Use60Db db)
{
    public static readonly int[] PageSizes = [25, 50, 100];
    public const int DefaultPageSize = 50;

    /// <param name="To">Inclusive: the whole of that UTC day.</param>
    public sealed record Filter(Guid? UserId, string? EventType, DateOnly? From, DateOnly? To, int PageSize);

    /// <summary>Where a page starts or ends: an entry's time and id, written into links as "ticks_id".</summary>
    public sealed record Cursor(DateTimeOffset At, Guid Id)
    {
        public static Cursor Of(SecurityAuditEvent entry) => new(entry.OccurredAt, entry.Id);

        public override string ToString() => $"{At.UtcTicks.ToString(CultureInfo.InvariantCulture)}_{Id:N}";

        /// <summary>A cursor from a link, or null for anything that is not one (a hand-edited URL shows the newest page).</summary>
        public static Cursor? Parse(string? text) =>
            text?.Split('_') is [var ticks, var id] && long.TryParse(ticks, NumberStyles.None, CultureInfo.InvariantCulture, out var t)
            && t <= DateTimeOffset.MaxValue.UtcTicks && Guid.TryParseExact(id, "N", out var guid)
                ? new Cursor(new DateTimeOffset(t, TimeSpan.Zero), guid)
                : null;
    }

    /// <summary>One page; <see cref="Older"/> and <see cref="Newer"/> are where the neighbouring pages start, null at either end.</summary>
    public sealed record Page(IReadOnlyList<SecurityAuditEvent> Entries, Cursor? Older, Cursor? Newer);

    /// <summary>
    /// The page after <paramref name="before"/> (older entries), the page before <paramref name="after"/> (newer ones), or with neither
    /// the newest page.
    /// </summary>
    public async Task<Page> PageAsync(Filter filter, Cursor? before, Cursor? after, CancellationToken cancellationToken)
    {
        var size = filter.PageSize;
        var entries = Filtered(filter);
        if (after is { } start)
        {
            var newer = await entries.Where(e => EF.Functions.GreaterThan(ValueTuple.Create(e.OccurredAt, e.Id), ValueTuple.Create(start.At, start.Id)))
                .OrderBy(e => e.OccurredAt).ThenBy(e => e.Id).Take(size + 1).ToListAsync(cancellationToken);
            var rows = newer.Take(size).Reverse().ToList();
            return new Page(rows, rows.Count > 0 ? Cursor.Of(rows[^1]) : null, newer.Count > size ? Cursor.Of(rows[0]) : null);
        }
        if (before is { } end)
            entries = entries.Where(e => EF.Functions.LessThan(ValueTuple.Create(e.OccurredAt, e.Id), ValueTuple.Create(end.At, end.Id)));
        var older = await entries.OrderByDescending(e => e.OccurredAt).ThenByDescending(e => e.Id).Take(size + 1).ToListAsync(cancellationToken);
        var page = older.Take(size).ToList();
        return new Page(page, older.Count > size ? Cursor.Of(page[^1]) : null, before is not null && page.Count > 0 ? Cursor.Of(page[0]) : null);
    }

    IQueryable<SecurityAuditEvent> Filtered(Filter filter)
    {
        var entries = db.SecurityAuditLog.AsNoTracking();
        if (filter.UserId is { } user) entries = entries.Where(e => e.UserId == user);
        if (filter.EventType is { } type) entries = entries.Where(e => e.EventType == type);
        if (filter.From is { } from)
        {
            var start = new DateTimeOffset(from.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
            entries = entries.Where(e => e.OccurredAt >= start);
        }
        if (filter.To is { } to)
        {
            var end = new DateTimeOffset(to.AddDays(1).ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
            entries = entries.Where(e => e.OccurredAt < end);
        }
        return entries;
    }

    /// <summary>The event types in the org's log, for the filter.</summary>
    public async Task<IReadOnlyList<string>> EventTypesAsync(CancellationToken cancellationToken) =>
        await db.SecurityAuditLog.AsNoTracking().Select(e => e.EventType).Distinct().OrderBy(t => t).ToListAsync(cancellationToken);
}
