using System.Reflection;
using System.Runtime.Serialization;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;
using Use60.Admin;
using Use60.Calendar;
using Use60.Copilot;
using Use60.Crm;
using Use60.Orgs;
using Use60.Proactive;
using Use60.Security;
using Use60.Slack;

namespace Use60.Data;

/// <summary>Rows that belong to one org; every such table has row-level security on org_id.</summary>
public interface IOrgOwned
{
    Guid OrgId { get; set; }
}

/// <summary>Rows stamped, from the app's clock, with the time they were created.</summary>
public interface ICreatedAt
{
    DateTimeOffset CreatedAt { get; set; }
}

/// <summary>Rows stamped, from the app's clock, with the time of their last change.</summary>
public interface IUpdatedAt
{
    DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>
/// The one DbContext. The schema comes from the SQL migrations (Data/Migrations), not from this model;
/// a test checks that every mapped column exists. Tables and columns are snake_case, enums are stored as
/// snake_case text, and each feature maps its own entities with IEntityTypeConfiguration classes.
/// </summary>
public sealed class Use60Db(DbContextOptions<Use60Db> options, TenantContext tenant, TimeProvider clock, Privacy.OrgKeyring keyring) : DbContext(options)
{
    public TenantContext Tenant { get; } = tenant;

    /// <summary>The org keys contacts' PII is sealed with (<see cref="Privacy.PiiSealing"/>, an interceptor shared by every context, reads them here).</summary>
    public Privacy.OrgKeyring Keyring { get; } = keyring;

    public DbSet<Org> Orgs => Set<Org>();
    public DbSet<AppUser> Users => Set<AppUser>();
    public DbSet<OrgSettings> OrgSettings => Set<OrgSettings>();
    public DbSet<OrgProfile> OrgProfiles => Set<OrgProfile>();
    public DbSet<Company> Companies => Set<Company>();
    public DbSet<Contact> Contacts => Set<Contact>();
    public DbSet<Privacy.PrivacyRequest> PrivacyRequests => Set<Privacy.PrivacyRequest>();
    public DbSet<Privacy.PrivacyExport> PrivacyExports => Set<Privacy.PrivacyExport>();
    public DbSet<Deal> Deals => Set<Deal>();
    public DbSet<Activity> Activities => Set<Activity>();
    public DbSet<CrmTask> Tasks => Set<CrmTask>();
    public DbSet<CalendarEvent> CalendarEvents => Set<CalendarEvent>();
    public DbSet<CalendarConnection> CalendarConnections => Set<CalendarConnection>();
    public DbSet<Meeting> Meetings => Set<Meeting>();
    public DbSet<SecurityAuditEvent> SecurityAuditLog => Set<SecurityAuditEvent>();
    public DbSet<SecurityIncident> SecurityIncidents => Set<SecurityIncident>();
    public DbSet<AdminLoginLink> AdminLoginLinks => Set<AdminLoginLink>();
    public DbSet<AdminSession> AdminSessions => Set<AdminSession>();
    public DbSet<UserPreferences> UserPreferences => Set<UserPreferences>();
    public DbSet<SlackInstallation> SlackInstallations => Set<SlackInstallation>();
    public DbSet<SlackOAuthState> SlackOAuthStates => Set<SlackOAuthState>();
    public DbSet<InboxItem> SlackInbox => Set<InboxItem>();
    public DbSet<OutboxMessage> SlackOutbox => Set<OutboxMessage>();
    public DbSet<SandboxMessage> SandboxMessages => Set<SandboxMessage>();
    public DbSet<SandboxView> SandboxViews => Set<SandboxView>();
    public DbSet<Conversation> Conversations => Set<Conversation>();
    public DbSet<ConversationMessage> ConversationMessages => Set<ConversationMessage>();
    public DbSet<ToolExecution> ToolExecutions => Set<ToolExecution>();
    public DbSet<LlmCall> LlmCalls => Set<LlmCall>();
    public DbSet<CopilotUsage> CopilotUsage => Set<CopilotUsage>();
    public DbSet<PendingAction> PendingActions => Set<PendingAction>();
    public DbSet<SkillOverride> SkillOverrides => Set<SkillOverride>();
    public DbSet<OutboundEmail> OutboundEmails => Set<OutboundEmail>();
    public DbSet<ProactiveDelivery> ProactiveDeliveries => Set<ProactiveDelivery>();
    public DbSet<Recordings.Recording> Recordings => Set<Recordings.Recording>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.ApplyConfigurationsFromAssembly(typeof(Use60Db).Assembly);
        SnakeCase.Apply(modelBuilder);
    }

