using Microsoft.EntityFrameworkCore;
using Quartz;
using Use60.Data;

namespace Use60.Proactive;

/// <summary>
/// Starts a scheduled job now rather than at its next firing, through the clustered scheduler (any replica may run it). Its schedule
/// still runs it if this fails, so a failure is only logged.
/// </summary>
public sealed class JobTrigger(ISchedulerFactory schedulers, ILogger<JobTrigger> logger)
{
    public void Now(string jobName, string forWhat) => _ = NowAsync(jobName, forWhat);

    async Task NowAsync(string jobName, string forWhat)
    {
        try
        {
            await (await schedulers.GetScheduler()).TriggerJob(new JobKey(jobName));
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Could not start the {Job} job at once for {What}; its next scheduled run will do it", jobName, forWhat);
        }
    }
}

/// <summary>A job on the clustered schedule: its Quartz name, cron expression (UTC) and what it does, in words for the admin site.</summary>
public sealed record ScheduledJob(string Name, string Cron, string Description);

/// <summary>Every scheduled job, as registered; the Jobs page lists them with their runs.</summary>
public sealed class ScheduledJobs(IReadOnlyList<ScheduledJob> jobs)
{
    public IReadOnlyList<ScheduledJob> All { get; } = jobs;

    public ScheduledJob? Find(string? name) => All.FirstOrDefault(j => j.Name == name);

    public sealed record Run(string JobName, DateTimeOffset? LastStartedAt, DateTimeOffset? LastFinishedAt, string? LastOutcome, string? LastError,
        int? LastDurationMs, string? LastInstance, long Runs, long Failures);

    public sealed record Trigger(string TriggerName, long? NextFireTime, long? PrevFireTime, string TriggerState)
    {
        /// <summary>Quartz's ADO.NET store keeps fire times as UTC ticks.</summary>
        public DateTimeOffset? Next => FromTicks(NextFireTime);
        public DateTimeOffset? Previous => FromTicks(PrevFireTime);

        static DateTimeOffset? FromTicks(long? ticks) => ticks is > 0 ? new DateTimeOffset(ticks.Value, TimeSpan.Zero) : null;
    }

    /// <summary>The recorded runs, read in the caller's scope (owners and admins may read them).</summary>
    public static async Task<IReadOnlyDictionary<string, Run>> RunsAsync(Use60Db db, CancellationToken cancellationToken) =>
        (await db.Database.SqlQuery<Run>($"""
            SELECT job_name AS "JobName", last_started_at AS "LastStartedAt", last_finished_at AS "LastFinishedAt", last_outcome AS "LastOutcome",
                   last_error AS "LastError", last_duration_ms AS "LastDurationMs", last_instance AS "LastInstance", runs AS "Runs", failures AS "Failures"
            FROM job_runs
            """).ToListAsync(cancellationToken)).ToDictionary(r => r.JobName);

    /// <summary>The schedule as the cluster holds it (next and previous firing), through the system path: Quartz's tables have no tenant.</summary>
    public static async Task<IReadOnlyDictionary<string, Trigger>> TriggersAsync(SystemDb system, CancellationToken cancellationToken)
    {
        await using var db = system.Open("read the job schedule for the admin site");
        return (await db.Database.SqlQuery<Trigger>($"""
            SELECT trigger_name AS "TriggerName", next_fire_time AS "NextFireTime", prev_fire_time AS "PrevFireTime", trigger_state AS "TriggerState"
            FROM qrtz_triggers WHERE sched_name = {ProactiveFeature.SchedulerName} AND trigger_group = 'DEFAULT'
            """).ToListAsync(cancellationToken)).ToDictionary(t => t.TriggerName);
    }
}

/// <summary>
/// Writes each job run's start and end to job_runs: when, on which replica, how long, and the error when it failed. A run that
/// never finishes (the replica died) stays "running" with its start time, which the page shows as such.
/// </summary>
sealed class JobRunRecorder(SystemDb system, TimeProvider clock, ILogger<JobRunRecorder> logger) : IJobListener
{
    const int MaxError = 1000;

    public string Name => "use60-job-runs";

    public async ValueTask JobToBeExecuted(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        var name = context.JobDetail.Key.Name;
        var now = clock.GetUtcNow();
        var instance = context.Scheduler.SchedulerInstanceId;
        await WriteAsync($"""
            INSERT INTO job_runs (job_name, last_started_at, last_outcome, last_instance, runs) VALUES ({name}, {now}, 'running', {instance}, 1)
            ON CONFLICT (job_name) DO UPDATE SET last_started_at = excluded.last_started_at, last_finished_at = NULL, last_outcome = 'running',
                last_error = NULL, last_duration_ms = NULL, last_instance = excluded.last_instance, runs = job_runs.runs + 1
            """, name, cancellationToken);
    }

    public ValueTask JobExecutionVetoed(IJobExecutionContext context, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    public async ValueTask JobWasExecuted(IJobExecutionContext context, JobExecutionException? jobException, CancellationToken cancellationToken = default)
    {
        var name = context.JobDetail.Key.Name;
        var now = clock.GetUtcNow();
        var failed = jobException is not null;
        // Quartz wraps what the job threw (more than once); the innermost exception is the one that says what went wrong.
        var cause = jobException?.GetBaseException();
        var error = cause is null ? null : Bounded(cause.GetType().Name + ": " + cause.Message);
        var duration = (int)Math.Min(int.MaxValue, context.JobRunTime.TotalMilliseconds);
        var outcome = failed ? "failed" : "succeeded";
        await WriteAsync($"""
            UPDATE job_runs SET last_finished_at = {now}, last_outcome = {outcome}, last_error = {error}, last_duration_ms = {duration},
                failures = failures + {(failed ? 1 : 0)}
            WHERE job_name = {name}
            """, name, cancellationToken);
        if (failed) logger.LogError(jobException, "Scheduled job {Job} failed", name);
    }

    /// <summary>Recording is bookkeeping: a failure to record never fails the job itself.</summary>
    async Task WriteAsync(FormattableString sql, string job, CancellationToken cancellationToken)
    {
        try
        {
            await using var db = system.Open("record a job run");
            await db.Database.ExecuteSqlAsync(sql, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "Could not record a run of job {Job}", job);
        }
    }

    static string Bounded(string text) => text.Length <= MaxError ? text : text[..MaxError];
}
