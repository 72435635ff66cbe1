using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Use60.Data;
using Use60.Hosting;
using Use60.Security;
using Use60.Slack;

namespace Use60.Calendar;

public static class CalendarFeature
{
    public const string OpenConsentAction = CalendarMessages.ConnectAction, SyncNowAction = "calendar_sync_now", DisconnectAction = "calendar_disconnect";

    public static IServiceCollection AddCalendar(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddValidatedOptions<GoogleOptions>(configuration);
        services.AddSingleton<GoogleCalendarAuth>();
        services.AddHttpClient<GoogleCalendarClient>(http => http.Timeout = TimeSpan.FromSeconds(30));
        services.AddScoped<CalendarSync>();
        return services.AddSlackListeners(slack => slack
            .Command(SlackHelp.Sixty, "connect", "connects your Google Calendar (`/sixty connect calendar`), so I can brief you before meetings", ConnectAsync)
            .Command(SlackHelp.Sixty, "calendar", "your calendar connection: when it last synced, sync now, disconnect", StatusAsync)
            // A link button: the browser opens Google's consent page; Slack still reports the click, which needs no answer.
            .Action(OpenConsentAction, _ => Task.CompletedTask)
            .Action(SyncNowAction, SyncNowAsync)
            .Action(DisconnectAction, DisconnectAsync));
    }

    public static WebApplication MapCalendar(this WebApplication app)
    {
        app.MapGet(GoogleCalendarAuth.CallbackPath, CallbackAsync).ExcludeFromDescription();
        return app;
    }

    static async Task ConnectAsync(SlackRequest request)
    {
        var what = request.Text.Trim().ToLowerInvariant();
        if (what is not ("" or "calendar" or "google" or "google calendar" or "gcal"))
        {
            request.Reply(new SlackMessage("I can connect your Google Calendar: `/sixty connect calendar`."));
            return;
        }
        var auth = request.Service<GoogleCalendarAuth>();
        if (!auth.IsAvailable)
        {
            request.Reply(new SlackMessage("Google Calendar isn't set up on this use60 yet (GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET and USE60_MASTER_KEY). " +
                                           "Ask whoever runs it to follow the README's \"Google Calendar\" section."));
            return;
        }
        var url = await auth.StartAsync(request.Service<Use60Db>(), request.User, request.Aborted);
        request.Reply(CalendarMessages.ConnectLink(url));
    }

    static async Task StatusAsync(SlackRequest request) => request.Reply(await StatusMessageAsync(request, null));

    static async Task<SlackMessage> StatusMessageAsync(SlackRequest request, string? outcome)
    {
        var db = request.Service<Use60Db>();
        var connection = await db.CalendarConnections.AsNoTracking().SingleOrDefaultAsync(c => c.UserId == request.User.Id, request.Aborted);
        var now = request.Service<TimeProvider>().GetUtcNow();
        var upcoming = connection is null ? 0 : await db.CalendarEvents.CountAsync(e => e.UserId == request.User.Id && e.StartTime > now
            && e.StartTime <= now.AddDays(7) && e.AttendeesCount >= CalendarEvent.MinimumAttendeesForMeeting, request.Aborted);
        return CalendarMessages.Status(connection, upcoming, request.User.Zone, now, outcome,
            new ButtonElement("Sync now", SyncNowAction, Style: ButtonStyle.Primary),
            new ButtonElement("Disconnect", DisconnectAction, Style: ButtonStyle.Danger, Confirm: new ConfirmDialog("Disconnect Google Calendar?",
                "I'll stop reading your calendar, forget the meetings I copied from it, and ask Google to revoke my access. Meeting briefs stop until you connect again.",
                "Disconnect", "Keep it", ButtonStyle.Danger)));
    }

    static async Task SyncNowAsync(SlackRequest request)
    {
        var result = await request.Service<CalendarSync>().SyncAsync(request.Org.Id, request.User.Id, force: true, request.Aborted);
        var zone = request.User.Zone;
        var outcome = result.Status switch
        {
            CalendarSyncStatus.Synced => $"✅ Synced just now: {Count(result.Added, "new meeting")}, {Count(result.Changed, "update")}, {Count(result.Removed, "removal")}.",
            CalendarSyncStatus.NotConnected => "Your calendar isn't connected: `/sixty connect calendar`.",
            CalendarSyncStatus.Revoked => "Google no longer lets me read your calendar. Connect it again with `/sixty connect calendar`.",
            _ => $"⚠️ Google Calendar didn't answer properly ({result.Error}). I'll try again at {Local(result.RetryAt, zone)}.",
        };
        request.Reply(await StatusMessageAsync(request, outcome), ReplyTarget.Original);
    }

