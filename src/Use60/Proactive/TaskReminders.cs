using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Quartz;
using Use60.Crm;
using Use60.Data;
using Use60.Slack;

namespace Use60.Proactive;

/// <summary>
/// Overdue-task reminders: each working morning, from the rep's digest time, one message with their overdue tasks, each with
/// Mark done, Snooze 1 day and Reschedule (a date picker). A click updates the task and the message.
/// </summary>
public sealed class TaskReminders(SystemDb system, IServiceScopeFactory scopes, TimeProvider clock, ILogger<TaskReminders> logger)
{
    public const string DoneAction = "task_done", SnoozeAction = "task_snooze", RescheduleAction = "task_reschedule";

    /// <summary>Tasks listed with buttons; more are counted, not listed (Slack's 50 blocks, and a rep's patience).</summary>
    public const int MaxListed = 10;

    public sealed record DueRep(Guid OrgId, Guid UserId, DateOnly LocalDate);

    public async Task<int> RunAsync(CancellationToken cancellationToken) =>
        await ProactiveRuns.SendEachAsync(await DueAsync(cancellationToken), SendAsync, "task reminder", rep => $"user {rep.UserId}", logger, cancellationToken);

    /// <summary>Reps past their digest time (within the morning) on a working day, who want reminders, have overdue tasks and had none today.</summary>
    public async Task<IReadOnlyList<DueRep>> DueAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var late = PipelineDigest.LateWindow;
        await using var db = system.Open("find whose overdue-task reminder is due");
        return await db.Database.SqlQuery<DueRep>($"""
            SELECT u.org_id AS "OrgId", u.id AS "UserId", local.today AS "LocalDate"
            FROM users u
            JOIN orgs o ON o.id = u.org_id
            JOIN org_settings os ON os.org_id = u.org_id
            LEFT JOIN user_preferences p ON p.org_id = u.org_id AND p.user_id = u.id
            CROSS JOIN LATERAL (SELECT ({now} AT TIME ZONE u.time_zone) AS now, ({now} AT TIME ZONE u.time_zone)::date AS today) local
            WHERE u.slack_user_id IS NOT NULL AND o.slack_disabled_at IS NULL
              AND u.time_zone IN (SELECT name FROM pg_timezone_names)
              AND coalesce(p.task_reminders, true)
              AND (p.snoozed_until IS NULL OR p.snoozed_until <= {now})
              AND NOT (lower(trim(to_char(local.now, 'Day'))) = ANY (coalesce(p.quiet_days, ARRAY['saturday', 'sunday'])))
              AND (local.now::time - coalesce(p.digest_time, os.default_digest_time)) >= interval '0'
              AND (local.now::time - coalesce(p.digest_time, os.default_digest_time)) < {late}
              AND EXISTS (SELECT 1 FROM tasks t WHERE t.user_id = u.id AND t.status = 'open' AND t.due_date < local.today)
              AND NOT EXISTS (SELECT 1 FROM proactive_deliveries d
                              WHERE d.user_id = u.id AND d.workflow = 'task_reminder' AND d.entity_key = local.today::text)
            ORDER BY u.id
            """).ToListAsync(cancellationToken);
    }

    public async Task<bool> SendAsync(DueRep due, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateTenantScope(due.OrgId, due.UserId);
        var services = scope.ServiceProvider;
        var db = services.GetRequiredService<Use60Db>();
        var tasks = await services.GetRequiredService<CrmQueries>().OverdueTasksAsync(due.UserId, due.LocalDate, cancellationToken);
        if (tasks.Count == 0) return false;
        var message = Message(tasks, due.LocalDate);
        var key = due.LocalDate.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

        return await services.GetRequiredService<ProactiveDeliveries>().QueueAsync(db, Workflow.TaskReminder, key,
            OutboxDraft.Dm(due.OrgId, due.UserId, message, "task reminder " + key), cancellationToken);
    }

    public static string BlockIdOf(Guid taskId) => "task:" + taskId;

    static SlackMessage Message(IReadOnlyList<TaskLine> tasks, DateOnly today)
    {
        var title = tasks.Count == 1 ? "1 overdue task" : $"{tasks.Count} overdue tasks";
        var blocks = new List<Block> { new HeaderBlock(title) };
        foreach (var task in tasks.Take(MaxListed))
        {
            blocks.Add(new SectionBlock($"*{task.Title}*\nDue {task.DueDate.ToString("ddd d MMM", CultureInfo.InvariantCulture)} · " +
                                        $"{task.DaysOverdue} day{(task.DaysOverdue == 1 ? "" : "s")} overdue" + (task.Deal is { } deal ? $" · {deal}" : "")));
            blocks.Add(new ActionsBlock([
                new ButtonElement("Mark done", DoneAction, task.Id.ToString(), ButtonStyle.Primary),
                new ButtonElement("Snooze 1 day", SnoozeAction, task.Id.ToString()),
                new DatePickerElement(RescheduleAction, today.AddDays(1), "Reschedule"),
            ]) { BlockId = BlockIdOf(task.Id) });
        }
        if (tasks.Count > MaxListed) blocks.Add(new ContextBlock([$"…and {tasks.Count - MaxListed} more. Ask me “what's overdue?” for the full list."]));
        return new SlackMessage($"You have {title}.", blocks);
    }
}

