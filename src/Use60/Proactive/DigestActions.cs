using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.SemanticKernel;
using Use60.Copilot;
using Use60.Data;
using Use60.Slack;

namespace Use60.Proactive;

/// <summary>The digest's buttons: open a deal, draft a follow-up (a preview to confirm, through the copilot's tools), snooze a suggestion.</summary>
static class DigestActions
{
    public static readonly TimeSpan SnoozeFor = TimeSpan.FromDays(7);

    public static void Register(SlackListeners slack) => slack
        .Action(PipelineDigest.OpenDealAction, OpenDealAsync)
        .Action(PipelineDigest.DraftFollowUpAction, DraftFollowUpAsync)
        .Action(PipelineDigest.SnoozeAction, SnoozeAsync);

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
            INSERT INTO proactive_snoozes (org_id, user_id, entity_key, until) VALUES ({request.Org.Id}, {request.User.Id}, {"deal:" + dealId}, {until})
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
