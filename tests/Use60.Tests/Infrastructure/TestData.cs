using Microsoft.Extensions.DependencyInjection;
using Use60.Calendar;
using Use60.Data;
using Use60.Orgs;
using Use60.Recordings;

namespace Use60.Tests.Infrastructure;

/// <summary>Orgs and users for tests, made through the app's own system path; work done in a user's tenant scope.</summary>
public static class TestData
{
    public sealed record TestOrg(Org Org, IReadOnlyList<AppUser> Users)
    {
        public Guid Id => Org.Id;
        public AppUser this[int index] => Users[index];
    }

    public static async Task<TestOrg> CreateOrgAsync(IServiceProvider services, string name, params UserRole[] roles)
    {
        await using var db = services.GetRequiredService<SystemDb>().Open("test data");
        var org = new Org { Name = name, SlackTeamId = "T" + Guid.NewGuid().ToString("N")[..10].ToUpperInvariant() };
        db.Orgs.Add(org);
        await db.SaveChangesAsync();
        var slug = new string(name.ToLowerInvariant().Where(char.IsLetterOrDigit).ToArray());
        var users = roles.Select((role, i) => new AppUser
        {
            OrgId = org.Id,
            Name = $"{name} {role} {i}",
            Email = $"{role.ToString().ToLowerInvariant()}{i}@{slug}.example",
            SlackUserId = $"U{i}{Guid.NewGuid().ToString("N")[..8].ToUpperInvariant()}",
            Role = role,
            TimeZone = "Europe/London",
        }).ToList();
        db.Users.AddRange(users);
        await db.SaveChangesAsync();
        return new TestOrg(org, users);
    }

    /// <summary>Runs <paramref name="work"/> with the app's DbContext in a new scope that works for one user.</summary>
    public static async Task<T> AsAsync<T>(IServiceProvider services, AppUser user, Func<Use60Db, Task<T>> work)
    {
        await using var scope = services.CreateAsyncScope();
        scope.ServiceProvider.GetRequiredService<TenantContext>().Enter(user.OrgId, user.Id);
        return await work(scope.ServiceProvider.GetRequiredService<Use60Db>());
    }

    public static Task AsAsync(IServiceProvider services, AppUser user, Func<Use60Db, Task> work) =>
        AsAsync(services, user, async db => { await work(db); return true; });

    public static async Task SetSharingAsync(IServiceProvider services, Guid orgId, bool? crm = null, bool? tasks = null,
        bool? meetings = null, bool? emails = null)
    {
        await using var db = services.GetRequiredService<SystemDb>().Open("test sharing settings");
        var settings = db.OrgSettings.Single(s => s.OrgId == orgId);
        settings.EnableCrmSharing = crm ?? settings.EnableCrmSharing;
        settings.EnableTaskSharing = tasks ?? settings.EnableTaskSharing;
        settings.EnableMeetingSharing = meetings ?? settings.EnableMeetingSharing;
        settings.EnableEmailSharing = emails ?? settings.EnableEmailSharing;
        await db.SaveChangesAsync();
    }

    /// <summary>A notetaker recording of <paramref name="calendarEvent"/> that finished and was stored: its video and audio keys set (not saved).</summary>
    public static Recording CompletedRecording(AppUser rep, CalendarEvent calendarEvent, string title)
    {
        var meetingKey = "meet.google.com/abc-defg-" + calendarEvent.ExternalId[^3..];
        var recording = new Recording
        {
            OrgId = rep.OrgId, UserId = rep.Id, CalendarEventId = calendarEvent.Id, Source = RecordingSource.Calendar, Title = title,
            MeetingUrl = "https://" + meetingKey, MeetingKey = meetingKey, Platform = MeetingPlatform.Meet, BotName = "use60 Notetaker (recording)",
            ChatNotice = "Recorded.", Status = RecordingStatus.Completed, ConsentBasis = ConsentBasis.OrgPolicy, ConsentRecordedAt = calendarEvent.StartTime,
            S3UploadStatus = S3UploadStatus.Complete,
        };
        recording.VideoKey = RecordingKeys.For(rep.OrgId, rep.Id, recording.Id, RecordingKeys.Video);
        recording.AudioKey = RecordingKeys.For(rep.OrgId, rep.Id, recording.Id, RecordingKeys.Audio);
        return recording;
    }
}
