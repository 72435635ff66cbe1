using System.ComponentModel.DataAnnotations.Schema;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Npgsql;
using NpgsqlTypes;
using Use60.Copilot;
using Use60.Data;
using Use60.Slack;

namespace Use60.Proactive;

public enum Workflow { DailyDigest, MeetingBrief, TaskReminder, DealStall, WinLoss, FollowUpPack }

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
    /// Claims the message and queues it in the outbox, in one statement of the rep's own scope: false (nothing queued) when it was
    /// already claimed, by an earlier run or another replica.
    /// </summary>
    public Task<bool> QueueAsync(Use60Db db, Workflow workflow, string key, OutboxDraft draft, CancellationToken cancellationToken) =>
        db.BatchAsync(batch => Queue(batch, workflow, key, draft), cancellationToken);

    /// <summary>
    /// <see cref="QueueAsync"/> as a statement of <paramref name="batch"/> (a job queues all of a rep's messages in one round trip). The
    /// claim and the outbox rows are one statement, so neither exists without the other; the claim points at the message's first
    /// outbox row, which a click on the message (its channel and ts) leads back to. The dispatcher is woken once the batch has run.
    /// </summary>
    public DbResult<bool> Queue(DbBatch batch, Workflow workflow, string key, OutboxDraft draft)
    {
        var rows = outbox.Rows(draft);
        var first = rows[0];
        var queued = batch.Add<bool>($"""
            WITH claim AS (
                INSERT INTO proactive_deliveries (org_id, user_id, workflow, entity_key, created_at, outbox_id)
                VALUES ({draft.OrgId}, {draft.UserId!.Value}, {SnakeCase.ValueOf(workflow)}, {key}, {clock.GetUtcNow()},
                        nextval(pg_get_serial_sequence('slack_outbox', 'id')))
                ON CONFLICT (user_id, workflow, entity_key) DO NOTHING
                RETURNING outbox_id),
            queued AS (
                INSERT INTO slack_outbox (id, org_id, user_id, kind, channel, thread_ts, response_url, response_url_expires_at, update_of,
                                          message, see_more, source, created_at, not_before)
                OVERRIDING SYSTEM VALUE
                SELECT CASE part.n WHEN 1 THEN claim.outbox_id ELSE nextval(pg_get_serial_sequence('slack_outbox', 'id')) END,
                       {first.OrgId}, {first.UserId}::uuid, {SnakeCase.ValueOf(first.Kind)}, {first.Channel}::text, {first.ThreadTs}::text,
                       {first.ResponseUrl}::text, {first.ResponseUrlExpiresAt}::timestamptz, {first.UpdateOf}::bigint,
                       part.message, part.see_more, {first.Source}, {first.CreatedAt}, {first.NotBefore}
                FROM claim, unnest({Jsonb(rows.Select(r => r.Message))}, {Jsonb(rows.Select(r => r.SeeMore))}) WITH ORDINALITY AS part (message, see_more, n))
            SELECT to_json(EXISTS (SELECT FROM claim))
            """);
        batch.AfterRun(() =>
        {
            if (queued.Value) outbox.Notify();
        });
        return queued;
    }

    static NpgsqlParameter Jsonb(IEnumerable<string> values) => new() { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb, Value = values.ToArray() };
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
    /// Reps whose messages are built at once: while one waits for the database, another is being built, so a run keeps this process
    /// and PostgreSQL busy together; few enough to leave the connection pool to everything else.
    /// </summary>
    public const int AtOnce = 4;

    /// <summary>
    /// Sends each due message on its own: one rep's failure (bad data, a database hiccup) must not cost everyone else theirs,
    /// and an unclaimed message is simply due again on the next run. Returns how many were sent.
    /// </summary>
    public static Task<int> SendEachAsync<T>(IEnumerable<T> due, Func<T, CancellationToken, Task<bool>> send, string workflow, Func<T, object> who,
        ILogger logger, CancellationToken cancellationToken) =>
        SendEachAsync(due, async (item, token) => await send(item, token) ? 1 : 0, workflow, who, logger, cancellationToken);

    /// <summary>As above, for an item that is several messages (one rep's meeting briefs): <paramref name="send"/> says how many it sent.</summary>
    public static async Task<int> SendEachAsync<T>(IEnumerable<T> due, Func<T, CancellationToken, Task<int>> send, string workflow, Func<T, object> who,
        ILogger logger, CancellationToken cancellationToken)
    {
        var sent = 0;
        // On the thread pool, not on the caller's scheduler: a Quartz job runs on Quartz's own few threads, which stop taking work
        // while the scheduler shuts down (and waits for this job).
        var options = new ParallelOptions { MaxDegreeOfParallelism = AtOnce, CancellationToken = cancellationToken, TaskScheduler = TaskScheduler.Default };
        await Parallel.ForEachAsync(due, options, async (item, token) =>
        {
            try
            {
                Interlocked.Add(ref sent, await send(item, token));
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogError(e, "The {Workflow} for {Who} failed; it is retried on the next run", workflow, who(item));
            }
        });
        if (sent > 0) logger.LogInformation("Sent {Count} {Workflow} message(s)", sent, workflow);
        return sent;
    }
}

sealed class ProactiveDeliveryConfiguration : IEntityTypeConfiguration<ProactiveDelivery>
{
    public void Configure(EntityTypeBuilder<ProactiveDelivery> delivery) => delivery.Property(d => d.Id).UseIdentityAlwaysColumn();
}
