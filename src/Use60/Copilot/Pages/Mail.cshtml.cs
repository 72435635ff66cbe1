using System.Globalization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Use60.Data;

namespace Use60.Copilot.Pages;

/// <summary>
/// The local mail sandbox (/admin/mail): the emails reps confirmed in Slack, newest first, read through the tenant-scoped
/// DbContext, so row-level security decides whose are listed (your own; colleagues' only when the org shares emails).
/// With no SMTP_URL these emails went nowhere: this page is where they can be read.
/// </summary>
public sealed class MailModel(Use60Db db, Mailer mailer) : PageModel
{
    public const string PagePath = "/admin/mail";
    public const int PageSize = 50;

    /// <summary>A body longer than this (characters or lines) is collapsed in a &lt;details&gt;.</summary>
    public const int CollapseAfterCharacters = 600;

    public const int CollapseAfterLines = 12;

    const int ExcerptLength = 120;

    /// <summary>No SMTP_URL: confirmed emails are only kept here. (Whether it is set, never the URL: it carries a password.)</summary>
    public bool UsesSandbox => mailer.UsesSandbox;

    public bool EmailSharing { get; private set; }
    public TimeZoneInfo Zone { get; private set; } = TimeZoneInfo.Utc;
    public string ZoneName { get; private set; } = "UTC";

    /// <summary>Every email the viewer can see, on all pages.</summary>
    public int Total { get; private set; }

    /// <summary>The page shown, from 1; anything but a page that exists means page 1.</summary>
    public int PageNumber { get; private set; } = 1;

    public int PageCount { get; private set; } = 1;
    public IReadOnlyList<EmailView> Emails { get; private set; } = [];

    public sealed record EmailView(Guid Id, DateTimeOffset SentAt, string From, string? ToName, string ToAddress,
        string Subject, string Body, EmailDelivery Delivery)
    {
        public string To => string.IsNullOrWhiteSpace(ToName) ? ToAddress : $"{ToName} <{ToAddress}>";
        public bool IsLong => Body.Length > CollapseAfterCharacters || Body.Count(c => c == '\n') >= CollapseAfterLines;
        public int Lines => Body.Count(c => c == '\n') + 1;

        /// <summary>The first line with text, shortened: the label of a collapsed body.</summary>
        public string Excerpt
        {
            get
            {
                var first = Body.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.Length > 0) ?? "";
                return first.Length <= ExcerptLength ? first : first[..ExcerptLength].TrimEnd() + "…";
            }
        }
    }

    public async Task OnGetAsync([FromQuery(Name = "page")] string? requestedPage, CancellationToken cancellationToken)
    {
        var me = await db.Users.AsNoTracking().SingleAsync(u => u.Id == db.Tenant.UserId, cancellationToken);
        Zone = me.Zone;
        ZoneName = Zone.Id;
        EmailSharing = (await db.OrgSettings.AsNoTracking().SingleAsync(cancellationToken)).EnableEmailSharing;

        var visible = db.OutboundEmails.AsNoTracking();
        Total = await visible.CountAsync(cancellationToken);
        PageCount = Math.Max(1, (Total + PageSize - 1) / PageSize);
        PageNumber = ParsePage(requestedPage, PageCount);

        var rows = await (from email in visible
                          join user in db.Users.AsNoTracking() on email.UserId equals user.Id into authors
                          from author in authors.DefaultIfEmpty()
                          orderby email.SentAt ?? email.CreatedAt descending, email.Id descending
                          select new { Email = email, From = author == null ? null : author.Name })
            .Skip((PageNumber - 1) * PageSize).Take(PageSize).ToListAsync(cancellationToken);
        Emails = [.. rows.Select(r => new EmailView(r.Email.Id, r.Email.SentAt ?? r.Email.CreatedAt, r.From ?? "a former member",
            r.Email.ToName, r.Email.ToAddress, r.Email.Subject, r.Email.Body.Replace("\r\n", "\n"),
            r.Email.Delivery))];
    }

    /// <summary>A page number as typed in ?page=: a whole number of a page that exists, else 1 (never an error).</summary>
    public static int ParsePage(string? value, int pageCount) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var page) && page >= 1 && page <= pageCount ? page : 1;

    /// <summary>"51 emails · page 1 of 2".</summary>
    public string CountLine => string.Create(CultureInfo.InvariantCulture,
        $"{Total:N0} {(Total == 1 ? "email" : "emails")}{(PageCount > 1 ? $" · page {PageNumber} of {PageCount}" : "")}");

    public string PageLink(int page) => page <= 1 ? PagePath : $"{PagePath}?page={page.ToString(CultureInfo.InvariantCulture)}";

    public string LocalTime(DateTimeOffset instant) =>
        TimeZoneInfo.ConvertTime(instant, Zone).ToString("ddd d MMM yyyy, HH:mm", CultureInfo.InvariantCulture);
}
