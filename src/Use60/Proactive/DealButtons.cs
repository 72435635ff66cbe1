using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.SemanticKernel;
using Use60.Copilot;
using Use60.Data;
using Use60.Slack;

namespace Use60.Proactive;

/// <summary>
/// The buttons proactive messages put under a deal (the digest's next actions, a stall alert): open it, draft a follow-up
/// (a preview to confirm, through the copilot's tools), snooze it for a week, mark it lost (a preview to confirm).
/// </summary>
public static class DealButtons
{
    public const string Open = "deal_open", DraftFollowUp = "deal_draft_follow_up", Snooze = "deal_snooze", MarkLost = "deal_mark_lost";

    public static readonly TimeSpan SnoozeFor = TimeSpan.FromDays(7);

    public static IReadOnlyList<BlockElement> For(Guid dealId, bool markLost = false) =>
    [
        new ButtonElement("Open deal", Open, dealId.ToString()),
        new ButtonElement("Draft follow-up", DraftFollowUp, dealId.ToString(), ButtonStyle.Primary),
        new ButtonElement("Snooze 7 days", Snooze, dealId.ToString()),
        .. markLost ? [new ButtonElement("Mark lost", MarkLost, dealId.ToString(), ButtonStyle.Danger)] : Array.Empty<BlockElement>(),
    ];

    /// <summary>The snooze key of a deal in proactive_snoozes.</summary>
    public static string SnoozeKey(Guid dealId) => "deal:" + dealId;

    public static void Register(SlackListeners slack) => slack
        .Action(Open, Engagement.Tracked(OpenDealAsync))
        .Action(DraftFollowUp, Engagement.Tracked(DraftFollowUpAsync))
        .Action(Snooze, Engagement.Tracked(SnoozeAsync, Engagement.Kind.Dismiss))
        .Action(MarkLost, Engagement.Tracked(MarkLostAsync))
        .Action(PipelineDigest.RestoreAction, RestoreDigestAsync);

    /// <summary>Back from weekly to daily: the throttle is lifted and the notice says so.</summary>
    static async Task RestoreDigestAsync(SlackRequest request)
    {
        await request.Service<Use60Db>().Database.ExecuteSqlAsync(
            $"DELETE FROM proactive_throttles WHERE user_id = {request.User.Id} AND workflow = 'daily_digest'", request.Aborted);
        request.Reply(request.Edited(request.ActionBlockId, "✅ Your pipeline summary is daily again."), ReplyTarget.Original);
    }

    static async Task MarkLostAsync(SlackRequest request)
    {
        var tools = Tools(request);
        var preview = await tools.CallAsync(CopilotTools.ExecuteAction, new KernelArguments
        {
            ["action"] = "update_deal_stage", ["params"] = new JsonObject { ["deal_id"] = request.ActionValue, ["stage"] = "closed_lost" },
        }, request.Aborted);
        if (preview["error"] is { } error)
        {
            request.Reply(new SlackMessage($"I can't mark that deal lost: {error}"));
            return;
        }
        request.Reply(CopilotBlocks.Answer(new CopilotAnswer(0, "Confirm to mark it lost.", [], request.Service<CopilotSession>().Previews, null)),
            ReplyTarget.DirectMessage);
    }

    static async Task OpenDealAsync(SlackRequest request)
    {
        var tools = Tools(request);
        var deal = await tools.CallAsync(CopilotTools.ExecuteAction,
            new KernelArguments { ["action"] = "get_deal", ["params"] = new JsonObject { ["deal_id"] = request.ActionValue } }, request.Aborted);
        if (deal["error"] is { } error)
        {
            request.Reply(new SlackMessage($"I can't open that deal: {error}"));
            return;
        }
        deal["type"] = "deal_status";
        request.Reply(CopilotBlocks.Answer(new CopilotAnswer(0, "Here's the deal:", [deal], [], null)));
    }

    static async Task DraftFollowUpAsync(SlackRequest request)
    {
        var tools = Tools(request);
        var session = request.Service<CopilotSession>();
        var deal = await tools.CallAsync(CopilotTools.ExecuteAction,
            new KernelArguments { ["action"] = "get_deal", ["params"] = new JsonObject { ["deal_id"] = request.ActionValue } }, request.Aborted);
        if (deal["primary_contact"]?["contact_id"] is not { } contact)
        {
            request.Reply(new SlackMessage((string?)deal["error"] is { } error ? $"I can't draft that: {error}" : "That deal has no main contact to write to yet."));
            return;
        }
        var name = (string?)deal["deal"]?["name"];
        var draft = await tools.CallAsync(CopilotTools.ExecuteAction, new KernelArguments
        {
            ["action"] = "draft_email", ["params"] = new JsonObject { ["contact_id"] = contact.DeepClone(), ["topic"] = $"next steps on {name}" },
        }, request.Aborted);
        if (draft["error"] is { } draftError)
        {
            request.Reply(new SlackMessage($"I can't draft that: {draftError}"));
            return;
        }
        await tools.CallAsync(CopilotTools.ExecuteAction, new KernelArguments
        {
            ["action"] = "send_email",
            ["params"] = new JsonObject { ["contact_id"] = contact.DeepClone(), ["subject"] = draft["subject"]!.DeepClone(), ["body"] = draft["body"]!.DeepClone() },
        }, request.Aborted);
        request.Reply(CopilotBlocks.Answer(new CopilotAnswer(0, $"Here's a follow-up for {name}. Confirm to send it.", [], session.Previews, null)),
            ReplyTarget.DirectMessage);
    }

    static async Task SnoozeAsync(SlackRequest request)
    {
        if (!Guid.TryParse(request.ActionValue, out var dealId)) return;
        var until = request.Service<TimeProvider>().GetUtcNow() + SnoozeFor;
        await request.Service<Use60Db>().Database.ExecuteSqlAsync($"""
            INSERT INTO proactive_snoozes (org_id, user_id, entity_key, until) VALUES ({request.Org.Id}, {request.User.Id}, {SnoozeKey(dealId)}, {until})
            ON CONFLICT (user_id, entity_key) DO UPDATE SET until = excluded.until
            """, request.Aborted);
        request.Reply(new SlackMessage($"Snoozed: I won't suggest that deal again until {until:ddd d MMM}."));
    }

    static CopilotTools Tools(SlackRequest request)
    {
        request.Service<CopilotSession>().Start(request.User);
        return request.Service<CopilotTools>();
    }
}
