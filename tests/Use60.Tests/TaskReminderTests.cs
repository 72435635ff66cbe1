using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Use60.Crm;
using Use60.Data;
using Use60.Orgs;
using Use60.Proactive;
using Use60.Slack;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>Overdue-task reminders on the demo org, delivered to the local Slack sandbox and clicked there as Slack would.</summary>
public sealed class TaskReminderTests(DigestFixture fixture) : IClassFixture<DigestFixture>
{
    [Fact]
    public async Task One_reminder_a_morning_and_its_buttons_mark_done_snooze_and_reschedule_the_task_and_edit_the_message()
    {
        var alex = fixture.Reps[0];
        var at = DigestFixture.Start; // 09:00 in New York
        Assert.Contains(await RemindersAt(at).DueAsync(default), d => d.UserId == alex.Id);
        await RemindersAt(at).RunAsync(default);
        await RemindersAt(at.AddMinutes(5)).RunAsync(default);
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
            Assert.Equal(1, await db.SlackOutbox.CountAsync(m => m.UserId == alex.Id && m.Source == "task reminder 2026-11-23"));

        var dm = await SandboxDm.OfAsync(fixture.App, alex);
        var sandbox = dm.Sandbox;
        var reminder = await dm.MessageAsync(TaskReminders.DoneAction, "the reminder in the sandbox DM");
        var taskBlocks = JsonNode.Parse(reminder.Message)!["blocks"]!.AsArray()
            .Select(b => (string?)b!["block_id"]).OfType<string>().Where(id => id.StartsWith("task:")).ToList();
        Assert.True(taskBlocks.Count >= 1);
        Assert.Empty(BlockKitLimits.Problems(new SlackMessage("x", [.. JsonNode.Parse(reminder.Message)!["blocks"]!.AsArray().Select(b => (Block)new RawBlock(b!.AsObject()))])));
        var done = Guid.Parse(taskBlocks[0]["task:".Length..]);

        Assert.True(await dm.ClickAsync(reminder, taskBlocks[0], TaskReminders.DoneAction));
        await FakeSlack.WaitUntilAsync(() => sandbox.ConversationAsync(alex, default).Result.Messages.Single(m => m.Id == reminder.Id).Message.Contains("Done:"),
            "the reminder edited to show the task done");
        Assert.Equal(CrmTaskStatus.Done, (await TaskAsync(done)).Status);

        if (taskBlocks.Count > 1)
        {
            var moved = Guid.Parse(taskBlocks[1]["task:".Length..]);
            Assert.True(await dm.ClickAsync(reminder, taskBlocks[1], TaskReminders.RescheduleAction, "2026-12-04"));
            await FakeSlack.WaitUntilAsync(() => TaskAsync(moved).Result.DueDate == new DateOnly(2026, 12, 4), "the rescheduled task");
        }
    }

    [Fact]
    public async Task Snooze_moves_the_task_to_tomorrow_and_a_date_in_the_past_is_refused()
    {
        var tom = fixture.Reps[1];
        var task = await TestData.AsAsync(fixture.App.Services, tom, async db =>
        {
            var row = new CrmTask { OrgId = tom.OrgId, UserId = tom.Id, Title = "Chase the signed order form", DueDate = new DateOnly(2026, 11, 20) };
            db.Tasks.Add(row);
            await db.SaveChangesAsync();
            return row;
        });
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
            await db.Users.Where(u => u.Id == tom.Id).ExecuteUpdateAsync(s => s.SetProperty(u => u.TimeZone, "America/New_York"));
        tom.TimeZone = "America/New_York";
        Assert.True(await RemindersAt(DigestFixture.Start).SendAsync(new TaskReminders.DueRep(tom.OrgId, tom.Id, new DateOnly(2026, 11, 23)), default));
        var dm = await SandboxDm.OfAsync(fixture.App, tom);
        var sandbox = dm.Sandbox;
        var reminder = await dm.MessageAsync(TaskReminders.BlockIdOf(task.Id), "the reminder");

        Assert.True(await dm.ClickAsync(reminder, TaskReminders.BlockIdOf(task.Id), TaskReminders.RescheduleAction, "2026-11-01"));
        await dm.MessageAsync("Pick today or a later date", "the refusal of a past date");
        Assert.Equal(new DateOnly(2026, 11, 20), (await TaskAsync(task.Id)).DueDate);

        Assert.True(await dm.ClickAsync(reminder, TaskReminders.BlockIdOf(task.Id), TaskReminders.SnoozeAction));
        var tomorrow = new DateOnly(2026, 11, 24); // the app clock says Monday 23 November in New York
        await FakeSlack.WaitUntilAsync(() => TaskAsync(task.Id).Result.DueDate == tomorrow, "the snoozed task");
    }

    TaskReminders RemindersAt(DateTimeOffset instant) =>
        ActivatorUtilities.CreateInstance<TaskReminders>(fixture.App.Services, (TimeProvider)new FakeTimeProvider(instant));

    async Task<CrmTask> TaskAsync(Guid id)
    {
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        return await db.Tasks.AsNoTracking().SingleAsync(t => t.Id == id);
    }
}
