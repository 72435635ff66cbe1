using System.ComponentModel.DataAnnotations.Schema;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Use60.Data;
using Use60.Orgs;

namespace Use60.Copilot;

// A rep's conversations with the copilot and everything recorded about them. Row-level security lets only their
// user read them: not an org admin, not a colleague.

[Table("copilot_conversations")]
public sealed class Conversation : IOrgOwned
{
    public Guid Id { get; set; } = Guid.CreateVersion7();
    public Guid OrgId { get; set; }
    public Guid UserId { get; set; }

    /// <summary>A Slack channel id (the DM, or the channel of an @mention), or <see cref="LabChannel"/>.</summary>
    public required string Channel { get; set; }

    public DateTimeOffset StartedAt { get; set; }
    public DateTimeOffset LastMessageAt { get; set; }

    /// <summary>Set a year after its last message (<see cref="Privacy.RetentionPolicy.ConversationArchiveAfter"/>): never continued.</summary>
    public DateTimeOffset? ArchivedAt { get; set; }

    public const string LabChannel = "lab";
}

public enum MessageRole { User, Assistant }

[Table("copilot_messages")]
public sealed class ConversationMessage : IOrgOwned, ICreatedAt
{
    public long Id { get; set; }
    public Guid OrgId { get; set; }
    public Guid UserId { get; set; }
    public Guid ConversationId { get; set; }
    public MessageRole Role { get; set; }
    public required string Text { get; set; }

    /// <summary>The structured response, clarifying question or previews of the turn, as JSON.</summary>
    public string? Structured { get; set; }

    public string? Planner { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

public enum ToolOutcome { Ok, Preview, Error }

[Table("copilot_tool_executions")]
public sealed class ToolExecution : IOrgOwned, ICreatedAt
{
    public long Id { get; set; }
    public Guid OrgId { get; set; }
    public Guid UserId { get; set; }
    public Guid? ConversationId { get; set; }
    public required string Tool { get; set; }

    /// <summary>A short summary of the arguments (never a whole email body).</summary>
    public required string Arguments { get; set; }

    public int DurationMs { get; set; }
    public ToolOutcome Outcome { get; set; }
    public string? Error { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

public enum LlmOutcome { Ok, Error, Timeout, StepLimit }

[Table("copilot_llm_calls")]
public sealed class LlmCall : IOrgOwned, ICreatedAt
{
    public long Id { get; set; }
    public Guid OrgId { get; set; }
    public Guid UserId { get; set; }
    public Guid? ConversationId { get; set; }
    public required string Model { get; set; }
    public int LatencyMs { get; set; }
    public int InputTokens { get; set; }
    public int OutputTokens { get; set; }
    public decimal EstimatedCostUsd { get; set; }
    public LlmOutcome Outcome { get; set; }
    public string? Error { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>A rep's copilot usage in one calendar month (UTC): counts only, which admins may see.</summary>
[Table("copilot_usage")]
public sealed class CopilotUsage : IOrgOwned
{
    public Guid OrgId { get; set; }
    public Guid UserId { get; set; }
    public DateOnly Month { get; set; }
    public int Requests { get; set; }
    public int LlmCalls { get; set; }
    public long InputTokens { get; set; }
    public long OutputTokens { get; set; }
    public decimal EstimatedCostUsd { get; set; }
}

public enum PendingActionStatus { Pending, Executing, Executed, Failed, Cancelled }

/// <summary>An external action previewed to the rep, waiting for their Confirm; executed at most once.</summary>
[Table("pending_actions")]
public sealed class PendingAction : IOrgOwned, ICreatedAt
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(24);

    public Guid Id { get; set; } = Guid.CreateVersion7();
    public Guid OrgId { get; set; }
    public Guid UserId { get; set; }
    public Guid? ConversationId { get; set; }
    public required string Action { get; set; }
    public required string Params { get; set; }
    public required string Preview { get; set; }
    public PendingActionStatus Status { get; set; } = PendingActionStatus.Pending;
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }
    public DateTimeOffset? DecidedAt { get; set; }
    public string? Result { get; set; }
    public string? Error { get; set; }
    public string? SlackChannel { get; set; }
    public string? SlackTs { get; set; }

    /// <summary>The proactive message the preview was started from (a digest's or stall alert's Draft follow-up), if any.</summary>
    public long? ProactiveDeliveryId { get; set; }
}

/// <summary>An org's own version of a built-in skill or sequence (or a skill of its own), as a Markdown document.</summary>
[Table("skill_overrides")]
public sealed class SkillOverride : IOrgOwned, IUpdatedAt
{
    public Guid OrgId { get; set; }
    public required string SkillKey { get; set; }
    public required string Document { get; set; }
    public Guid? UpdatedBy { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
}

public enum EmailDelivery { Sandbox, Smtp }

/// <summary>An email a rep confirmed: sent through SMTP_URL, or kept as the local mail sandbox.</summary>
[Table("outbound_emails")]
public sealed class OutboundEmail : IOrgOwned, ICreatedAt
{
    public Guid Id { get; set; } = Guid.CreateVersion7();
    public Guid OrgId { get; set; }
    public Guid UserId { get; set; }
    public Guid? PendingActionId { get; set; }
    public Guid? ContactId { get; set; }
    public required string ToAddress { get; set; }
    public string? ToName { get; set; }
    public required string Subject { get; set; }
    public required string Body { get; set; }
    public EmailDelivery Delivery { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? SentAt { get; set; }
}

sealed class CopilotConfiguration : IEntityTypeConfiguration<Conversation>, IEntityTypeConfiguration<ConversationMessage>,
    IEntityTypeConfiguration<ToolExecution>, IEntityTypeConfiguration<LlmCall>, IEntityTypeConfiguration<CopilotUsage>,
    IEntityTypeConfiguration<PendingAction>, IEntityTypeConfiguration<SkillOverride>, IEntityTypeConfiguration<OutboundEmail>
{
    public void Configure(EntityTypeBuilder<Conversation> conversation) => conversation.References<Conversation, AppUser>(c => c.UserId);

    public void Configure(EntityTypeBuilder<ConversationMessage> message)
    {
        message.Property(m => m.Id).UseIdentityAlwaysColumn();
        message.Property(m => m.Structured).HasColumnType("jsonb");
        message.References<ConversationMessage, Conversation>(m => m.ConversationId);
    }

    public void Configure(EntityTypeBuilder<ToolExecution> execution) => execution.Property(e => e.Id).UseIdentityAlwaysColumn();

    public void Configure(EntityTypeBuilder<LlmCall> call)
    {
        call.Property(c => c.Id).UseIdentityAlwaysColumn();
        call.Property(c => c.EstimatedCostUsd).HasPrecision(12, 6);
    }

    public void Configure(EntityTypeBuilder<CopilotUsage> usage)
    {
        usage.HasKey(u => new { u.OrgId, u.UserId, u.Month });
        usage.Property(u => u.EstimatedCostUsd).HasPrecision(12, 6);
    }

    public void Configure(EntityTypeBuilder<PendingAction> action)
    {
        action.Property(a => a.Params).HasColumnType("jsonb");
        action.Property(a => a.Preview).HasColumnType("jsonb");
        action.Property(a => a.Result).HasColumnType("jsonb");
    }

    public void Configure(EntityTypeBuilder<SkillOverride> skill) => skill.HasKey(s => new { s.OrgId, s.SkillKey });

    public void Configure(EntityTypeBuilder<OutboundEmail> email) => email.References<OutboundEmail, PendingAction>(e => e.PendingActionId);
}
