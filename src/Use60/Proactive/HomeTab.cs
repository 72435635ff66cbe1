using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Use60.Crm;
using Use60.Data;
using Use60.Orgs;
using Use60.Slack;

namespace Use60.Proactive;

/// <summary>The App Home tab: the rep's day (meetings, overdue tasks, pipeline numbers), their proactive settings, and what they can ask.</summary>
static class HomeTab
{
    public const int Listed = 5;

    public static void Register(SlackListeners slack) => slack.Event(SlackEvents.AppHomeOpened, PublishAsync);

    static async Task PublishAsync(SlackRequest request)
    {
        if (SlackJson.Str(request.Event?["tab"]) is { } tab && tab != "home") return;
        var token = await request.Service<SlackWorkspaces>().BotTokenAsync(request.Org.Id, request.Aborted);
        if (token is null) return;
        var rep = request.User;
        var zone = rep.Zone;
        var now = request.Service<TimeProvider>().GetUtcNow();
        var today = TimeZones.LocalDate(now, zone);
        var crm = request.Service<CrmQueries>();
        var dayStart = TimeZones.StartOfDay(today, zone);
        var meetings = await crm.MeetingsAsync(rep.Id, dayStart, TimeZones.StartOfDay(today.AddDays(1), zone), request.Aborted);
        var overdue = await crm.OverdueTasksAsync(rep.Id, today, request.Aborted);
        var pipeline = await crm.PipelineAsync(rep.Id, today, now, request.Aborted);
        var db = request.Service<Use60Db>();
        var preferences = await db.UserPreferences.AsNoTracking().SingleOrDefaultAsync(p => p.UserId == rep.Id, request.Aborted) ?? new UserPreferences();
        var orgDigestTime = await SettingsModal.OrgDigestTimeAsync(db, request.Aborted);
        var help = SlackHelp.Message(request.Service<SlackListeners>());

        var first = rep.Name.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? rep.Name;
        var home = SlackView.Home([
            new HeaderBlock($"Hi {first}, here's your {today.ToString("dddd d MMMM", CultureInfo.InvariantCulture)}"),
            new SectionBlock("*Today's meetings*\n" + (meetings.Count == 0 ? "No meetings with other people today." : string.Join('\n', meetings.Take(Listed).Select(m =>
                $"• {TimeZoneInfo.ConvertTime(m.Start, zone).ToString("HH:mm", CultureInfo.InvariantCulture)} {m.Title}")))),
            new SectionBlock("*Overdue tasks*\n" + (overdue.Count == 0 ? "Nothing overdue." : string.Join('\n', overdue.Take(Listed).Select(t =>
                $"• {t.Title} ({t.DaysOverdue} day{(t.DaysOverdue == 1 ? "" : "s")} overdue)")) + (overdue.Count > Listed ? $"\n…and {overdue.Count - Listed} more" : ""))),
            new SectionBlock("*Pipeline*", [
                $"*Open*\n{Money.Format(pipeline.Total, pipeline.Currency)} in {pipeline.OpenDeals} deals", $"*Weighted*\n{Money.Format(pipeline.Weighted, pipeline.Currency)}",
                $"*Closing this week*\n{pipeline.ClosingThisWeek.Count}", $"*Stalled*\n{pipeline.Stalled.Count}",
            ]),
            new DividerBlock(),
            new SectionBlock("*What I send you*\n" + Settings(preferences, orgDigestTime, now, zone),
                Accessory: new ButtonElement("Change settings", SettingsModal.OpenAction)),
            new DividerBlock(),
            .. help.Blocks.Skip(1),
        ]);
        await request.Service<SlackApi>().PublishHomeAsync(token, rep.SlackUserId!, home, request.Aborted);
    }

    static string Settings(UserPreferences preferences, TimeOnly orgDigestTime, DateTimeOffset now, TimeZoneInfo zone)
    {
        string OnOff(bool on) => on ? "on" : "off";
        var lines = new List<string>
        {
            $"• Pipeline summary: {(preferences.DailyDigest ? "at " + (preferences.DigestTime ?? orgDigestTime).ToString("HH:mm", CultureInfo.InvariantCulture) : "off")}",
            $"• Meeting briefs: {OnOff(preferences.MeetingBriefs)} · Task reminders: {OnOff(preferences.TaskReminders)} · Stalled-deal alerts: {OnOff(preferences.DealAlerts)}",
            $"• Quiet days: {(preferences.QuietDays.Count == 0 ? "none" : string.Join(", ", preferences.QuietDays.Select(d => char.ToUpperInvariant(d[0]) + d[1..])))}",
        };
        if (preferences.SnoozedUntil > now)
            lines.Add($"• Snoozed until {TimeZoneInfo.ConvertTime(preferences.SnoozedUntil.Value, zone).ToString("ddd d MMM HH:mm", CultureInfo.InvariantCulture)}");
        return string.Join('\n', lines);
    }

}
