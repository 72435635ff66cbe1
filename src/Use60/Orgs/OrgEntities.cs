using System.ComponentModel.DataAnnotations.Schema;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Use60.Data;

namespace Use60.Orgs;

public enum OrgPlan { Free, Starter, Pro, Enterprise }

/// <summary>The four roles of the seeds' role table: owners and admins run the admin site; viewers only look.</summary>
public enum UserRole { Owner, Admin, Member, Viewer }

[Table("orgs")]
public sealed class Org : ICreatedAt
{
    public Guid Id { get; set; } = Guid.CreateVersion7();
    public required string Name { get; set; }
    public string? SlackTeamId { get; set; }
    public OrgPlan Plan { get; set; } = OrgPlan.Free;

    /// <summary>Set by app_uninstalled or tokens_revoked: nothing is sent to this workspace until it installs again.</summary>
    public DateTimeOffset? SlackDisabledAt { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

[Table("users")]
public sealed class AppUser : IOrgOwned, ICreatedAt, IUpdatedAt
{
    public Guid Id { get; set; } = Guid.CreateVersion7();
    public Guid OrgId { get; set; }
    public string? SlackUserId { get; set; }
    public string? Email { get; set; }
    public required string Name { get; set; }

    /// <summary>IANA zone (America/New_York, Asia/Kolkata): the rep's 9:00 digest and every date shown to them use it.</summary>
    public string TimeZone { get; set; } = "UTC";

    public UserRole Role { get; set; } = UserRole.Member;
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }

    public bool CanAdminister => Role is UserRole.Owner or UserRole.Admin;

    /// <summary>Viewers open the admin site too, to read the pages open to them.</summary>
    public bool CanOpenAdminSite => CanAdminister || Role is UserRole.Viewer;

    public TimeZoneInfo Zone => TimeZones.Find(TimeZone);
}

public static class UserReads
{
    /// <summary>The user, read with the rest of <paramref name="batch"/> (one this scope cannot see is an error, as with EF's Single).</summary>
    public static DbResult<AppUser> User(this DbBatch batch, Guid id) =>
        batch.Add<AppUser?>($"SELECT to_json(u) FROM users u WHERE u.id = {id}")
            .Select(user => user ?? throw new InvalidOperationException($"User {id} is not visible in this scope."));
}

/// <summary>Who sees whose data. Copilot conversations are private always: a CHECK constraint refuses turning that on.</summary>
[Table("org_settings")]
public sealed class OrgSettings : IOrgOwned, IUpdatedAt
{
    public Guid OrgId { get; set; }
    public bool EnableCrmSharing { get; set; } = true;
    public bool EnableMeetingSharing { get; set; } = true;
    public bool EnableTaskSharing { get; set; }
    public bool EnableEmailSharing { get; set; }
    public bool EnableCopilotSharing { get; private set; }

    /// <summary>An open deal with no activity for this many days is stalled (the seeds' 7).</summary>
    public int StallThresholdDays { get; set; } = Crm.DealStages.DefaultStallDays;

    /// <summary>When a rep who never chose gets the daily summary, on their own clock (reps choose their own in /sixty settings).</summary>
    public TimeOnly DefaultDigestTime { get; set; } = DefaultDigestTimeOfDay;

    public static readonly TimeOnly DefaultDigestTimeOfDay = new(9, 0);

    /// <summary>Times that can be chosen for the daily summary: every half hour from 6:00 to 12:00.</summary>
    public static readonly TimeOnly[] DigestTimes = [.. Enumerable.Range(0, 13).Select(i => new TimeOnly(6, 0).AddMinutes(30 * i))];

    /// <summary>A Slack channel id where deals moving to closed-won or closed-lost are announced; none: not announced.</summary>
    public string? WinLossChannel { get; set; }

    /// <summary>Owners and admins must sign in to the admin site with a second factor (TOTP) as well as their link.</summary>
    public bool RequireAdminSecondFactor { get; set; }

    /// <summary>The notetaker joins reps' meetings by itself (each rep may choose otherwise); off until an owner or admin turns it on.</summary>
    public bool NotetakerAutoJoin { get; set; }

    public const string DefaultNotetakerBotName = "use60 Notetaker (recording)";

    /// <summary>The name the bot joins under: it says that it records.</summary>
    public string NotetakerBotName { get; set; } = DefaultNotetakerBotName;

    /// <summary>What the bot posts in the meeting chat when it joins: that the meeting is recorded, and how to object.</summary>
    public string NotetakerChatNotice { get; set; } = DefaultNotetakerChatNotice;

