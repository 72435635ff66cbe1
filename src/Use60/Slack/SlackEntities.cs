using System.ComponentModel.DataAnnotations.Schema;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Use60.Data;
using Use60.Orgs;

namespace Use60.Slack;

/// <summary>A workspace installed through OAuth; its bot token is stored encrypted (<see cref="Privacy.SecretBox"/>).</summary>
[Table("slack_installations")]
public sealed class SlackInstallation : IOrgOwned
{
    public Guid OrgId { get; set; }
    public required string TeamId { get; set; }
    public required string TeamName { get; set; }
    public string? BotUserId { get; set; }
    public required byte[] BotTokenEncrypted { get; set; }
    public string Scopes { get; set; } = "";
    public string? InstalledBy { get; set; }
    public DateTimeOffset InstalledAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
}

[Table("slack_oauth_states")]
public sealed class SlackOAuthState
{
    public required byte[] StateHash { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }
    public DateTimeOffset? UsedAt { get; set; }
}

public enum InboxKind { Event, Command, Interaction }

public enum InboxOutcome { Handled, Unhandled, Ignored, Failed }

/// <summary>One Slack callback, stored before it was acknowledged.</summary>
[Table("slack_inbox")]
public sealed class InboxItem
{
    public long Id { get; set; }
    public required string DedupeKey { get; set; }
    public InboxKind Kind { get; set; }
    public string? TeamId { get; set; }

    /// <summary>The callback as JSON: an event envelope, a slash command's fields, or an interaction payload.</summary>
    public required string Payload { get; set; }

    public DateTimeOffset ReceivedAt { get; set; }
    public int Deliveries { get; set; } = 1;
    public int Attempts { get; set; }
    public DateTimeOffset? LockedUntil { get; set; }
    public DateTimeOffset? ProcessedAt { get; set; }
    public InboxOutcome? Outcome { get; set; }
    public string? Error { get; set; }
}

public enum OutboxKind { Post, Ephemeral, Update, ResponseUrl }

public enum OutboxStatus { Pending, Sending, Sent, Failed }

/// <summary>One message the product sends, delivered once by <see cref="OutboxDispatcher"/>.</summary>
[Table("slack_outbox")]
public sealed class OutboxMessage : IOrgOwned, ICreatedAt
{
    public long Id { get; set; }
    public Guid OrgId { get; set; }
    public Guid? UserId { get; set; }
    public OutboxKind Kind { get; set; }

    /// <summary>A channel id; null means the DM of <see cref="UserId"/>, opened at delivery.</summary>
    public string? Channel { get; set; }

    public string? ThreadTs { get; set; }
    public string? ResponseUrl { get; set; }
    public DateTimeOffset? ResponseUrlExpiresAt { get; set; }
    public long? UpdateOf { get; set; }
    public required string Message { get; set; }
    public string SeeMore { get; set; } = "{}";
    public required string Source { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset NotBefore { get; set; }
    public int Attempts { get; set; }
    public OutboxStatus Status { get; set; } = OutboxStatus.Pending;
    public DateTimeOffset? LockedUntil { get; set; }
    public DateTimeOffset? SentAt { get; set; }
    public string? SlackChannel { get; set; }
    public string? SlackTs { get; set; }
    public string? Error { get; set; }
}

/// <summary>A message in a rep's DM with the bot, in the local Slack sandbox.</summary>
[Table("slack_sandbox_messages")]
public sealed class SandboxMessage : IOrgOwned
{
    public long Id { get; set; }
    public Guid OrgId { get; set; }
    public Guid UserId { get; set; }
    public required string Ts { get; set; }
    public bool FromBot { get; set; }
    public bool Ephemeral { get; set; }
    public required string Message { get; set; }
    public DateTimeOffset PostedAt { get; set; }
    public DateTimeOffset? EditedAt { get; set; }
}

/// <summary>A modal open on a rep's sandbox screen.</summary>
[Table("slack_sandbox_views")]
public sealed class SandboxView : IOrgOwned
{
    public required string ViewId { get; set; }
    public Guid OrgId { get; set; }
    public Guid UserId { get; set; }
    public required string View { get; set; }
    public DateTimeOffset OpenedAt { get; set; }
    public DateTimeOffset? ClosedAt { get; set; }
}

sealed class SlackEntitiesConfiguration : IEntityTypeConfiguration<SlackInstallation>, IEntityTypeConfiguration<SlackOAuthState>,
    IEntityTypeConfiguration<InboxItem>, IEntityTypeConfiguration<OutboxMessage>, IEntityTypeConfiguration<SandboxMessage>,
    IEntityTypeConfiguration<SandboxView>
{
    public void Configure(EntityTypeBuilder<SlackInstallation> installation)
    {
        installation.HasKey(i => i.OrgId);
        installation.HasOne<Org>().WithOne().HasForeignKey<SlackInstallation>(i => i.OrgId).OnDelete(DeleteBehavior.NoAction);
    }

    public void Configure(EntityTypeBuilder<SlackOAuthState> state) => state.HasKey(s => s.StateHash);

    public void Configure(EntityTypeBuilder<InboxItem> item)
    {
        item.Property(i => i.Id).UseIdentityAlwaysColumn();
        item.Property(i => i.Payload).HasColumnType("jsonb");
    }

    public void Configure(EntityTypeBuilder<OutboxMessage> message)
    {
        message.Property(m => m.Id).UseIdentityAlwaysColumn();
        message.Property(m => m.Message).HasColumnType("jsonb");
        message.Property(m => m.SeeMore).HasColumnType("jsonb");
        message.References<OutboxMessage, Org>(m => m.OrgId);
    }

    public void Configure(EntityTypeBuilder<SandboxMessage> message)
    {
        message.Property(m => m.Id).UseIdentityAlwaysColumn();
        message.Property(m => m.Message).HasColumnType("jsonb");
    }

    public void Configure(EntityTypeBuilder<SandboxView> view)
    {
        view.HasKey(v => v.ViewId);
        view.Property(v => v.View).HasColumnType("jsonb");
    }
}
