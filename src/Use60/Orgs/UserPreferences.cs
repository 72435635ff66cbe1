using System.ComponentModel.DataAnnotations.Schema;
using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Microsoft.Extensions.Options;
using Use60.Data;
using Use60.Recordings;
using Use60.Slack;

namespace Use60.Orgs;

/// <summary>A rep's own choices about what use60 sends them (<c>/sixty settings</c>). Their time zone lives on <see cref="AppUser"/>.</summary>
[Table("user_preferences")]
public sealed class UserPreferences : IOrgOwned, IUpdatedAt
{
    public Guid OrgId { get; set; }
    public Guid UserId { get; set; }
    public bool DailyDigest { get; set; } = true;

    /// <summary>When the daily digest comes, on the rep's own wall clock; null: the org's default (<see cref="OrgSettings.DefaultDigestTime"/>).</summary>
    public TimeOnly? DigestTime { get; set; }
    public bool MeetingBriefs { get; set; } = true;
    public bool TaskReminders { get; set; } = true;
    public bool DealAlerts { get; set; } = true;

    /// <summary>Days (monday … sunday) on which nothing proactive is sent.</summary>
    public List<string> QuietDays { get; set; } = ["saturday", "sunday"];

    /// <summary>Nothing proactive is sent before this instant.</summary>
    public DateTimeOffset? SnoozedUntil { get; set; }

    /// <summary>The rep's own notetaker choice: the bot joins their meetings (true) or not (false); null follows the org's default.</summary>
    public bool? NotetakerAutoJoin { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }
}

sealed class UserPreferencesConfiguration : IEntityTypeConfiguration<UserPreferences>
{
    public void Configure(EntityTypeBuilder<UserPreferences> preferences)
    {
        preferences.HasKey(p => new { p.OrgId, p.UserId });
        preferences.References<UserPreferences, AppUser>(p => p.UserId);
    }
}

/// <summary><c>/sixty settings</c>: a modal with the rep's own preferences, validated on submit.</summary>
public static class SettingsModal
{
    public const string CallbackId = "user_settings";

    /// <summary>A button that opens this modal (the Home tab's "Change settings").</summary>
    public const string OpenAction = "open_settings";
    const string ZoneBlock = "tz", ZoneAction = "time_zone";
    const string ProactiveBlock = "proactive", ProactiveAction = "proactive";
    const string QuietBlock = "quiet", QuietAction = "quiet_days";
    const string SnoozeBlock = "snooze", SnoozeAction = "snooze_days";
    const string DigestBlock = "digest_time", DigestAction = "digest_time", OrgDigestTime = "org_default";
    const string NotetakerBlock = "notetaker", NotetakerAction = "notetaker_auto_join";
    public const int MaxSnoozeDays = 90;

    static readonly (string Value, string Text)[] Proactive =
    [
        ("daily_digest", "Daily pipeline summary"), ("meeting_briefs", "Meeting briefs 2 hours before"),
        ("task_reminders", "Overdue-task reminders"), ("deal_alerts", "Stalled-deal alerts"),
    ];

    static readonly string[] Days = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

    public static void Register(SlackListeners slack) => slack
        .Command(SlackHelp.Sixty, "settings", "your preferences: time zone, which messages you get, quiet days, snooze", OpenAsync)
        .Action(OpenAction, OpenAsync)
        .ViewSubmission(CallbackId, SaveAsync)
        .Options(ZoneAction, (_, query) => Task.FromResult(ZoneOptions(query)));