    /// <summary>The database's default too (migration 0014).</summary>
    public const string DefaultNotetakerChatNotice =
        "Hi everyone: this meeting is being recorded and transcribed by use60 Notetaker so that the host has accurate notes. " +
        "If you would rather not be recorded, say so in the chat or ask the host to remove me, and I will leave.";

    /// <summary>External domains whose people are never recorded (lower case): a meeting with one of them gets no bot.</summary>
    public List<string> NotetakerBlockedDomains { get; set; } = [];

    /// <summary>How long prospects' data is kept after their last activity (the seeds' 2 years), and for EU residents (1 year).</summary>
    public int RetentionDays { get; set; } = Privacy.RetentionPolicy.DefaultDays;
    public int EuRetentionDays { get; set; } = Privacy.RetentionPolicy.DefaultEuDays;

    /// <summary>The privacy-retention job deletes contacts past their date; off until an owner or admin turns it on.</summary>
    public bool AutoDelete { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>What the copilot knows about its own company: the source of its persona.</summary>
[Table("org_profile")]
public sealed class OrgProfile : IOrgOwned, IUpdatedAt
{
    public Guid OrgId { get; set; }
    public string CompanyName { get; set; } = "";
    public List<ProductInfo> Products { get; set; } = [];
    public List<CompetitorInfo> Competitors { get; set; } = [];
    public List<string> PainPoints { get; set; } = [];
    public List<string> ValuePropositions { get; set; } = [];
    public string BrandVoice { get; set; } = "";
    public DateTimeOffset UpdatedAt { get; set; }
}

public sealed class ProductInfo
{
    public required string Name { get; set; }
    public string Description { get; set; } = "";
}

public sealed class CompetitorInfo
{
    public required string Name { get; set; }

    /// <summary>How we win against them: what the meeting brief says when they are in the deal.</summary>
    public string Positioning { get; set; } = "";
}

// Foreign keys are declared (without navigations) so that EF saves rows in dependency order; the database
// enforces them, composite with org_id, and owns the delete rules.
sealed class OrgConfiguration : IEntityTypeConfiguration<AppUser>, IEntityTypeConfiguration<OrgSettings>, IEntityTypeConfiguration<OrgProfile>
{
    public void Configure(EntityTypeBuilder<AppUser> user) => user.References<AppUser, Org>(u => u.OrgId);

    public void Configure(EntityTypeBuilder<OrgSettings> settings)
    {
        settings.HasKey(s => s.OrgId);
        settings.HasOne<Org>().WithOne().HasForeignKey<OrgSettings>(s => s.OrgId).OnDelete(DeleteBehavior.NoAction);
        settings.Property(s => s.EnableCopilotSharing);
    }

    public void Configure(EntityTypeBuilder<OrgProfile> profile)
    {
        profile.HasKey(p => p.OrgId);
        profile.HasOne<Org>().WithOne().HasForeignKey<OrgProfile>(p => p.OrgId).OnDelete(DeleteBehavior.NoAction);
        profile.OwnsMany(p => p.Products, p => p.ToJson("products"));
        profile.OwnsMany(p => p.Competitors, c => c.ToJson("competitors"));
    }
}

public static class TimeZones
{
    /// <summary>The calendar date at <paramref name="instant"/> on a wall clock in <paramref name="zone"/>.</summary>
    public static DateOnly LocalDate(DateTimeOffset instant, TimeZoneInfo zone) =>
        DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(instant, zone).DateTime);

    /// <summary>The instant a local calendar day begins on a wall clock in <paramref name="zone"/>.</summary>
    public static DateTimeOffset StartOfDay(DateOnly date, TimeZoneInfo zone)
    {
        var local = date.ToDateTime(TimeOnly.MinValue);
        return new DateTimeOffset(local, zone.GetUtcOffset(local)).ToUniversalTime();
    }

    /// <summary>An IANA zone by id, or UTC for an id this machine's tz database does not know.</summary>
    public static TimeZoneInfo Find(string id) => TryFind(id, out var zone) ? zone : TimeZoneInfo.Utc;

    public static bool TryFind(string? id, out TimeZoneInfo zone)
    {
        zone = TimeZoneInfo.Utc;
        if (string.IsNullOrWhiteSpace(id)) return false;
        try
        {
            zone = TimeZoneInfo.FindSystemTimeZoneById(id);
            return true;
        }
        catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            return false;
        }
    }
}
