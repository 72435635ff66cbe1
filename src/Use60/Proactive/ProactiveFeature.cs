using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Quartz;
using Use60.Admin;
using Use60.Copilot;
using Use60.Data;
using Use60.Hosting;
using Use60.Recordings;
using Use60.Slack;

namespace Use60.Proactive;

/// <summary>Whether this replica runs the scheduled jobs. Those that do share one schedule in PostgreSQL (Quartz, clustered).</summary>
[ConfigSection("Jobs")]
public sealed class JobsOptions : IValidatedOptions
{
    [EnvironmentVariable("JOBS_ENABLED",
        "Run the scheduled jobs (digests, briefs, reminders, syncs) in this process: true (default), or false for a web-only replica. " +
        "Replicas that run them share one schedule in PostgreSQL and each firing runs once.")]
    public bool Enabled { get; set; } = true;

    public IEnumerable<string> Validate() => [];
}

public static class ProactiveFeature
{
    public const string SchedulerName = "use60";

    public static IServiceCollection AddProactive(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddValidatedOptions<JobsOptions>(configuration);
        services.AddScoped<ProactiveDeliveries>();
        services.AddScoped<IPendingActionDecisions, Engagement.PreviewDecisions>();
        services.AddScoped<EngagementReport>();
        services.AddSingleton(new AdminNavItem("Engagement", Pages.EngagementModel.PagePath, 70));
        services.AddScoped<PipelineDigest>();
        services.AddScoped<DealStalls>();
        services.AddScoped<TaskReminders>();
        services.AddScoped<MeetingBriefs>();
        services.AddScoped<WinLoss>();
        services.AddSingleton<ITranscriptLanded, FollowUpPacks>();
        var jobs = new List<ScheduledJob>();
        services.AddSingleton(new ScheduledJobs(jobs));
        services.AddSingleton(new AdminNavItem("Jobs", Pages.JobsModel.PagePath, 75));
        services.AddQuartz(quartz =>
        {
            // One scheduler name for every replica; each replica a distinct, generated instance of it.
            quartz.ConfigureScheduler(scheduler =>
            {
                scheduler.InstanceName = SchedulerName;
                scheduler.GenerateInstanceId = true;
            });
            quartz.UsePersistentStore(store =>
            {
                // The tables come from the app's migrations; Quartz checks them at start and refuses a mismatch.
                store.ConfigureStore(options =>
                {
                    options.SchemaProvisioning = SchemaProvisioning.Validate;
                    options.StoreJobDataAsStrings = true;
                });
                store.UseClustering(cluster =>
                {
                    cluster.CheckinInterval = TimeSpan.FromSeconds(15);
                    cluster.CheckinMisfireThreshold = TimeSpan.FromSeconds(30);
                });
                store.UsePostgres(source => source.DataSourceFactory = provider => provider.GetRequiredService<Use60DataSources>().Jobs);
                store.UseSystemTextJsonSerializer();
            });
            // Each job decides for itself who is due and claims each message once, so a missed firing is simply caught up by the next.
            Every<PipelineDigestJob>(quartz, jobs, "pipeline-digest", "0 * * ? * *",      // each rep's own 9:00 comes at some minute
                "Daily pipeline summary, at each rep's digest time in their own zone");
            Every<MeetingBriefJob>(quartz, jobs, "meeting-briefs", "0 * * ? * *", "Meeting briefs, 2 hours before each real meeting");
            Every<TaskReminderJob>(quartz, jobs, "task-reminders", "0 0/5 * ? * *", "Overdue-task reminders, each working morning");
            Every<WinLossJob>(quartz, jobs, "win-loss", "0 0/5 * ? * *", "Win/loss posts to the org's channel");
            Every<DealStallJob>(quartz, jobs, "deal-stalls", "0 0/15 * ? * *", "Deal-stall alerts after the org's quiet-days threshold");
            Every<Calendar.CalendarSyncJob>(quartz, jobs, "calendar-sync", "0 0/10 * ? * *", "Google Calendar incremental sync of every connected rep");
            Every<Recordings.NotetakerAutoJoinJob>(quartz, jobs, "notetaker-autojoin", "0 0/2 * ? * *",
                "Notetaker auto-join: one bot for each meeting with a link starting in the next 10 minutes, where the rep or org has auto-join on");
            Every<Recordings.RecordingUploadJob>(quartz, jobs, Recordings.RecordingUploadJob.Name, "0 0/5 * ? * *",
                "Copies finished recordings from MeetingBaaS into the store (also at once when one is ready)");
            Every<Recordings.FathomPullJob>(quartz, jobs, Recordings.FathomPullJob.Name, "0 0/15 * ? * *",
                "Fathom: recordings created since the last pull (webhooks bring them at once), each onto its recorder's meetings");
            Every<Recordings.TranscriptionRetryJob>(quartz, jobs, "transcription-retries", "0 0/5 * ? * *",
                "Gladia transcriptions to ask for again, and Gladia jobs whose callback has not come");
            Every<Recordings.InboxCleanupJob>(quartz, jobs, "inbox-cleanup", "0 30 3 * * ?",
                "Deletes webhook deliveries and Slack callbacks older than 14 days (03:30 UTC)");
            Every<Recordings.StorageMetricsJob>(quartz, jobs, "storage-metrics", "0 0 0 * * ?", "Each org's storage and its cost for the day that ended (00:00 UTC)");
            Every<Privacy.PrivacyRetentionJob>(quartz, jobs, "privacy-retention", "0 0 2 * * ?",
                "Retention (02:00 UTC): deletes contacts past their date where auto-delete is on; archives and deletes old copilot conversations");
            Every<Privacy.PrivacyRequestsJob>(quartz, jobs, "privacy-requests", "0 15 * ? * *",
                "Erasure requests: each approved one is executed once its 30-day grace period has passed (hourly)");
            Every<Privacy.PrivacyExportJob>(quartz, jobs, Privacy.PrivacyExportJob.Name, "0 * * ? * *",
                "Exports (access, portability, org, conversations): writes each queued one's ZIP into the store (also at once when asked for); deletes those past 24 hours");
            Every<Security.SecurityMonitorJob>(quartz, jobs, "security-monitor", "0 0/10 * ? * *", "Security monitor: bursts in the audit log become incidents; owners hear of critical ones");
            // Each run's start, end and error, for the admin site's Jobs page.
            quartz.AddJobListener<JobRunRecorder>([]);   // no matcher: every job
        });
        services.AddSlackListeners(DealButtons.Register);
        services.AddSlackListeners(TaskReminderButtons.Register);
        services.AddSlackListeners(MeetingBriefButtons.Register);
        services.AddSlackListeners(HomeTab.Register);
        services.AddSingleton<JobTrigger>();
        return services.AddHostedService<JobsHost>();
    }