    static async Task OpenAsync(SlackRequest request)
    {
        var db = request.Service<Use60Db>();
        var preferences = await db.UserPreferences.AsNoTracking().SingleOrDefaultAsync(p => p.UserId == request.User.Id, request.Aborted)
                          ?? new UserPreferences();
        var orgDefault = await OrgDigestTimeAsync(db, request.Aborted);
        SelectOption[] digestTimes = [new($"Team default ({Clock(orgDefault)})", OrgDigestTime), .. OrgSettings.DigestTimes.Select(DigestOption)];
        var clock = request.Service<TimeProvider>();
        var snoozed = preferences.SnoozedUntil > clock.GetUtcNow()
            ? $"Snoozed until {TimeZoneInfo.ConvertTime(preferences.SnoozedUntil.Value, request.User.Zone):dddd d MMMM HH:mm}."
            : "Not snoozed.";
        var enabled = Proactive.Where(p => p.Value switch
        {
            "daily_digest" => preferences.DailyDigest, "meeting_briefs" => preferences.MeetingBriefs,
            "task_reminders" => preferences.TaskReminders, _ => preferences.DealAlerts,
        }).Select(p => new SelectOption(p.Text, p.Value)).ToList();
        await request.OpenModalAsync(SlackView.Modal("Your use60 settings", CallbackId, [
            new InputBlock("Time zone", new ExternalSelectElement(ZoneAction, "Search for a city", 1, ZoneOption(request.User.TimeZone)),
                Hint: "Your 9:00 summary and every date I show you use it.") { BlockId = ZoneBlock },
            new InputBlock("Messages I send you", new CheckboxesElement(ProactiveAction,
                [.. Proactive.Select(p => new SelectOption(p.Text, p.Value))], enabled.Count > 0 ? enabled : null), Optional: true) { BlockId = ProactiveBlock },
            new InputBlock("Daily summary at", new StaticSelectElement(DigestAction, "Pick a time",
                digestTimes, preferences.DigestTime is { } own ? DigestOption(own) : digestTimes[0]), Optional: true,
                Hint: "On your own clock, on days that are not quiet days.") { BlockId = DigestBlock },
            new InputBlock("Quiet days", new CheckboxesElement(QuietAction, [.. Days.Select(d => new SelectOption(Title(d), d))],
                preferences.QuietDays.Count > 0 ? [.. preferences.QuietDays.Select(d => new SelectOption(Title(d), d))] : null),
                Optional: true, Hint: "Nothing proactive on these days.") { BlockId = QuietBlock },
            new InputBlock("Snooze everything for (days)", new PlainTextInputElement(SnoozeAction, Placeholder: "0 to stop a snooze", MaxLength: 2),
                Optional: true, Hint: snoozed) { BlockId = SnoozeBlock },
            .. await NotetakerInputAsync(request, db, preferences),
        ], submit: "Save", close: "Cancel"));
    }

