using System.Globalization;
using Use60.Slack;

namespace Use60.Calendar;

/// <summary>What use60 says in Slack about a rep's calendar connection.</summary>
public static class CalendarMessages
{
    public const string ConnectAction = "calendar_connect_open";

    public static SlackMessage ConnectLink(Uri consent) => new("Connect your Google Calendar: " + consent, [
        new SectionBlock("Connect your Google Calendar and I'll brief you 2 hours before each meeting with other people, " +
                         "and show today's meetings in your morning summary. I only *read* your calendar; I never change it."),
        new ActionsBlock([new ButtonElement("Connect Google Calendar", ConnectAction, Url: consent.ToString(), Style: ButtonStyle.Primary)]),
        new ContextBlock([$"The link works once, for {GoogleCalendarAuth.StateLifetime.TotalMinutes:0} minutes, and only for you. Disconnect any time with `/sixty calendar`."]),
    ]);

    public static SlackMessage Connected(string? account, CalendarSyncResult sync)
    {
        var who = account is null ? "Your Google Calendar" : $"Your Google Calendar ({account})";
        var text = sync.Status == CalendarSyncStatus.Synced
            ? $"{who} is connected: I found {sync.Added} event{(sync.Added == 1 ? "" : "s")} and will keep them in sync every 10 minutes. " +
              "I'll brief you 2 hours before each meeting with other people."
            : $"{who} is connected, but the first sync didn't finish ({sync.Error}). I'll keep trying; `/sixty calendar` shows how it's going.";
        return new SlackMessage(text, [new SectionBlock("📅 " + text)]);
    }

    public static SlackMessage Revoked() => new(
        "Google no longer lets me read your calendar, so meeting briefs have stopped. Connect it again with /sixty connect calendar.", [
            new SectionBlock("📅 Google no longer lets me read your calendar (access was removed or expired), so meeting briefs have stopped. " +
                             "Type `/sixty connect calendar` to connect it again."),
        ]);

    public static SlackMessage Status(CalendarConnection? connection, int upcomingMeetings, TimeZoneInfo zone, DateTimeOffset now, string? outcome,
        params ButtonElement[] buttons)
    {
        var blocks = new List<Block>();
        if (outcome is not null) blocks.Add(new SectionBlock(outcome));
        string text;
        if (connection is null)
        {
            text = "Your Google Calendar isn't connected. Type /sixty connect calendar to connect it.";
            blocks.Add(new SectionBlock("📅 Your Google Calendar isn't connected. Type `/sixty connect calendar` and I'll brief you before meetings."));
            return new SlackMessage(text, blocks);
        }
        var account = connection.AccountEmail ?? "your Google account";
        if (connection.Status == CalendarConnectionStatus.Revoked)
        {
            text = $"Google no longer lets me read the calendar of {account}. Type /sixty connect calendar to connect it again.";
            blocks.Add(new SectionBlock("📅 " + text));
            return new SlackMessage(text, blocks);
        }
        var synced = connection.LastSyncedAt is { } at ? "last synced " + Ago(now - at) : "not synced yet";
        text = $"Google Calendar {account}: {synced}; {upcomingMeetings} meeting{(upcomingMeetings == 1 ? "" : "s")} in the next 7 days.";
        blocks.Add(new SectionBlock("📅 *Google Calendar* — " + account, [
            "*Sync*\n" + char.ToUpperInvariant(synced[0]) + synced[1..],
            $"*Next 7 days*\n{upcomingMeetings} meeting{(upcomingMeetings == 1 ? "" : "s")} with other people",
        ]));
        if (connection.LastError is { } error && connection.NextSyncAt is { } retry)
            blocks.Add(new ContextBlock([$"⚠️ The last sync failed ({error}); next try at " +
                                         TimeZoneInfo.ConvertTime(retry, zone).ToString("HH:mm", CultureInfo.InvariantCulture) + "."]));
        blocks.Add(new ActionsBlock(buttons) { BlockId = "calendar" });
        return new SlackMessage(text, blocks);
    }

    static string Ago(TimeSpan span) => span switch
    {
        { TotalMinutes: < 1 } => "just now",
        { TotalMinutes: < 60 } => $"{(int)span.TotalMinutes} min ago",
        { TotalHours: < 24 } => $"{(int)span.TotalHours} h ago",
        _ => $"{(int)span.TotalDays} days ago",
    };
}
