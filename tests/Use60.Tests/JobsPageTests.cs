using System.Net;
using Microsoft.EntityFrameworkCore;
using Use60.Data;
using Use60.Orgs;
using Use60.Proactive;
using Use60.Proactive.Pages;
using Use60.Security;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>The Jobs page on an app that runs the clustered scheduler: the schedule, Run now (audited), and each run's outcome and error.</summary>
[Collection(SchedulerCollection.Name)]
public sealed class JobsPageTests
{
    [Fact]
    public async Task Jobs_lists_every_scheduled_job_runs_one_now_and_shows_a_failure_with_its_error()
    {
        await using var database = await TestDatabase.CreateAsync();
        await using var app = new Use60App(database, new Dictionary<string, string?> { ["Jobs:Enabled"] = "true" });
        var org = await TestData.CreateOrgAsync(app.Services, "Operators", UserRole.Owner, UserRole.Member);
        var jobs = app.Service<ScheduledJobs>().All;
        Assert.Equal(["pipeline-digest", "meeting-briefs", "task-reminders", "win-loss", "deal-stalls", "calendar-sync", "notetaker-autojoin", "recording-uploads", "fathom-pull", "transcription-retries", "inbox-cleanup", "storage-metrics", "privacy-retention", "privacy-requests", "privacy-exports", "security-monitor"], jobs.Select(j => j.Name));
        await using var db = app.Service<SystemDb>().Open("test");
        await FakeSlack.WaitUntilAsync(() => db.Database.SqlQuery<int>($"SELECT count(*)::int AS \"Value\" FROM qrtz_triggers").ToList().Single() == jobs.Count,
            "the schedule in the cluster", seconds: 30);

        var owner = await AdminPages.SignedInAsync(app, org[0]);
        var page = await AdminPages.HtmlAsync(await owner.GetAsync(JobsModel.PagePath));
        var rows = page.QuerySelectorAll("table.jobs tbody tr");
        Assert.Equal(jobs.Select(j => j.Name), rows.Select(r => r.GetAttribute("data-job")));
        var calendar = rows.Single(r => r.GetAttribute("data-job") == "calendar-sync");
        Assert.Equal("0 0/10 * ? * *", calendar.QuerySelector("[data-field=cron]")!.TextContent.Trim());
        Assert.EndsWith("UTC", calendar.QuerySelector("[data-field=next]")!.TextContent.Trim());

        // Run now: queued through the scheduler, run once, recorded, and audited.
        var ran = await owner.PostAsync(JobsModel.PagePath + "?handler=Run", AdminPages.FormOf(page, "tr[data-job=calendar-sync] form"));
        Assert.Equal(HttpStatusCode.Redirect, ran.StatusCode);
        await FakeSlack.WaitUntilAsync(() => Outcome(db, "calendar-sync") == "succeeded", "the calendar sync to run", seconds: 30);
        Assert.Contains("will run in a moment",
            (await AdminPages.HtmlAsync(await owner.GetAsync(JobsModel.PagePath))).QuerySelector("[data-field=notice]")!.TextContent);
        var audited = Assert.Single(await db.SecurityAuditLog.AsNoTracking().Where(a => a.EventType == AuditEvents.JobRunRequested && a.UserId == org[0].Id).ToListAsync());
        Assert.Contains("calendar-sync", audited.Details);

        // A run that fails (its table has gone) shows as failed, with the error.
        await TestDatabase.ExecuteAsync(database.SuperuserConnectionString, "ALTER TABLE calendar_connections RENAME TO calendar_connections_away");
        try
        {
            page = await AdminPages.HtmlAsync(await owner.GetAsync(JobsModel.PagePath));
            await owner.PostAsync(JobsModel.PagePath + "?handler=Run", AdminPages.FormOf(page, "tr[data-job=calendar-sync] form"));
            await FakeSlack.WaitUntilAsync(() => Outcome(db, "calendar-sync") == "failed", "the failing run to be recorded", seconds: 30);
        }
        finally
        {
            await TestDatabase.ExecuteAsync(database.SuperuserConnectionString, "ALTER TABLE calendar_connections_away RENAME TO calendar_connections");
        }
        var failed = (await AdminPages.HtmlAsync(await owner.GetAsync(JobsModel.PagePath))).QuerySelector("tr[data-job=calendar-sync]")!;
        Assert.Contains("calendar_connections", failed.QuerySelector("[data-field=error]")!.TextContent);
        Assert.Equal("2 / 1", failed.QuerySelector("[data-field=counts]")!.TextContent.Trim());

        // Members do not see the page.
        using var member = app.Browser();
        await AdminPages.SignInAsync(member, await AdminPages.LinkPathAsync(app, org[1]));
        Assert.Equal("/admin/forbidden", (await member.GetAsync(JobsModel.PagePath)).Headers.Location?.AbsolutePath);
    }

    static string? Outcome(Use60Db db, string job) =>
        db.Database.SqlQuery<string>($"SELECT last_outcome AS \"Value\" FROM job_runs WHERE job_name = {job}").ToList().SingleOrDefault();
}
