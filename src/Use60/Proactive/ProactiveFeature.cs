using Microsoft.Extensions.Options;
using Quartz;
using Use60.Data;
using Use60.Hosting;
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
        services.AddScoped<PipelineDigest>();
        services.AddScoped<DealStalls>();
        services.AddScoped<TaskReminders>();
        services.AddScoped<MeetingBriefs>();
        services.AddScoped<WinLoss>();
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
            // Every minute; the job itself decides whose digest is due (9:00 in each rep's zone) and claims each once,
            // so a missed firing is simply caught up by the next one.
            quartz.ScheduleJob<PipelineDigestJob>(trigger => trigger
                .WithIdentity("pipeline-digest")
                .WithCronSchedule("0 * * ? * *", cron => cron.WithMisfireInstruction(CronTriggerMisfireInstruction.DoNothing)),
                job => job.WithIdentity("pipeline-digest"));
            quartz.ScheduleJob<DealStallJob>(trigger => trigger
                .WithIdentity("deal-stalls")
                .WithCronSchedule("0 0/15 * ? * *", cron => cron.WithMisfireInstruction(CronTriggerMisfireInstruction.DoNothing)),
                job => job.WithIdentity("deal-stalls"));
            quartz.ScheduleJob<TaskReminderJob>(trigger => trigger
                .WithIdentity("task-reminders")
                .WithCronSchedule("0 0/5 * ? * *", cron => cron.WithMisfireInstruction(CronTriggerMisfireInstruction.DoNothing)),
                job => job.WithIdentity("task-reminders"));
            quartz.ScheduleJob<MeetingBriefJob>(trigger => trigger
                .WithIdentity("meeting-briefs")
                .WithCronSchedule("0 * * ? * *", cron => cron.WithMisfireInstruction(CronTriggerMisfireInstruction.DoNothing)),
                job => job.WithIdentity("meeting-briefs"));
            quartz.ScheduleJob<WinLossJob>(trigger => trigger
                .WithIdentity("win-loss")
                .WithCronSchedule("0 0/5 * ? * *", cron => cron.WithMisfireInstruction(CronTriggerMisfireInstruction.DoNothing)),
                job => job.WithIdentity("win-loss"));
        });
        services.AddSlackListeners(DealButtons.Register);
        services.AddSlackListeners(TaskReminderButtons.Register);
        services.AddSlackListeners(MeetingBriefButtons.Register);
        services.AddSlackListeners(HomeTab.Register);
        return services.AddHostedService<JobsHost>();
    }
}

/// <summary>Starts this replica's share of the clustered scheduler, unless JOBS_ENABLED says this replica serves the web only.</summary>
sealed class JobsHost(ISchedulerFactory factory, IOptions<JobsOptions> options, ILogger<JobsHost> logger) : IHostedService
{
    IScheduler? scheduler;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!options.Value.Enabled)
        {
            logger.LogInformation("Scheduled jobs are off in this process (JOBS_ENABLED=false)");
            return;
        }
        scheduler = await factory.GetScheduler(cancellationToken);
        await scheduler.Start(cancellationToken);
        logger.LogInformation("Scheduled jobs started as instance {Instance} of the clustered scheduler", scheduler.SchedulerInstanceId);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // Work already started (a digest half-sent) finishes; its claims keep the next firing from repeating it.
        if (scheduler is not null) await scheduler.Shutdown(waitForJobsToComplete: true, cancellationToken);
    }
}