    public override Task<int> SaveChangesAsync(bool acceptAllChangesOnSuccess, CancellationToken cancellationToken = default)
    {
        var now = clock.GetUtcNow();
        foreach (var entry in ChangeTracker.Entries<ICreatedAt>())
            if (entry.State == EntityState.Added && entry.Entity.CreatedAt == default) entry.Entity.CreatedAt = now;
        foreach (var entry in ChangeTracker.Entries<IUpdatedAt>())
            if (entry.State is EntityState.Added or EntityState.Modified) entry.Entity.UpdatedAt = now;
        return base.SaveChangesAsync(acceptAllChangesOnSuccess, cancellationToken);
    }

    public override int SaveChanges(bool acceptAllChangesOnSuccess) =>
        throw new NotSupportedException("Use SaveChangesAsync: the app does no blocking database I/O.");
}

public static class EntityTypeBuilderExtensions
{
    /// <summary>
    /// Declares a foreign key without navigations, so that EF inserts and deletes rows in dependency order.
    /// The database enforces the key (composite with org_id) and owns what deleting the principal does.
    /// </summary>
    public static void References<TDependent, TPrincipal>(this EntityTypeBuilder<TDependent> dependent,
        System.Linq.Expressions.Expression<Func<TDependent, object?>> foreignKey)
        where TDependent : class where TPrincipal : class =>
        dependent.HasOne<TPrincipal>().WithMany().HasForeignKey(foreignKey).OnDelete(DeleteBehavior.NoAction);
}

/// <summary>snake_case names for tables' columns and enum values, as the SQL migrations spell them.</summary>
static class SnakeCase
{
    public static void Apply(ModelBuilder modelBuilder)
    {
        foreach (var entity in modelBuilder.Model.GetEntityTypes())
        {
            var isJson = entity.IsMappedToJson();
            foreach (var property in entity.GetProperties())
            {
                var name = Convert(property.Name);
                if (isJson)
                {
                    if (!property.IsShadowProperty()) property.SetJsonPropertyName(name);
                }
                else if (property.GetColumnName() == property.Name)
                {
                    property.SetColumnName(name);
                }
                var type = Nullable.GetUnderlyingType(property.ClrType) ?? property.ClrType;
                if (type.IsEnum)
                    property.SetValueConverter((ValueConverter)Activator.CreateInstance(typeof(EnumConverter<>).MakeGenericType(type))!);
            }
        }
    }

    public static string Convert(string name)
    {
        var builder = new StringBuilder(name.Length + 8);
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (char.IsUpper(c))
            {
                if (i > 0 && (char.IsLower(name[i - 1]) || (i + 1 < name.Length && char.IsLower(name[i + 1])))) builder.Append('_');
                builder.Append(char.ToLowerInvariant(c));
            }
            else builder.Append(c);
        }
        return builder.ToString();
    }

    /// <summary>The text an enum value is stored as: its [EnumMember] value, else its name in snake_case.</summary>
    public static string ValueOf<TEnum>(TEnum value) where TEnum : struct, Enum => Names<TEnum>.ToText[value];

    /// <summary>The enum value stored as <paramref name="text"/>.</summary>
    public static TEnum Parse<TEnum>(string text) where TEnum : struct, Enum => Names<TEnum>.FromText[text];

    sealed class EnumConverter<TEnum>() : ValueConverter<TEnum, string>(v => ValueOf(v), s => Parse<TEnum>(s))
        where TEnum : struct, Enum;

    static class Names<TEnum> where TEnum : struct, Enum
    {
        public static readonly Dictionary<TEnum, string> ToText = Enum.GetValues<TEnum>().ToDictionary(v => v, v =>
            typeof(TEnum).GetField(v.ToString())!.GetCustomAttribute<EnumMemberAttribute>()?.Value ?? Convert(v.ToString()));

        public static readonly Dictionary<string, TEnum> FromText = ToText.ToDictionary(p => p.Value, p => p.Key);
    }
}