/// <summary>Quartz's handle on the reminders: every 5 minutes, on whichever replica the cluster picks.</summary>
[DisallowConcurrentExecution]
public sealed class TaskReminderJob(TaskReminders reminders) : IJob
{
    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken) => await reminders.RunAsync(cancellationToken);
}

/// <summary>The reminder's buttons: each updates the task (the rep's own click on their own task) and then the message.</summary>
static class TaskReminderButtons
{
    public static void Register(SlackListeners slack) => slack
        .Action(TaskReminders.DoneAction, Engagement.Tracked(request => UpdateAsync(request, (task, _) =>
        {
            task.Status = CrmTaskStatus.Done;
            task.CompletedAt = request.Service<TimeProvider>().GetUtcNow();
            return $"✅ Done: {task.Title}";
        })))
        .Action(TaskReminders.SnoozeAction, Engagement.Tracked(request => UpdateAsync(request, (task, today) =>
        {
            task.DueDate = today.AddDays(1);
            return $"💤 {task.Title}: snoozed to {task.DueDate.ToString("ddd d MMM", CultureInfo.InvariantCulture)}";
        }), Engagement.Kind.Dismiss))
        .Action(TaskReminders.RescheduleAction, Engagement.Tracked(request => UpdateAsync(request, (task, today) =>
        {
            if (!DateOnly.TryParseExact(request.Action?["selected_date"]?.GetValue<string>(), "yyyy-MM-dd", CultureInfo.InvariantCulture,
                    DateTimeStyles.None, out var date) || date < today)
                return null;
            task.DueDate = date;
            return $"📅 {task.Title}: rescheduled to {date.ToString("ddd d MMM", CultureInfo.InvariantCulture)}";
        })));

    /// <summary>Applies <paramref name="change"/> (null: refused) to the clicked task and edits its line in the message.</summary>
    static async Task UpdateAsync(SlackRequest request, Func<CrmTask, DateOnly, string?> change)
    {
        var db = request.Service<Use60Db>();
        var taskId = Guid.TryParse(request.ActionBlockId?.Replace("task:", ""), out var id) ? id : Guid.Empty;
        var task = await db.Tasks.SingleOrDefaultAsync(t => t.Id == taskId && t.UserId == request.User.Id, request.Aborted);
        if (task is null)
        {
            request.Reply(new SlackMessage("That task is no longer in your list."));
            return;
        }
        var today = Orgs.TimeZones.LocalDate(request.Service<TimeProvider>().GetUtcNow(), request.User.Zone);
        if (change(task, today) is not { } outcome)
        {
            request.Reply(new SlackMessage("Pick today or a later date to reschedule to."));
            return;
        }
        await db.SaveChangesAsync(request.Aborted);
        request.Reply(request.Edited(request.ActionBlockId, outcome), ReplyTarget.Original);
    }
}
