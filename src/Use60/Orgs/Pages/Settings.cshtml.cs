using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Use60.Admin;
using Use60.Calendar;
using Use60.Copilot;
using Use60.Data;
using Use60.Recordings;
using Use60.Security;
using Use60.Slack;

namespace Use60.Orgs.Pages;

/// <summary>
/// Settings (/admin/settings): the org profile with a live preview of the copilot's persona, who sees whose data, the proactive
/// defaults, the notetaker (auto-join, the bot's name and chat notice, do-not-record domains, each rep's own choice), and the state of
/// each integration with what to do when one is missing. Every change is validated, saved and audited with the values before and after.
/// </summary>
public sealed partial class SettingsModel(Use60Db db, OrgProfiles profiles, SecurityAudit audit, TimeProvider clock, AdminSecondFactor secondFactor,
    IOptions<SlackOptions> slack, IOptions<GoogleOptions> google, IOptions<LlmOptions> llm, IOptions<S3Options> s3, IOptions<MeetingBaasOptions> meetingBaas)
    : PageModel
{
    public const string PagePath = "/admin/settings";

    [BindProperty]
    public OrgProfileForm Profile { get; set; } = new();

    public OrgSettings Sharing { get; private set; } = new();
    public string PersonaPreview { get; private set; } = "";
    public Dictionary<string, string> Problems { get; private set; } = [];
    public IReadOnlyList<Integration> Integrations { get; private set; } = [];
    public bool IsOwner { get; private set; }
    public bool SecondFactorEnrolled { get; private set; }

    /// <summary>Each rep's own notetaker choice (null: the org's default).</summary>
    public IReadOnlyList<RepNotetaker> Reps { get; private set; } = [];

    public sealed record RepNotetaker(Guid Id, string Name, bool? AutoJoin);

    /// <summary>The org's contacts past their retention date now, and due within the next 30 days.</summary>
    public (int Due, int DueSoon) Retention { get; private set; }

    public const int MaxBlockedDomains = 100;

    [TempData]
    public string? Notice { get; set; }

    public sealed record Integration(string Name, bool Ready, string State, string? ToDo);

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        Profile = OrgProfileForm.Of(await db.OrgProfiles.AsNoTracking().SingleOrDefaultAsync(cancellationToken));
        await LoadAsync(cancellationToken);
    }

    public async Task<IActionResult> OnPostProfileAsync(CancellationToken cancellationToken)
    {
        var (orgId, me) = Admin();
        Problems = Profile.Validate();
        if (Problems.Count > 0)
        {
            await LoadAsync(cancellationToken);
            return Page();
        }
        Notice = await profiles.SaveAsync(Profile.ToProfile(orgId), me, HttpContext, cancellationToken)
            ? "Profile saved: the copilot uses it from the next message."
            : "Nothing changed.";
        return RedirectToPage();
    }

    /// <summary>The persona the copilot would get from the form as it stands (unsaved), for the live preview.</summary>
    public async Task<IActionResult> OnPostPreviewAsync(CancellationToken cancellationToken)
    {
        var (orgId, me) = Admin();
        var rep = await db.Users.AsNoTracking().SingleAsync(u => u.Id == me, cancellationToken);
        return Content(Persona.Compile(Profile.ToProfile(orgId), rep, clock.GetUtcNow()), "text/plain; charset=utf-8");
    }

    public async Task<IActionResult> OnPostSharingAsync([FromForm] bool crm, [FromForm] bool meetings, [FromForm] bool tasks, [FromForm] bool emails,
        CancellationToken cancellationToken)
    {
        var (orgId, me) = Admin();
        var settings = await db.OrgSettings.SingleAsync(cancellationToken);
        var before = new { crm = settings.EnableCrmSharing, meetings = settings.EnableMeetingSharing, tasks = settings.EnableTaskSharing, emails = settings.EnableEmailSharing };
        (settings.EnableCrmSharing, settings.EnableMeetingSharing, settings.EnableTaskSharing, settings.EnableEmailSharing) = (crm, meetings, tasks, emails);
        var after = new { crm, meetings, tasks, emails };
        return await SaveSettingsAsync(orgId, me, "sharing", before, after, before.Equals(after), cancellationToken);
    }

    public async Task<IActionResult> OnPostProactiveAsync([FromForm] string? stallDays, [FromForm] string? winLossChannel, [FromForm] string? digestTime,
        CancellationToken cancellationToken)
    {
        var (orgId, me) = Admin();
        if (!int.TryParse(stallDays, out var days) || days is < 1 or > 90) Problems["StallDays"] = "Enter a whole number of days from 1 to 90.";
        if (!TimeOnly.TryParseExact(digestTime ?? "", "HH:mm", CultureInfo.InvariantCulture, DateTimeStyles.None, out var digestAt)
            || !OrgSettings.DigestTimes.Contains(digestAt))
            Problems["DigestTime"] = "Pick a time from the list (every half hour from 06:00 to 12:00).";
        var channel = string.IsNullOrWhiteSpace(winLossChannel) ? null : winLossChannel.Trim();
        if (channel is not null && !ChannelId().IsMatch(channel))
            Problems["WinLossChannel"] = "Enter a Slack channel ID such as C0123ABCD (channel details → bottom of the About tab), or leave it empty for no posts.";
        if (Problems.Count > 0)
        {
            Profile = OrgProfileForm.Of(await db.OrgProfiles.AsNoTracking().SingleOrDefaultAsync(cancellationToken));
            await LoadAsync(cancellationToken);
            return Page();
        }
        var settings = await db.OrgSettings.SingleAsync(cancellationToken);
        var before = new { stall_threshold_days = settings.StallThresholdDays, win_loss_channel = settings.WinLossChannel,
            default_digest_time = settings.DefaultDigestTime.ToString("HH:mm", CultureInfo.InvariantCulture) };
        (settings.StallThresholdDays, settings.WinLossChannel, settings.DefaultDigestTime) = (days, channel, digestAt);
        var after = new { stall_threshold_days = days, win_loss_channel = channel, default_digest_time = digestAt.ToString("HH:mm", CultureInfo.InvariantCulture) };
        return await SaveSettingsAsync(orgId, me, "proactive", before, after, before.Equals(after), cancellationToken);
    }

    /// <summary>How long prospects' data is kept after their last activity (EU residents: a shorter period), and whether the nightly job deletes it.</summary>
    public async Task<IActionResult> OnPostRetentionAsync([FromForm] string? retentionDays, [FromForm] string? euRetentionDays, [FromForm] bool autoDelete,
        CancellationToken cancellationToken)
    {
        var (orgId, me) = Admin();
        var range = $"Enter a whole number of days from {Privacy.RetentionPolicy.MinDays} to {Privacy.RetentionPolicy.MaxDays}";
        if (!int.TryParse(retentionDays, out var days) || days is < Privacy.RetentionPolicy.MinDays or > Privacy.RetentionPolicy.MaxDays)
            Problems["RetentionDays"] = range + $" (the default is {Privacy.RetentionPolicy.DefaultDays}, two years).";
        if (!int.TryParse(euRetentionDays, out var euDays) || euDays is < Privacy.RetentionPolicy.MinDays or > Privacy.RetentionPolicy.MaxDays)
            Problems["EuRetentionDays"] = range + $" (the default is {Privacy.RetentionPolicy.DefaultEuDays}, one year).";
        else if (!Problems.ContainsKey("RetentionDays") && euDays > days)
            Problems["EuRetentionDays"] = $"EU residents' data may not be kept longer than everyone else's ({days} days).";
        if (Problems.Count > 0)
        {
            Profile = OrgProfileForm.Of(await db.OrgProfiles.AsNoTracking().SingleOrDefaultAsync(cancellationToken));
            await LoadAsync(cancellationToken);
            return Page();
        }
        var settings = await db.OrgSettings.SingleAsync(cancellationToken);
        var before = new { retention_days = settings.RetentionDays, eu_retention_days = settings.EuRetentionDays, auto_delete = settings.AutoDelete };
        (settings.RetentionDays, settings.EuRetentionDays, settings.AutoDelete) = (days, euDays, autoDelete);
        var after = new { retention_days = days, eu_retention_days = euDays, auto_delete = autoDelete };
        return await SaveSettingsAsync(orgId, me, "retention", before, after, before.Equals(after), cancellationToken);
    }

    /// <summary>The org's notetaker policy: auto-join by default, the name the bot joins under (it must say it records), its chat notice, and do-not-record domains.</summary>
    public async Task<IActionResult> OnPostNotetakerAsync([FromForm] bool autoJoin, [FromForm] string? botName, [FromForm] string? chatNotice,
        [FromForm] string? blockedDomains, CancellationToken cancellationToken)
    {
        var (orgId, me) = Admin();
        var name = botName?.Trim() ?? "";
        if (name.Length is < 3 or > 100 || !name.Contains("record", StringComparison.OrdinalIgnoreCase))
            Problems["BotName"] = "Use 3 to 100 characters that say the bot records, such as “use60 Notetaker (recording)”: people in the meeting must be able to tell.";
        var notice = chatNotice?.Trim() ?? "";
        if (notice.Length is < 10 or > 500) Problems["ChatNotice"] = "Write 10 to 500 characters: that the meeting is recorded, and how to object.";
        var domains = (blockedDomains ?? "").Split(['\n', '\r', ',', ' ', ';'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(d => d.TrimStart('@').TrimEnd('.').ToLowerInvariant()).Distinct().ToList();
        if (domains.FirstOrDefault(d => !DomainName().IsMatch(d)) is { } bad)
            Problems["BlockedDomains"] = $"“{bad}” is not a domain: write one per line, such as competitor.com.";
        else if (domains.Count > MaxBlockedDomains) Problems["BlockedDomains"] = $"Keep it to {MaxBlockedDomains} domains at most (there are {domains.Count}).";
        if (Problems.Count > 0)
        {
            Profile = OrgProfileForm.Of(await db.OrgProfiles.AsNoTracking().SingleOrDefaultAsync(cancellationToken));
            await LoadAsync(cancellationToken);
            return Page();
        }
        var settings = await db.OrgSettings.SingleAsync(cancellationToken);
        var before = new { auto_join = settings.NotetakerAutoJoin, bot_name = settings.NotetakerBotName, chat_notice = settings.NotetakerChatNotice,
            blocked_domains = settings.NotetakerBlockedDomains.ToArray() };
        var unchanged = before.auto_join == autoJoin && before.bot_name == name && before.chat_notice == notice && before.blocked_domains.SequenceEqual(domains);
        (settings.NotetakerAutoJoin, settings.NotetakerBotName, settings.NotetakerChatNotice, settings.NotetakerBlockedDomains) = (autoJoin, name, notice, domains);
        var after = new { auto_join = autoJoin, bot_name = name, chat_notice = notice, blocked_domains = domains.ToArray() };
        return await SaveSettingsAsync(orgId, me, "notetaker", before, after, unchanged, cancellationToken);
    }

    /// <summary>Each rep's own notetaker choice, from the form's <c>rep:{id}</c> fields: default (the org's), on or off.</summary>
    public async Task<IActionResult> OnPostNotetakerRepsAsync(CancellationToken cancellationToken)
    {
        var (orgId, me) = Admin();
        var users = await db.Users.AsNoTracking().Select(u => u.Id).ToListAsync(cancellationToken);
        var preferences = await db.UserPreferences.ToDictionaryAsync(p => p.UserId, cancellationToken);
        var before = new Dictionary<Guid, bool?>();
        var after = new Dictionary<Guid, bool?>();
        foreach (var user in users)
        {
            var chosen = Request.Form["rep:" + user].ToString() switch { "on" => true, "off" => false, "default" => (bool?)null, _ => preferences.GetValueOrDefault(user)?.NotetakerAutoJoin };
            var current = preferences.GetValueOrDefault(user)?.NotetakerAutoJoin;
            if (chosen == current) continue;
            if (!preferences.TryGetValue(user, out var row)) db.UserPreferences.Add(row = new UserPreferences { OrgId = orgId, UserId = user });
            row.NotetakerAutoJoin = chosen;
            (before[user], after[user]) = (current, chosen);
        }
        return await SaveSettingsAsync(orgId, me, "notetaker_reps", before, after, after.Count == 0, cancellationToken);
    }

    /// <summary>Owners only: require a second factor of every owner and admin — once they use one themselves, so nobody is locked out by surprise.</summary>
    public async Task<IActionResult> OnPostSecondFactorAsync([FromForm] bool require, CancellationToken cancellationToken)
    {
        var (orgId, me) = Admin();
        var role = await db.Users.AsNoTracking().Where(u => u.Id == me).Select(u => u.Role).SingleAsync(cancellationToken);
        if (role != UserRole.Owner)
        {
            Notice = "Only owners decide whether the admin site needs a second factor.";
            return RedirectToPage();
        }
        if (require && !await secondFactor.IsEnrolledAsync(me, cancellationToken))
        {
            Notice = "Set up your own two-step sign-in first, then require it of everyone.";
            return RedirectToPage();
        }
        var settings = await db.OrgSettings.SingleAsync(cancellationToken);
        var before = new { require_admin_second_factor = settings.RequireAdminSecondFactor };
        settings.RequireAdminSecondFactor = require;
        var after = new { require_admin_second_factor = require };
        return await SaveSettingsAsync(orgId, me, "admin_sign_in", before, after, before.Equals(after), cancellationToken);
    }

    async Task<IActionResult> SaveSettingsAsync(Guid orgId, Guid me, string section, object before, object after, bool unchanged, CancellationToken cancellationToken)
    {
        if (unchanged)
        {
            Notice = "Nothing changed.";
            return RedirectToPage();
        }
        audit.Record(db, AuditEvents.SettingsChanged, AuditSeverity.Low, orgId, me, new { section, before, after }, HttpContext);
        await db.SaveChangesAsync(cancellationToken);
        Notice = section switch
        {
            "sharing" => "Sharing saved: it applies to every query from now on.",
            "admin_sign_in" => "Saved: owners and admins now need their second factor at each sign-in.",
            "notetaker" => "Notetaker settings saved: they apply from the next meeting the notetaker looks at.",
            "notetaker_reps" => "Reps' notetaker choices saved.",
            "retention" => "Retention policy saved: the nightly job (02:00 UTC) applies it.",
            _ => "Proactive defaults saved.",
        };
        return RedirectToPage();
    }

    async Task LoadAsync(CancellationToken cancellationToken)
    {
        var (orgId, me) = Admin();
        Sharing = await db.OrgSettings.AsNoTracking().SingleAsync(cancellationToken);
        var rep = await db.Users.AsNoTracking().SingleAsync(u => u.Id == me, cancellationToken);
        PersonaPreview = Persona.Compile(Profile.ToProfile(orgId), rep, clock.GetUtcNow());
        IsOwner = rep.Role == UserRole.Owner;
        SecondFactorEnrolled = await secondFactor.IsEnrolledAsync(me, cancellationToken);
        var choices = await db.UserPreferences.AsNoTracking().ToDictionaryAsync(p => p.UserId, p => p.NotetakerAutoJoin, cancellationToken);
        Reps = [.. (await db.Users.AsNoTracking().OrderBy(u => u.Name).ToListAsync(cancellationToken))
            .Select(u => new RepNotetaker(u.Id, u.Name, choices.GetValueOrDefault(u.Id)))];
        var now = clock.GetUtcNow();
        var due = await db.Database.SqlQuery<DateTimeOffset>($"""
            SELECT deletion_due_at AS "Value" FROM contact_retention WHERE deletion_due_at <= {now.AddDays(30)}
            """).ToListAsync(cancellationToken);
        Retention = (due.Count(d => d <= now), due.Count(d => d > now));
        Integrations = [await SlackStateAsync(cancellationToken), await CalendarStateAsync(cancellationToken), LlmState(), StorageState(), NotetakerState()];
    }

    async Task<Integration> SlackStateAsync(CancellationToken cancellationToken)
    {
        if (slack.Value.IsSandbox)
            return new("Slack", false, "Local sandbox: no Slack workspace is connected; messages appear in the Slack sandbox page.",
                "Create the Slack app from slack-app-manifest.yml and set SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN (README: Connect a real Slack workspace).");
        var org = await db.Orgs.AsNoTracking().SingleAsync(cancellationToken);
        if (org.SlackDisabledAt is { } disabled)
            return new("Slack", false, $"The workspace removed use60 on {disabled:d MMM yyyy}; nothing is sent to it.", "Install use60 again from /slack/install.");
        return new("Slack", true, slack.Value.IsSingleWorkspace ? $"Connected (single workspace {org.SlackTeamId})." : $"Installed in workspace {org.SlackTeamId}.", null);
    }

    async Task<Integration> CalendarStateAsync(CancellationToken cancellationToken)
    {
        if (!google.Value.IsConfigured)
            return new("Google Calendar", false, "Not configured: reps cannot connect a calendar, so meeting briefs use only the meetings already stored.",
                "Set GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET (README: Google Calendar).");
        var connections = await db.CalendarConnections.AsNoTracking().GroupBy(c => c.Status).Select(g => new { g.Key, Count = g.Count() }).ToListAsync(cancellationToken);
        var active = connections.Where(c => c.Key == CalendarConnectionStatus.Active).Sum(c => c.Count);
        var revoked = connections.Where(c => c.Key == CalendarConnectionStatus.Revoked).Sum(c => c.Count);
        return new("Google Calendar", active > 0, $"{active} rep(s) connected{(revoked > 0 ? $", {revoked} whose access was revoked" : "")}.",
            active == 0 || revoked > 0 ? "Each rep types /sixty connect calendar in Slack." : null);
    }

    Integration LlmState() => llm.Value.IsConfigured
        ? new("LLM endpoint", true, $"{llm.Value.Model} at {new Uri(llm.Value.BaseUrl).Host}.", null)
        : new("LLM endpoint", false, "Not configured: the copilot answers with its offline planner (fixed phrasings, no model).",
            "Set OPENAI_API_KEY (and OPENAI_BASE_URL for another OpenAI-compatible endpoint).");

    Integration StorageState() => string.IsNullOrWhiteSpace(s3.Value.Bucket)
        ? new("Recording storage (S3)", false, "No bucket: recordings would stay in a local folder of one replica.", "Set AWS_S3_BUCKET and AWS_REGION.")
        : new("Recording storage (S3)", true, $"Bucket {s3.Value.Bucket} in {s3.Value.Region}{(s3.Value.EndpointUrl is null ? "" : " at " + new Uri(s3.Value.EndpointUrl).Host)}.", null);

    Integration NotetakerState() => meetingBaas.Value.IsConfigured
        ? new("Notetaker (MeetingBaaS)", true, $"Bots are sent through {meetingBaas.Value.ApiUri.Host}; their webhooks come to {MeetingBaasWebhook.Path}.", null)
        : new("Notetaker (MeetingBaaS)", false, "Not configured: no notetaker joins meetings, and /sixty record says so.",
            "Set MEETINGBAAS_API_KEY and MEETINGBAAS_WEBHOOK_SECRET (README: Notetaker).");

    (Guid OrgId, Guid UserId) Admin() => AdminClaims.Signed(User);

    /// <summary>Slack channel ids: C… (public) or G… (private), capital letters and digits.</summary>
    [GeneratedRegex("^[CG][A-Z0-9]{8,}$")]
    private static partial Regex ChannelId();

    [GeneratedRegex(@"^(?=.{3,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")]
    private static partial Regex DomainName();
}
