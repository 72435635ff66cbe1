using System.Globalization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.Extensions.Options;
using Quartz;
using Use60.Admin;
using Use60.Data;
using Use60.Security;

namespace Use60.Proactive.Pages;

/// <summary>Jobs (/admin/jobs): each scheduled job with its schedule, next and last run, last outcome and error, and Run now (audited).</summary>
public sealed class JobsModel(Use60Db db, SystemDb system, ScheduledJobs jobs, ISchedulerFactory schedulers, SecurityAudit audit,
    IOptions<JobsOptions> options, TimeProvider clock, ILogger<JobsModel> logger) : PageModel
{
    public const string PagePath = "/admin/jobs";

    public sealed record Line(ScheduledJob Job, ScheduledJobs.Trigger? Trigger, ScheduledJobs.Run? Run);

    public IReadOnlyList<Line> Lines { get; private set; } = [];

    /// <summary>Whether this process runs its share of the jobs (JOBS_ENABLED).</summary>
    public bool RunsJobsHere => options.Value.Enabled;

    /// <summary>What the last Run now did, shown once after the redirect.</summary>
    [TempData]
    public string? Notice { get; set; }

    public DateTimeOffset Now { get; private set; }

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        Now = clock.GetUtcNow();
        var triggers = await ScheduledJobs.TriggersAsync(system, cancellationToken);
        var runs = await ScheduledJobs.RunsAsync(db, cancellationToken);
        Lines = [.. jobs.All.Select(j => new Line(j, triggers.GetValueOrDefault(j.Name), runs.GetValueOrDefault(j.Name)))];
    }

    public async Task<IActionResult> OnPostRunAsync([FromForm] string? job, CancellationToken cancellationToken)
    {
        if (jobs.Find(job) is not { } known)
        {
            Notice = "There is no such job.";
            return RedirectToPage();
        }
        var (orgId, userId) = AdminClaims.Signed(User);
        try
        {
            // Through the clustered scheduler: whichever replica runs jobs fires it, once, like any firing.
            var scheduler = await schedulers.GetScheduler(cancellationToken);
            await scheduler.TriggerJob(new JobKey(known.Name), cancellationToken);
            Notice = RunsJobsHere
                ? $"{known.Name} will run in a moment; reload to see how it went."
                : $"{known.Name} is queued; a replica with JOBS_ENABLED=true will run it.";
        }
        catch (SchedulerException e)
        {
            logger.LogWarning(e, "Run now of job {Job} could not be queued", known.Name);
            Notice = $"{known.Name} could not be queued: the scheduler is not available ({e.GetType().Name}).";
        }
        audit.Record(db, AuditEvents.JobRunRequested, AuditSeverity.Low, orgId, userId, new { job = known.Name }, HttpContext);
        await db.SaveChangesAsync(cancellationToken);
        return RedirectToPage();
    }

    public static string When(DateTimeOffset? at) => at is null ? "—" : at.Value.ToString("d MMM HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);

    public static string Duration(int? ms) => ms switch
    {
        null => "—",
        < 1000 => $"{ms} ms",
        _ => (ms.Value / 1000.0).ToString("0.0", CultureInfo.InvariantCulture) + " s",
    };
}
