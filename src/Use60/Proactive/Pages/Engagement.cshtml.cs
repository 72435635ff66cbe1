using System.Globalization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Use60.Data;

namespace Use60.Proactive.Pages;

/// <summary>Engagement (/admin/engagement): per rep and workflow, what use60 sent and how the rep responded, over the last N days.</summary>
public sealed class EngagementModel(Use60Db db, EngagementReport report, TimeProvider clock) : PageModel
{
    public const string PagePath = "/admin/engagement";
    public static readonly int[] Periods = [7, 30, 90];
    const int DefaultDays = 30;

    public int Days { get; private set; } = DefaultDays;

    public sealed record RepLine(string Name, string Workflow, EngagementReport.Row Figures, bool Throttled);

    public IReadOnlyList<RepLine> Lines { get; private set; } = [];

    public async Task OnGetAsync([FromQuery(Name = "days")] int? days, CancellationToken cancellationToken)
    {
        // Anything but a listed period shows the default rather than an error.
        Days = days is { } requested && Periods.Contains(requested) ? requested : DefaultDays;
        var rows = await report.SinceAsync(clock.GetUtcNow().AddDays(-Days), cancellationToken);
        var throttled = (await report.ThrottlesAsync(cancellationToken)).Select(t => (t.UserId, t.Workflow)).ToHashSet();
        var names = await db.Users.AsNoTracking().ToDictionaryAsync(u => u.Id, u => u.Name, cancellationToken);
        Lines = [.. rows.Select(r => new RepLine(names.GetValueOrDefault(r.UserId, "(former member)"), r.Workflow, r, throttled.Contains((r.UserId, r.Workflow))))
            .OrderBy(l => l.Name, StringComparer.InvariantCultureIgnoreCase).ThenBy(l => l.Workflow, StringComparer.Ordinal)];
    }

    /// <summary>"daily_digest" → "Daily digest".</summary>
    public static string WorkflowName(string workflow) => workflow switch
    {
        "daily_digest" => "Daily digest",
        "meeting_brief" => "Meeting briefs",
        "task_reminder" => "Task reminders",
        "deal_stall" => "Deal-stall alerts",
        "win_loss" => "Win/loss posts",
        _ => workflow,
    };

    public static string When(DateTimeOffset at) => at.ToString("d MMM yyyy HH:mm 'UTC'", CultureInfo.InvariantCulture);
}
