using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Use60.Calendar;
using Use60.Crm;
using Use60.Data;
using Use60.Orgs;

namespace Use60.Admin.Pages;

/// <summary>The org at a glance, read through the tenant-scoped DbContext: row-level security decides what counts.</summary>
[ViewersCanSee]
public sealed class OverviewModel(Use60Db db, TimeProvider clock) : PageModel
{
    public Org Org { get; private set; } = null!;
    public OrgSettings Settings { get; private set; } = null!;
    public IReadOnlyList<AppUser> Team { get; private set; } = [];
    public int AllDeals { get; private set; }
    public int OpenDeals { get; private set; }
    public int StalledDeals { get; private set; }
    public decimal Pipeline { get; private set; }
    public int Meetings { get; private set; }
    public int UpcomingMeetings { get; private set; }
    public int OpenTasks { get; private set; }
    public int OverdueTasks { get; private set; }

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        Org = await db.Orgs.AsNoTracking().SingleAsync(cancellationToken);
        Settings = await db.OrgSettings.AsNoTracking().SingleAsync(cancellationToken);
        Team = await db.Users.AsNoTracking().OrderBy(u => u.Name).ToListAsync(cancellationToken);
        var me = Team.Single(u => u.Id == db.Tenant.UserId);

        var closed = new[] { DealStage.ClosedWon, DealStage.ClosedLost };
        var open = db.Deals.Where(d => !closed.Contains(d.Stage));
        AllDeals = await db.Deals.CountAsync(cancellationToken);
        OpenDeals = await open.CountAsync(cancellationToken);
        Pipeline = await open.SumAsync(d => d.Amount, cancellationToken);
        var stalledBefore = now.AddDays(-Settings.StallThresholdDays);
        StalledDeals = await open.CountAsync(d => d.LastActivityAt == null || d.LastActivityAt < stalledBefore, cancellationToken);

        Meetings = await db.Meetings.CountAsync(cancellationToken);
        UpcomingMeetings = await db.CalendarEvents.CountAsync(e => e.StartTime >= now && e.StartTime < now.AddDays(7)
            && e.AttendeesCount >= CalendarEvent.MinimumAttendeesForMeeting && e.Status != CalendarEventStatus.Cancelled, cancellationToken);

        var today = TimeZones.LocalDate(now, me.Zone);
        var openTasks = db.Tasks.Where(t => t.Status == CrmTaskStatus.Open);
        OpenTasks = await openTasks.CountAsync(cancellationToken);
        OverdueTasks = await openTasks.CountAsync(t => t.DueDate < today, cancellationToken);
    }

    public string LocalTime(AppUser user) => TimeZoneInfo.ConvertTime(clock.GetUtcNow(), user.Zone).ToString("ddd HH:mm");
}
