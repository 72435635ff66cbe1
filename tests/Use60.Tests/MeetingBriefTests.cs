using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Use60.Calendar;
using Use60.Data;
using Use60.Orgs;
using Use60.Proactive;
using Use60.Slack;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>Meeting briefs on the demo calendar (Alex: a 10:00 pilot review with Sarah Chen, a solo focus block at 12:00, New York time).</summary>
public sealed class MeetingBriefTests(DigestFixture fixture) : IClassFixture<DigestFixture>
{
    AppUser Alex => fixture.Reps[0];

    [Fact]
    public async Task A_real_meeting_gets_one_brief_two_hours_ahead_and_a_solo_block_none()
    {
        var at = DigestFixture.Start; // 09:00 in New York: the 10:00 pilot review is an hour away
        var events = await EventsAsync(Alex);
        var review = events.Single(e => e.Title.EndsWith("Pilot review"));
        var focus = events.Single(e => e.Title.StartsWith("Focus: pipeline"));

        var due = await BriefsAt(at).DueAsync(default);
        Assert.Contains(due, d => d.EventId == review.Id);
        Assert.DoesNotContain(due, d => d.EventId == focus.Id);
        Assert.DoesNotContain(await BriefsAt(review.StartTime.AddHours(-2).AddMinutes(-1)).DueAsync(default), d => d.EventId == review.Id);

        await BriefsAt(at).RunAsync(default);
        await BriefsAt(at.AddMinutes(1)).RunAsync(default);
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        var briefs = await db.SlackOutbox.AsNoTracking().Where(m => m.UserId == Alex.Id && m.Source.StartsWith("meeting brief " + review.Id)).ToListAsync();
        var brief = Assert.Single(briefs);
        Assert.Contains("Pilot review", brief.Message);
        Assert.Contains(MeetingBriefs.ViewAction, brief.Message);
        Assert.Contains(MeetingBriefs.NotesAction, brief.Message);
        Assert.Contains("Sarah Chen", brief.Message);
    }

    [Fact]
    public async Task A_moved_meeting_gets_its_brief_at_the_new_time_a_cancelled_one_none_and_a_late_addition_at_once()
    {
        var tom = fixture.Reps[1];
        var at = DigestFixture.Start;
        var attendees = new List<Attendee> { new() { Email = tom.Email!, Self = true }, new() { Email = "buyer@prospect.example", Name = "Bea Buyer" } };
        var moved = await AddEventAsync(tom, "Moved demo", at.AddHours(1), attendees);
        var cancelled = await AddEventAsync(tom, "Cancelled call", at.AddHours(1), attendees);
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
        {
            await db.CalendarEvents.Where(e => e.Id == moved.Id).ExecuteUpdateAsync(s => s.SetProperty(e => e.StartTime, at.AddHours(5)).SetProperty(e => e.EndTime, at.AddHours(6)));
            await db.CalendarEvents.Where(e => e.Id == cancelled.Id).ExecuteUpdateAsync(s => s.SetProperty(e => e.Status, CalendarEventStatus.Cancelled));
        }

        var now = await BriefsAt(at).DueAsync(default);
        Assert.DoesNotContain(now, d => d.EventId == moved.Id || d.EventId == cancelled.Id);
        Assert.Contains(await BriefsAt(at.AddHours(3)).DueAsync(default), d => d.EventId == moved.Id);

        // Added 30 minutes before it starts: briefed at once.
        var lateAddition = await AddEventAsync(tom, "Quick sync", at.AddMinutes(30), attendees);
        Assert.Contains(await BriefsAt(at).DueAsync(default), d => d.EventId == lateAddition.Id);
    }

    [Fact]
    public async Task View_brief_opens_the_full_brief_and_add_notes_saves_them_to_the_meeting()
    {
        var priya = fixture.Reps[2];
        var attendees = new List<Attendee> { new() { Email = priya.Email!, Self = true }, new() { Email = "raj@initech-foods.example", Name = "Raj Patel" } };
        var meeting = await AddEventAsync(priya, "Initech — scoping", DigestFixture.Start.AddHours(1), attendees);
        var due = (await BriefsAt(DigestFixture.Start).DueAsync(default)).Single(d => d.EventId == meeting.Id);
        Assert.True(await BriefsAt(DigestFixture.Start).SendAsync(due, default));

        var dm = await SandboxDm.OfAsync(fixture.App, priya);
        var sandbox = dm.Sandbox;
        var brief = await dm.MessageAsync("brief:" + meeting.Id, "the brief in the sandbox DM");

        Assert.True(await dm.ClickAsync(brief, "brief:" + meeting.Id, MeetingBriefs.ViewAction));
        await FakeSlack.WaitUntilAsync(() => sandbox.ConversationAsync(priya, default).Result.OpenView?.View.Contains("Talking points") == true, "the brief modal");
        var view = (await sandbox.ConversationAsync(priya, default)).OpenView!;
        Assert.Contains("Brief: Initech — scoping", view.View);
        await sandbox.CloseViewAsync(dm.Org, priya, view.ViewId, default);

        Assert.True(await dm.ClickAsync(brief, "brief:" + meeting.Id, MeetingBriefs.NotesAction));
        await FakeSlack.WaitUntilAsync(() => sandbox.ConversationAsync(priya, default).Result.OpenView?.View.Contains(MeetingBriefs.NotesCallback) == true, "the notes modal");
        var notes = (await sandbox.ConversationAsync(priya, default)).OpenView!;
        await sandbox.SubmitViewAsync(dm.Org, priya, notes.ViewId, new Dictionary<string, (string, string, string?)>
        {
            ["notes"] = ("notes", "plain_text_input", "Raj wants a pilot in two sites; send pricing by Friday."),
        }, default);
        await FakeSlack.WaitUntilAsync(() =>
        {
            using var db = fixture.App.Service<SystemDb>().Open("test");
            return db.Meetings.Any(m => m.CalendarEventId == meeting.Id && m.Notes == "Raj wants a pilot in two sites; send pricing by Friday.");
        }, "the notes saved to the meeting");
    }