    static async Task DisconnectAsync(SlackRequest request)
    {
        var db = request.Service<Use60Db>();
        var connection = await db.CalendarConnections.SingleOrDefaultAsync(c => c.UserId == request.User.Id, request.Aborted);
        if (connection is null)
        {
            request.Reply(await StatusMessageAsync(request, "Your calendar was not connected."), ReplyTarget.Original);
            return;
        }
        await request.Service<GoogleCalendarAuth>().RevokeAsync(connection, request.Aborted);
        await using (var transaction = await db.Database.BeginTransactionAsync(request.Aborted))
        {
            var forgotten = await db.CalendarEvents.Where(e => e.UserId == request.User.Id && e.CalendarId == CalendarConnection.PrimaryCalendar)
                .ExecuteDeleteAsync(request.Aborted);
            db.CalendarConnections.Remove(connection);
            request.Service<SecurityAudit>().Record(db, AuditEvents.CalendarDisconnected, AuditSeverity.Info, request.Org.Id, request.User.Id,
                new { provider = "google", events_removed = forgotten });
            await db.SaveChangesAsync(request.Aborted);
            await transaction.CommitAsync(request.Aborted);
        }
        request.Reply(await StatusMessageAsync(request, "Disconnected: I've stopped reading your Google Calendar and forgotten its meetings."),
            ReplyTarget.Original);
    }

    /// <summary>Where Google sends the rep's browser after the consent screen.</summary>
    static async Task<IResult> CallbackAsync(HttpContext http, GoogleCalendarAuth auth, GoogleCalendarClient google, SystemDb system, SecurityAudit audit,
        IServiceScopeFactory scopes, ILoggerFactory loggers, string? code, string? state, string? error, CancellationToken cancellationToken)
    {
        if (!auth.IsAvailable)
            return PlainPage.Result(StatusCodes.Status404NotFound, "Google Calendar is not enabled here", "GOOGLE_CLIENT_ID is not configured on this use60.");
        var (result, who) = await auth.CompleteAsync(system, audit, google, code, state, error, http, cancellationToken);
        switch (result)
        {
            case ConnectResult.BadState:
                return PlainPage.Result(StatusCodes.Status400BadRequest, "This link has expired",
                    $"Connect links work once, for {GoogleCalendarAuth.StateLifetime.TotalMinutes:0} minutes. Type /sixty connect calendar in Slack for a new one.");
            case ConnectResult.Denied:
                return PlainPage.Result(StatusCodes.Status200OK, "Not connected", "You didn't give use60 access to your calendar; nothing was changed.");
            case ConnectResult.Failed:
                return PlainPage.Result(StatusCodes.Status502BadGateway, "Google did not complete the connection",
                    "Google refused the sign-in code (it may have been used already). Type /sixty connect calendar in Slack to try again.");
        }

        // The first sync runs now, so the rep's meetings (and any brief due within 2 hours) are there when they look.
        await using var scope = scopes.CreateTenantScope(who!.OrgId, who.UserId);
        var sync = await scope.ServiceProvider.GetRequiredService<CalendarSync>().SyncAsync(who.OrgId, who.UserId, force: true, cancellationToken);
        var db = scope.ServiceProvider.GetRequiredService<Use60Db>();
        await scope.ServiceProvider.GetRequiredService<SlackOutbox>().SendAsync(db,
            OutboxDraft.Dm(who.OrgId, who.UserId, CalendarMessages.Connected(who.AccountEmail, sync), "calendar connected"), cancellationToken);
        if (sync.Status != CalendarSyncStatus.Synced)
            loggers.CreateLogger(typeof(CalendarFeature)).LogWarning("The first calendar sync of user {UserId} did not complete: {Error}", who.UserId, sync.Error);
        return PlainPage.Result(StatusCodes.Status200OK, "Google Calendar connected",
            $"use60 can now read {(who.AccountEmail is null ? "your calendar" : who.AccountEmail + "'s calendar")} and will brief you 2 hours before each meeting. You can close this tab.");
    }

    static string Count(int n, string what) => $"{n} {what}{(n == 1 ? "" : "s")}";

    static string Local(DateTimeOffset? at, TimeZoneInfo zone) =>
        at is null ? "the next run" : TimeZoneInfo.ConvertTime(at.Value, zone).ToString("HH:mm", CultureInfo.InvariantCulture);
}
