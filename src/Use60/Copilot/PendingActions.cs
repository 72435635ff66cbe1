using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Use60.Data;

namespace Use60.Copilot;

/// <summary>Why a Confirm or Cancel did nothing, in words for the rep.</summary>
public enum ClaimRefusal { None, NotFound, OtherUser, AlreadyDone, InProgress, Failed, Cancelled, Expired }

/// <summary>Told when a rep confirms or cancels a preview (in their own scope), e.g. to count it as engagement with a proactive message.</summary>
public interface IPendingActionDecisions
{
    Task DecidedAsync(PendingAction action, bool confirmed, CancellationToken cancellationToken);
}

/// <summary>
/// Previews waiting for Confirm. A confirm claims the row with one conditional UPDATE, so a double click, a Slack
/// retry or a second replica finds it taken and executes nothing; the rep is told why.
/// </summary>
public sealed class PendingActions(Use60Db db, SystemDb system, CopilotSession session, TimeProvider clock, IEnumerable<IPendingActionDecisions> observers)
{
    public async Task<PendingAction> CreateAsync(string action, JsonObject parameters, JsonObject preview, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var row = new PendingAction
        {
            OrgId = session.OrgId, UserId = session.User.Id, ConversationId = session.ConversationId, Action = action,
            Params = parameters.ToJsonString(), Preview = preview.ToJsonString(), CreatedAt = now, ExpiresAt = now + PendingAction.Lifetime,
            ProactiveDeliveryId = session.ProactiveDeliveryId,
        };
        db.PendingActions.Add(row);
        await db.SaveChangesAsync(cancellationToken);
        return row;
    }

    /// <summary>Moves the rep's own pending, unexpired action to executing; otherwise says why not.</summary>
    public async Task<(PendingAction? Action, ClaimRefusal Refusal)> ClaimAsync(Guid id, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var claimed = await db.PendingActions.FromSql($"""
            UPDATE pending_actions SET status = 'executing', decided_at = {now}
            WHERE id = {id} AND user_id = {session.User.Id} AND status = 'pending' AND expires_at > {now}
            RETURNING *
            """).AsNoTracking().ToListAsync(cancellationToken);
        if (claimed is not [var row]) return (null, await WhyNotAsync(id, now, cancellationToken));
        await NotifyAsync(row, confirmed: true, cancellationToken);
        return (row, ClaimRefusal.None);
    }

    public async Task FinishAsync(Guid id, JsonObject? result, string? error, CancellationToken cancellationToken) =>
        await db.PendingActions.Where(a => a.Id == id).ExecuteUpdateAsync(s => s
            .SetProperty(a => a.Status, error is null ? PendingActionStatus.Executed : PendingActionStatus.Failed)
            .SetProperty(a => a.Result, result == null ? null : result.ToJsonString()).SetProperty(a => a.Error, error), cancellationToken);

    public async Task<ClaimRefusal> CancelAsync(Guid id, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var cancelled = await db.PendingActions.FromSql($"""
            UPDATE pending_actions SET status = 'cancelled', decided_at = {now}
            WHERE id = {id} AND user_id = {session.User.Id} AND status = 'pending'
            RETURNING *
            """).AsNoTracking().ToListAsync(cancellationToken);
        if (cancelled is not [var row]) return await WhyNotAsync(id, now, cancellationToken);
        await NotifyAsync(row, confirmed: false, cancellationToken);
        return ClaimRefusal.None;
    }

    async Task NotifyAsync(PendingAction action, bool confirmed, CancellationToken cancellationToken)
    {
        foreach (var observer in observers) await observer.DecidedAsync(action, confirmed, cancellationToken);
    }

    /// <summary>The rep's most recent action still waiting for Confirm: what a typed "confirm" means.</summary>
    public Task<PendingAction?> LatestAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        return db.PendingActions.AsNoTracking().Where(a => a.UserId == session.User.Id && a.Status == PendingActionStatus.Pending && a.ExpiresAt > now)
            .OrderByDescending(a => a.CreatedAt).FirstOrDefaultAsync(cancellationToken);
    }

    public async Task RememberMessageAsync(IEnumerable<Guid> ids, string channel, string ts, CancellationToken cancellationToken)
    {
        var list = ids.ToList();
        await db.PendingActions.Where(a => list.Contains(a.Id)).ExecuteUpdateAsync(s => s.SetProperty(a => a.SlackChannel, channel).SetProperty(a => a.SlackTs, ts),
            cancellationToken);
    }

    async Task<ClaimRefusal> WhyNotAsync(Guid id, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // Another rep's action is invisible through row-level security; the system path tells "not yours" from "gone".
        await using var read = system.Open("explain why a pending action cannot be confirmed");
        var row = await read.PendingActions.AsNoTracking().Where(a => a.Id == id && a.OrgId == session.OrgId).Select(a => new { a.UserId, a.Status, a.ExpiresAt })
            .SingleOrDefaultAsync(cancellationToken);
        return row switch
        {
            null => ClaimRefusal.NotFound,
            _ when row.UserId != session.User.Id => ClaimRefusal.OtherUser,
            { Status: PendingActionStatus.Executed } => ClaimRefusal.AlreadyDone,
            { Status: PendingActionStatus.Executing } => ClaimRefusal.InProgress,
            { Status: PendingActionStatus.Failed } => ClaimRefusal.Failed,
            { Status: PendingActionStatus.Cancelled } => ClaimRefusal.Cancelled,
            _ when row.ExpiresAt <= now => ClaimRefusal.Expired,
            _ => ClaimRefusal.NotFound,
        };
    }

    public static string Explain(ClaimRefusal refusal) => refusal switch
    {
        ClaimRefusal.OtherUser => "Only the person who asked for this can confirm or cancel it.",
        ClaimRefusal.AlreadyDone => "That was already done — I haven't done it again.",
        ClaimRefusal.InProgress => "That is already being done — I haven't started it a second time.",
        ClaimRefusal.Failed => "That was tried once and failed; I haven't retried it. Ask me again to get a fresh preview.",
        ClaimRefusal.Cancelled => "That was cancelled, so I haven't done it. Ask me again if you still want it.",
        ClaimRefusal.Expired => "That preview expired (they last 24 hours), so I haven't done it. Ask me again for a fresh one.",
        _ => "I can't find that action any more, so I haven't done anything.",
    };
}