    [Fact]
    public async Task A_brief_carries_the_orgs_positioning_against_a_competitor_the_deal_names_and_only_that_one()
    {
        var tom = fixture.Reps[1];
        // One of Tom's open deals and its primary contact, who comes to the meeting.
        var found = await TestData.AsAsync(fixture.App.Services, tom, db =>
            (from d in db.Deals
             join c in db.Contacts on d.PrimaryContactId equals c.Id
             where d.UserId == tom.Id && d.Stage != Crm.DealStage.ClosedWon && d.Stage != Crm.DealStage.ClosedLost && c.EmailSealed != null
             orderby d.Name
             select new { d.Id, c }).FirstAsync());
        var (deal, buyer) = (found.Id, new Attendee { Email = found.c.Email!, Name = "Buyer" });
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
            await db.Deals.Where(d => d.Id == deal).ExecuteUpdateAsync(s => s.SetProperty(d => d.NextStep, "Send the side-by-side against WidgetCo"));

        var meeting = await AddEventAsync(tom, "Competitive review", DigestFixture.Start.AddHours(1), [new() { Email = tom.Email!, Self = true }, buyer]);
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
            await db.CalendarEvents.Where(e => e.Id == meeting.Id).ExecuteUpdateAsync(s => s.SetProperty(e => e.DealId, deal));
        var due = (await BriefsAt(DigestFixture.Start).DueAsync(default)).Single(d => d.EventId == meeting.Id);
        Assert.True(await BriefsAt(DigestFixture.Start).SendAsync(due, default));

        var dm = await SandboxDm.OfAsync(fixture.App, tom);
        var brief = await dm.MessageAsync("brief:" + meeting.Id, "the brief in the sandbox DM");
        Assert.Contains("Send the side-by-side against WidgetCo", brief.Message);
        Assert.True(await dm.ClickAsync(brief, "brief:" + meeting.Id, MeetingBriefs.ViewAction));
        await FakeSlack.WaitUntilAsync(() => dm.Sandbox.ConversationAsync(tom, default).Result.OpenView?.View.Contains("Talking points") == true, "the brief modal");
        var modal = (await dm.Sandbox.ConversationAsync(tom, default)).OpenView!;
        await dm.Sandbox.CloseViewAsync(dm.Org, tom, modal.ViewId, default);
        Assert.Contains("Against WidgetCo:", modal.View);
        Assert.Contains("If WidgetCo comes up: WidgetCo sells fixed conveyors", modal.View);
        Assert.DoesNotContain("Botline", modal.View); // in the org profile, but this deal does not name it
    }

    MeetingBriefs BriefsAt(DateTimeOffset instant) =>
        ActivatorUtilities.CreateInstance<MeetingBriefs>(fixture.App.Services, (TimeProvider)new FakeTimeProvider(instant));

    async Task<List<CalendarEvent>> EventsAsync(AppUser rep)
    {
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        return await db.CalendarEvents.AsNoTracking().Where(e => e.UserId == rep.Id).ToListAsync();
    }

    Task<CalendarEvent> AddEventAsync(AppUser rep, string title, DateTimeOffset start, List<Attendee> attendees) =>
        TestData.AsAsync(fixture.App.Services, rep, async db =>
        {
            var calendarEvent = new CalendarEvent
            {
                OrgId = rep.OrgId, UserId = rep.Id, ExternalId = "test-" + Guid.NewGuid().ToString("N"), Title = title, StartTime = start,
                EndTime = start.AddMinutes(30), Attendees = attendees,
            };
            db.CalendarEvents.Add(calendarEvent);
            await db.SaveChangesAsync();
            return calendarEvent;
        });
}
