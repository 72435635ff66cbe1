using System.ComponentModel.DataAnnotations.Schema;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Use60.Copilot;
using Use60.Data;
using Use60.Slack;

namespace Use60.Proactive;

public enum Workflow { DailyDigest, MeetingBrief, TaskReminder, DealStall, WinLoss }

/// <summary>A proactive message claimed for one rep, workflow and key (a local date, an event, a stall).</summary>
[Table("proactive_deliveries")]
public sealed class ProactiveDelivery : IOrgOwned, ICreatedAt
{
    public long Id { get; set; }
    public Guid OrgId { get; set; }
    public Guid UserId { get; set; }
    public Workflow Workflow { get; set; }
    public required string EntityKey { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public long? OutboxId { get; set; }
}

/// <summary>
/// Claims a proactive message before it is queued, by a unique key in the database: whatever restarts, misfires or a
/// second replica do, one rep gets one digest per local date, one brief per event, one alert per stall.
/// </summary>
public sealed class ProactiveDeliveries(TimeProvider clock, SlackOutbox outbox)
{
    /// <summary>
    /// Claims the message and queues it in the outbox in one transaction of the rep's own scope: false (nothing queued) when it
    /// was already claimed, by an earlier run or another replica.
    /// </summary>
    public async Task<bool> QueueAsync(Use60Db db, Workflow workflow, string key, OutboxDraft draft, CancellationToken cancellationToken)
    {
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        if (!await ClaimAsync(db, draft.OrgId, draft.UserId!.Value, workflow, key, cancellationToken)) return false;
        var row = outbox.Add(db, draft);
        await db.SaveChangesAsync(cancellationToken);
        // The message's first outbox row: a click on the message (its channel and ts) leads back to this delivery.
        var workflowText = SnakeCase.ValueOf(workflow);
        await db.Database.ExecuteSqlAsync($"""
            UPDATE proactive_deliveries SET outbox_id = {row.Id} WHERE user_id = {draft.UserId} AND workflow = {workflowText} AND entity_key = {key}
            """, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        outbox.Notify();
        return true;
    }

    /// <summary>Inserts the claim in the caller's transaction; false when it was already claimed (nothing to send).</summary>
    async Task<bool> ClaimAsync(Use60Db db, Guid orgId, Guid userId, Workflow workflow, string key, CancellationToken cancellationToken)
    {
        var workflowText = SnakeCase.ValueOf(workflow);
        var inserted = await db.Database.ExecuteSqlAsync($"""
            INSERT INTO proactive_deliveries (org_id, user_id, workflow, entity_key, created_at)
            VALUES ({orgId}, {userId}, {workflowText}, {key}, {clock.GetUtcNow()})
            ON CONFLICT (user_id, workflow, entity_key) DO NOTHING
            """, cancellationToken);
        return inserted == 1;
    }
}

/// <summary>
/// Records what a rep does with a proactive message, found by the clicked message's channel and ts: a click, or a dismissal
/// (a snooze). Silence is what the throttle counts.
/// </summary>
public static class Engagement
{
    public enum Kind { Click, Dismiss, Confirm }

    /// <summary>
    /// The handler, after recording the click on the message it came from; previews the handler makes are linked to that
    /// message, so a Confirm or Cancel on them counts too (<see cref="PreviewDecisions"/>).
    /// </summary>
    public static SlackHandler Tracked(SlackHandler handler, Kind kind = Kind.Click) => async request =>
    {
        request.Service<CopilotSession>().ProactiveDeliveryId = await RecordAsync(request, kind);
        await handler(request);
    };

    /// <summary>Records the click; returns the proactive delivery it was on (null: not a proactive message).</summary>
    public static async Task<long?> RecordAsync(SlackRequest request, Kind kind)
    {
        var channel = SlackJson.Str(request.Payload["container"]?["channel_id"]);
        var ts = SlackJson.Str(request.Payload["container"]?["message_ts"]);
        if (channel is null || ts is null) return null;
        var db = request.Service<Use60Db>();
        var kindText = SnakeCase.ValueOf(kind);
        var actionId = SlackJson.Str(request.Action?["action_id"]) ?? "";
        var now = request.Service<TimeProvider>().GetUtcNow();
        var recorded = await db.Database.SqlQuery<long>($"""
            INSERT INTO proactive_engagement (org_id, user_id, delivery_id, kind, action_id, created_at)
            SELECT d.org_id, d.user_id, d.id, {kindText}, {actionId}, {now}
            FROM proactive_deliveries d JOIN slack_outbox m ON m.id = d.outbox_id
            WHERE d.user_id = {request.User.Id} AND m.slack_channel = {channel} AND m.slack_ts = {ts}
            RETURNING delivery_id AS "Value"
            """).ToListAsync(request.Aborted);
        return recorded.Count > 0 ? recorded[0] : null;
    }

    /// <summary>A Confirm (or a Cancel, a dismissal) on a preview that a proactive message's button made, counted against that message.</summary>
    public sealed class PreviewDecisions(Use60Db db, TimeProvider clock) : IPendingActionDecisions
    {
        public async Task DecidedAsync(PendingAction action, bool confirmed, CancellationToken cancellationToken)
        {
            if (action.ProactiveDeliveryId is not { } deliveryId) return;
            var kindText = SnakeCase.ValueOf(confirmed ? Kind.Confirm : Kind.Dismiss);
            await db.Database.ExecuteSqlAsync($"""
                INSERT INTO proactive_engagement (org_id, user_id, delivery_id, kind, action_id, created_at)
                SELECT d.org_id, d.user_id, d.id, {kindText}, {action.Action}, {clock.GetUtcNow()}
                FROM proactive_deliveries d WHERE d.id = {deliveryId} AND d.user_id = {action.UserId}
                """, cancellationToken);
        }
    }
}

public static class ProactiveRuns
{
    /// <summary>
    /// Sends each due message on its own: one rep's failure (bad data, a database hiccup) must not cost everyone else theirs,
    /// and an unclaimed message is simply due again on the next run. Returns how many were sent.
    /// </summary>
    public static async Task<int> SendEachAsync<T>(IEnumerable<T> due, Func<T, CancellationToken, Task<bool>> send, string workflow, Func<T, object> who,
        ILogger logger, CancellationToken cancellationToken)
    {
        var sent = 0;
        foreach (var item in due)
        {
            try
            {
                if (await send(item, cancellationToken)) sent++;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogError(e, "The {Workflow} for {Who} failed; it is retried on the next run", workflow, who(item));
            }
        }
        if (sent > 0) logger.LogInformation("Sent {Count} {Workflow} message(s)", sent, workflow);
        return sent;
    }
}

sealed class ProactiveDeliveryConfiguration : IEntityTypeConfiguration<ProactiveDelivery>
{
    public void Configure(EntityTypeBuilder<ProactiveDelivery> delivery) => delivery.Property(d => d.Id).UseIdentityAlwaysColumn();
}
