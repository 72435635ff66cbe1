using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Use60.Copilot;
using Use60.Data;
using Use60.Recordings;
using Use60.Slack;

namespace Use60.Proactive;

/// <summary>
/// When a recorded meeting's first transcript lands, its rep gets the follow-up pack by DM, exactly once per meeting: the copilot
/// runs <c>seq-post-meeting-followup-pack</c> in simulation for that meeting (summary, decisions, action items, the follow-up email
/// and a task per action item), and each email or task comes as a preview with Confirm and Cancel.
/// </summary>
public sealed class FollowUpPacks(IServiceScopeFactory scopes, ILogger<FollowUpPacks> logger) : ITranscriptLanded
{
    public const string Sequence = "seq-post-meeting-followup-pack";

    public async Task LandedAsync(TranscriptArrival arrival, TranscriptStored stored, CancellationToken cancellationToken)
    {
        if (stored.IsFirst) await SendAsync(arrival.OrgId, arrival.UserId, stored.MeetingId, cancellationToken);
    }

    /// <summary>Sends the pack for one recorded meeting; false when it was sent before (by this or another replica).</summary>
    public async Task<bool> SendAsync(Guid orgId, Guid userId, Guid meetingId, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateTenantScope(orgId, userId);
        var services = scope.ServiceProvider;
        var db = services.GetRequiredService<Use60Db>();
        var key = meetingId.ToString();
        // Checked first so a repeat does not leave previews nobody sees; the claim below is what guarantees once.
        if (await db.ProactiveDeliveries.AnyAsync(d => d.UserId == userId && d.Workflow == Workflow.FollowUpPack && d.EntityKey == key, cancellationToken))
            return false;
        var rep = await db.Users.AsNoTracking().SingleAsync(u => u.Id == userId, cancellationToken);
        var session = services.GetRequiredService<CopilotSession>();
        session.Start(rep);
        var pack = await services.GetRequiredService<CopilotTools>().RunSequenceAsync(Sequence, new JsonObject { ["meeting_id"] = key }, cancellationToken);
        if (pack["error"] is { } error)
        {
            logger.LogWarning("The follow-up pack for meeting {MeetingId} could not be made: {Error}", meetingId, (string?)error);
            return false;
        }
        var title = (string?)pack["outputs"]?["meeting"]?["title"] ?? "your meeting";
        var message = CopilotBlocks.Answer(new CopilotAnswer(0, $"Here's your follow-up pack for *{title}*, from its recording. " +
                                                                "Check each one, then Confirm or Cancel.", session.Structured, session.Previews, null));
        var sent = await services.GetRequiredService<ProactiveDeliveries>().QueueAsync(db, Workflow.FollowUpPack, key,
            OutboxDraft.Dm(orgId, userId, message, "follow-up pack " + key), cancellationToken);
        if (sent && session.Previews.Count > 0)
        {
            // Confirms and cancels on these previews count as engagement with this message.
            var previews = session.Previews.Select(p => p.Id).ToArray();
            await db.Database.ExecuteSqlAsync($"""
                UPDATE pending_actions SET proactive_delivery_id =
                    (SELECT id FROM proactive_deliveries WHERE user_id = {userId} AND workflow = 'follow_up_pack' AND entity_key = {key})
                WHERE id = ANY ({previews})
                """, cancellationToken);
        }
        logger.LogInformation("Follow-up pack for meeting {MeetingId}: {Outcome} ({Previews} previews)", meetingId, sent ? "sent" : "already sent",
            session.Previews.Count);
        return sent;
    }
}