    /// <summary>With the notetaker set up: whether it joins the rep's meetings (the org's default, or their own choice).</summary>
    static async Task<Block[]> NotetakerInputAsync(SlackRequest request, Use60Db db, UserPreferences preferences)
    {
        if (!request.Service<IOptions<MeetingBaasOptions>>().Value.IsConfigured) return [];
        var org = await db.OrgSettings.AsNoTracking().SingleAsync(request.Aborted);
        SelectOption[] options =
        [
            new($"The org's default ({(org.NotetakerAutoJoin ? "record" : "don't record")})", "default"),
            new("Record my meetings", "on"), new("Don't record my meetings", "off"),
        ];
        var chosen = options[preferences.NotetakerAutoJoin switch { null => 0, true => 1, false => 2 }];
        return [new InputBlock("Notetaker", new StaticSelectElement(NotetakerAction, "Choose", options, chosen), Optional: true,
            Hint: $"Joins your meetings that have a Zoom, Meet or Teams link as “{org.NotetakerBotName}” and says in the chat that it records.")
            { BlockId = NotetakerBlock }];
    }

    static async Task SaveAsync(SlackRequest request)
    {
        var errors = new Dictionary<string, string>();
        var zone = request.ViewValue(ZoneBlock, ZoneAction);
        if (!TimeZones.TryFind(zone, out _)) errors[ZoneBlock] = "Pick a time zone from the list.";
        // Not picked: unchanged; the team default: null (follow the org); else one of the listed times.
        (bool Picked, TimeOnly? Time) digestTime = (false, null);
        if (request.ViewValue(DigestBlock, DigestAction) is { Length: > 0 } digestText)
        {
            if (digestText == OrgDigestTime) digestTime = (true, null);
            else if (TimeOnly.TryParseExact(digestText, "HH:mm", CultureInfo.InvariantCulture, DateTimeStyles.None, out var time) && OrgSettings.DigestTimes.Contains(time))
                digestTime = (true, time);
            else errors[DigestBlock] = "Pick a time from the list.";
        }
        var snoozeText = request.ViewValue(SnoozeBlock, SnoozeAction)?.Trim();
        int? snoozeDays = null;
        if (!string.IsNullOrEmpty(snoozeText))
        {
            if (int.TryParse(snoozeText, NumberStyles.None, CultureInfo.InvariantCulture, out var days) && days <= MaxSnoozeDays) snoozeDays = days;
            else errors[SnoozeBlock] = $"Enter a whole number of days from 0 to {MaxSnoozeDays}.";
        }
        if (errors.Count > 0)
        {
            request.RejectSubmission(errors);
            return;
        }

        var chosen = (request.ViewValue(ProactiveBlock, ProactiveAction) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        var quiet = (request.ViewValue(QuietBlock, QuietAction) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries).Where(Days.Contains).ToList();
        var db = request.Service<Use60Db>();
        var preferences = await db.UserPreferences.SingleOrDefaultAsync(p => p.UserId == request.User.Id, request.Aborted);
        if (preferences is null)
        {
            preferences = new UserPreferences { OrgId = request.Org.Id, UserId = request.User.Id };
            db.UserPreferences.Add(preferences);
        }
        preferences.DailyDigest = chosen.Contains("daily_digest");
        preferences.MeetingBriefs = chosen.Contains("meeting_briefs");
        preferences.TaskReminders = chosen.Contains("task_reminders");
        preferences.DealAlerts = chosen.Contains("deal_alerts");
        preferences.QuietDays = quiet;
        if (digestTime.Picked) preferences.DigestTime = digestTime.Time;
        var now = request.Service<TimeProvider>().GetUtcNow();
        if (snoozeDays is { } snooze) preferences.SnoozedUntil = snooze == 0 ? null : now.AddDays(snooze);
        // Absent when the notetaker is not set up: the rep's choice stays as it was.
        if (request.ViewValue(NotetakerBlock, NotetakerAction) is { } notetaker)
            preferences.NotetakerAutoJoin = notetaker switch { "on" => true, "off" => false, _ => null };
        var user = await db.Users.SingleAsync(u => u.Id == request.User.Id, request.Aborted);
        user.TimeZone = zone!;
        await db.SaveChangesAsync(request.Aborted);

        var summary = chosen.Count == 0 ? "no proactive messages" : string.Join(", ", Proactive.Where(p => chosen.Contains(p.Value)).Select(p => p.Text.ToLowerInvariant()));
        if (preferences.DailyDigest)
            summary = summary.Replace("daily pipeline summary", $"daily pipeline summary at {Clock(preferences.DigestTime ?? await OrgDigestTimeAsync(db, request.Aborted))}");
        request.Reply(new SlackMessage($":white_check_mark: Settings saved. Time zone {zone}; you get {summary}" +
                                       (preferences.SnoozedUntil > now ? $"; snoozed for {snoozeDays} day(s)." : ".")), ReplyTarget.DirectMessage);
    }

    static IReadOnlyList<SelectOption> ZoneOptions(string query)
    {
        var words = query.Trim().Replace(' ', '_');
        return [.. TimeZoneInfo.GetSystemTimeZones()
            .Where(z => z.Id.Contains('/') && z.Id.Contains(words, StringComparison.OrdinalIgnoreCase))
            .OrderBy(z => z.Id, StringComparer.Ordinal).Take(100)
            .Select(z => ZoneOption(z.Id))];
    }

    static SelectOption ZoneOption(string id) => new(id.Replace('_', ' '), id);

    static SelectOption DigestOption(TimeOnly time) => new(Clock(time), Clock(time));

    static string Clock(TimeOnly time) => time.ToString("HH:mm", CultureInfo.InvariantCulture);

    /// <summary>The org's default digest time (the tenant scope sees only its own org's settings).</summary>
    public static async Task<TimeOnly> OrgDigestTimeAsync(Use60Db db, CancellationToken cancellationToken) =>
        await db.OrgSettings.AsNoTracking().Select(s => (TimeOnly?)s.DefaultDigestTime).SingleOrDefaultAsync(cancellationToken) ?? OrgSettings.DefaultDigestTimeOfDay;

    static string Title(string day) => char.ToUpperInvariant(day[0]) + day[1..];
}

public static class OrgsFeature
{
    public static IServiceCollection AddOrgs(this IServiceCollection services) => services.AddSlackListeners(SettingsModal.Register)
        .AddScoped<OrgProfiles>()
        .AddSingleton(new Admin.AdminNavItem("Settings", Pages.SettingsModel.PagePath, 10))
        .AddSingleton(new Admin.AdminNavItem("Team", Pages.TeamModel.PagePath, 20));
}