    static void Every<TJob>(IQuartzBuilder quartz, List<ScheduledJob> jobs, string name, string cron, string description) where TJob : IJob
    {
        jobs.Add(new ScheduledJob(name, cron, description));
        quartz.ScheduleJob<TJob>(trigger => trigger.WithIdentity(name)
                .WithCronSchedule(cron, schedule => schedule.WithMisfireInstruction(CronTriggerMisfireInstruction.DoNothing)),
            job => job.WithIdentity(name));
    }
}

/// <summary>
/// Starts this replica's share of the clustered scheduler, unless JOBS_ENABLED says this replica serves the web only. While
/// the database is unreachable or not yet migrated the web side serves on (readiness says what is wrong) and the scheduler
/// waits for it, then joins the cluster: Quartz checks its tables once, at start, and a scheduler that failed cannot be restarted.
/// </summary>
sealed class JobsHost(ISchedulerFactory factory, ScheduledJobs jobs, Use60DataSources dataSources, IOptions<JobsOptions> options, TimeProvider clock,
    ILogger<JobsHost> logger) : BackgroundService
{
    public static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(5);

    /// <summary>How long cancelled jobs get to stop after the shutdown timeout before the process goes on without them.</summary>
    static readonly TimeSpan InterruptGrace = TimeSpan.FromSeconds(5);

    IScheduler? scheduler;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.Enabled)
        {
            logger.LogInformation("Scheduled jobs are off in this process (JOBS_ENABLED=false)");
            return;
        }
        var readiness = new DatabaseReadinessCheck(dataSources);
        try
        {
            string? waitingFor = null;
            while ((await readiness.CheckHealthAsync(new HealthCheckContext(), stoppingToken)) is { Status: not HealthStatus.Healthy } health)
            {
                if (waitingFor != health.Description)
                    logger.LogWarning("Scheduled jobs wait for the database ({State}); checking again every {Seconds} s", waitingFor = health.Description,
                        (int)RetryAfter.TotalSeconds);
                await Task.Delay(RetryAfter, clock, stoppingToken);
            }
            scheduler = await factory.GetScheduler(stoppingToken);
            // Not cancelled half-way: a shutdown that arrives while Quartz writes its schedule waits for StopAsync, which shuts it down
            // cleanly, instead of leaving rolled-back transactions and errors in the log.
            await scheduler.Start(CancellationToken.None);
            logger.LogInformation("Scheduled jobs started as instance {Instance} of the clustered scheduler", scheduler.SchedulerInstanceId);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // A schema Quartz does not accept (say, after a Quartz upgrade without its migration): loud, and the web side still serves.
            logger.LogCritical(e, "Scheduled jobs could not start in this process; no digests, briefs or reminders run here until it is restarted");
        }
    }

    readonly Lock stopLock = new();
    Task? stopping;

    /// <summary>
    /// One shutdown, however often it is asked for: the host may call this twice (the test host does), and a second call must
    /// wait for the first rather than return while jobs still run, or the container disposes the connections they are using.
    /// </summary>
    public override Task StopAsync(CancellationToken cancellationToken)
    {
        lock (stopLock) return stopping ??= StopOnceAsync(cancellationToken);
    }

    async Task StopOnceAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        // base returns at the host's shutdown timeout even while ExecuteAsync is still starting the scheduler (its start is not
        // cancellable): wait for it, so that a scheduler started late is shut down too, not left running on disposed connections.
        if (ExecuteTask is { } starting) await starting;
        if (scheduler is null) return;
        // Work already started (a digest half-sent) finishes, and Quartz's own threads stop, before the container disposes the
        // database connections they use; the host's shutdown timeout bounds the wait.
        var shutdown = scheduler.Shutdown(waitForJobsToComplete: true, CancellationToken.None).AsTask();
        try
        {
            await shutdown.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // Jobs still running past the timeout are told to stop (their cancellation token), or Quartz's shutdown would wait for them
            // for ever, its own threads still polling a database the container is about to dispose, and the process would not exit.
            logger.LogWarning("Scheduled jobs were still running when the shutdown timeout ended; they are cancelled and stop with the process");
            try
            {
                foreach (var job in jobs.All) await scheduler.Interrupt(new JobKey(job.Name), CancellationToken.None);
            }
            catch (SchedulerException e)
            {
                logger.LogWarning("Running jobs could not be cancelled: {Reason}", e.Message);
            }
            await Task.WhenAny(shutdown, Task.Delay(InterruptGrace, clock, CancellationToken.None));
        }
    }
}
