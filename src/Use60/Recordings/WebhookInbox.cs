using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Quartz;
using Use60.Data;
using Use60.Security;

namespace Use60.Recordings;

public enum WebhookOutcome { Handled, Ignored, Duplicate }

/// <summary>One delivery being processed: when it came, and the org it turned out to be about (the handler sets it once it knows).</summary>
public sealed class WebhookDelivery(DateTimeOffset receivedAt)
{
    public DateTimeOffset ReceivedAt { get; } = receivedAt;

    /// <summary>Kept on the inbox row, so that an erasure in that org scrubs this delivery and no other org's.</summary>
    public Guid? OrgId { get; set; }
}

/// <summary>
/// The inbox every provider's webhook goes through once its authenticity is checked (MeetingBaaS's Svix signature, Gladia's
/// callback token): the event is written to <c>webhook_inbox</c> under the provider's id of the message before anything is done
/// with it, so a second delivery of the same message is acknowledged without being processed again, and two at once are
/// processed by one (a lease on the row). A processing failure leaves the row unprocessed, with the error, and is rethrown: the
/// endpoint answers 500 and the provider delivers it again.
/// </summary>
public sealed class WebhookInbox(SystemDb system, TimeProvider clock, ILogger<WebhookInbox> logger)
{
    /// <summary>How long one delivery has the event to itself (a provider's API is asked with a 30-second timeout, twice at most).</summary>
    static readonly TimeSpan ProcessingLease = TimeSpan.FromMinutes(2);

    sealed record Accepted(long Id, bool IsNew);

    /// <summary>Stores the event (once per delivery id) and runs <paramref name="process"/> unless it was processed before or is being processed now.</summary>
    public async Task<WebhookOutcome> AcceptAsync(string provider, string deliveryId, string eventName, JsonObject payload,
        Func<WebhookDelivery, CancellationToken, Task<WebhookOutcome>> process, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        // A transcript in a webhook is words people said: card numbers leave before it is stored (and before it is processed).
        Privacy.CardNumbers.RedactJson(payload);
        long id;
        await using (var db = system.Open($"store a {provider} webhook in the inbox"))
        {
            var accepted = (await db.Database.SqlQuery<Accepted>($"""
                INSERT INTO webhook_inbox (provider, delivery_id, event, payload, received_at)
                VALUES ({provider}, {deliveryId}, {eventName}, {payload.ToJsonString()}::jsonb, {now})
                ON CONFLICT (provider, delivery_id) DO UPDATE SET deliveries = webhook_inbox.deliveries + 1
                RETURNING id AS "Id", (xmax = 0) AS "IsNew"
                """).ToListAsync(cancellationToken)).Single();
            id = accepted.Id;
            if (!accepted.IsNew) logger.LogInformation("{Provider} delivered webhook {DeliveryId} again", provider, deliveryId);
            var leased = await db.Database.SqlQuery<long>($"""
                UPDATE webhook_inbox SET attempts = attempts + 1, locked_until = {now + ProcessingLease}
                WHERE id = {id} AND processed_at IS NULL AND (locked_until IS NULL OR locked_until <= {now})
                RETURNING id AS "Value"
                """).ToListAsync(cancellationToken);
            if (leased.Count == 0) return WebhookOutcome.Duplicate;
        }

        WebhookOutcome outcome;
        var delivery = new WebhookDelivery(now);
        try
        {
            outcome = await process(delivery, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogError(e, "{Provider} webhook {DeliveryId} ({Event}) could not be processed; it will be delivered again", provider, deliveryId, eventName);
            await FinishAsync(id, null, delivery.OrgId, e.GetType().Name + ": " + e.Message, CancellationToken.None);
            throw;
        }
        await FinishAsync(id, outcome, delivery.OrgId, null, CancellationToken.None);
        return outcome;
    }

    /// <summary>
    /// How long a delivery is kept: well past any provider's retries (Svix's last comes about a day and a half after the first), so a late
    /// repeat is still known as one, and no longer, since payloads carry meeting details.
    /// </summary>
    public static readonly TimeSpan Kept = TimeSpan.FromDays(14);

    sealed record Deleted(int All, int Unprocessed);

    /// <summary>The inbox-cleanup job's share: deletes deliveries received more than <see cref="Kept"/> ago. Returns how many.</summary>
    public async Task<int> DeleteOldAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        await using var db = system.Open("delete old webhook deliveries");
        var deleted = (await db.Database.SqlQuery<Deleted>($"""
            WITH gone AS (DELETE FROM webhook_inbox WHERE received_at < {now - Kept} RETURNING processed_at)
            SELECT count(*)::int AS "All", (count(*) FILTER (WHERE processed_at IS NULL))::int AS "Unprocessed" FROM gone
            """).ToListAsync(cancellationToken)).Single();
        if (deleted.Unprocessed > 0)
            logger.LogWarning("Deleted {Count} webhook deliveries older than {Days} days that were never processed (their errors were logged when they failed)",
                deleted.Unprocessed, Kept.TotalDays);
        if (deleted.All > 0) logger.LogInformation("Deleted {Count} webhook deliveries older than {Days} days", deleted.All, Kept.TotalDays);
        return deleted.All;
    }

    async Task FinishAsync(long id, WebhookOutcome? outcome, Guid? orgId, string? error, CancellationToken cancellationToken)
    {
        await using var db = system.Open("record a processed webhook");
        var processedAt = outcome is null ? (DateTimeOffset?)null : clock.GetUtcNow();
        var text = outcome is null ? null : SnakeCase.ValueOf(outcome.Value);
        error = error?[..Math.Min(error.Length, 1000)];
        await db.Database.ExecuteSqlAsync($"""
            UPDATE webhook_inbox SET processed_at = {processedAt}, outcome = {text}, error = {error}, locked_until = NULL, org_id = coalesce({orgId}, org_id)
            WHERE id = {id}
            """, cancellationToken);
    }

    /// <summary>
    /// A request whose authenticity did not check out: no detail for the caller; the reason goes to the security audit log (no org:
    /// an unverified request names none) and the log.
    /// </summary>
    public async Task<IResult> RefuseAsync(HttpContext http, string path, int status, string reason)
    {
        logger.LogWarning("Refused a webhook to {Path}: {Reason}", path, reason);
        await using var db = system.Open("audit a refused webhook");
        http.RequestServices.GetRequiredService<SecurityAudit>().Record(db, AuditEvents.NotetakerWebhookRejected, AuditSeverity.Medium, null, null,
            new { reason, path }, http);
        await db.SaveChangesAsync(CancellationToken.None);
        return Results.StatusCode(status);
    }
}

/// <summary>Daily at 03:30 UTC: webhook deliveries and Slack callbacks older than <see cref="WebhookInbox.Kept"/> are deleted.</summary>
[DisallowConcurrentExecution]
public sealed class InboxCleanupJob(WebhookInbox webhooks, Slack.SlackInbox slack, ILogger<InboxCleanupJob> logger) : IJob
{
    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        await webhooks.DeleteOldAsync(cancellationToken);
        if (await slack.DeleteOldAsync(WebhookInbox.Kept, cancellationToken) is > 0 and var deleted)
            logger.LogInformation("Deleted {Count} Slack callbacks older than {Days} days", deleted, WebhookInbox.Kept.TotalDays);
    }
}
