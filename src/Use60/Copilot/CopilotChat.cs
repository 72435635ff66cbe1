using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.SemanticKernel;
using Use60.Data;
using Use60.Orgs;

namespace Use60.Copilot;

/// <summary>One turn's answer: text, structured responses, previews waiting for Confirm, or a clarifying question.</summary>
public sealed record CopilotAnswer(long MessageId, string Text, IReadOnlyList<JsonObject> Structured, IReadOnlyList<PendingAction> Previews,
    Clarification? Clarify);

/// <summary>The outcome of a Confirm or Cancel, for the message that showed the preview.</summary>
public sealed record DecisionOutcome(bool Done, string Text, PendingAction? Action);

/// <summary>
/// The copilot's front door for every channel (DM, @mention, /sixty, Copilot Lab): keeps the rep's private
/// conversation, picks the planner, and turns Confirm and Cancel into exactly-once execution.
/// </summary>
public sealed class CopilotChat(Use60Db db, CopilotSession session, OfflinePlanner offline, LlmPlanner llm, CopilotLimits limits, CopilotTools tools,
    PendingActions pending, TimeProvider clock, ILogger<CopilotChat> logger)
{
    /// <summary>A conversation continues while messages are less than this far apart.</summary>
    public static readonly TimeSpan ConversationGap = TimeSpan.FromHours(2);

    /// <summary>How much of the conversation the model sees besides the new message.</summary>
    const int HistoryMessages = 10;

    public async Task<CopilotAnswer> AskAsync(AppUser rep, string channel, string text, CancellationToken cancellationToken,
        EntityCandidate? chosen = null)
    {
        session.Start(rep);
        var conversation = await ConversationAsync(channel, cancellationToken);
        await AddMessageAsync(conversation, MessageRole.User, text, null, null, cancellationToken);
        await CountRequestAsync(cancellationToken);

        PlannerAnswer answer;
        var planner = OfflinePlanner.Name;
        var intent = OfflineIntents.Parse(text, session.Today);
        var check = llm.IsConfigured ? await limits.CheckAsync(cancellationToken) : null;
        if (chosen is null && intent.Kind is OfflineIntentKind.Confirm or OfflineIntentKind.Cancel)
            answer = await DecideLatestAsync(intent.Kind == OfflineIntentKind.Confirm, cancellationToken);
        // Declining is decided in code, before any model sees the request.
        else if (intent.Kind == OfflineIntentKind.Declined)
            answer = new PlannerAnswer(OfflinePlanner.Decline(intent.Slot("reason")));
        else if (check is { LlmAllowed: true })
        {
            planner = LlmPlanner.Name;
            var history = await db.ConversationMessages.AsNoTracking().Where(m => m.ConversationId == conversation.Id)
                .OrderByDescending(m => m.Id).Skip(1).Take(HistoryMessages).OrderBy(m => m.Id).ToListAsync(cancellationToken);
            var asked = chosen is null ? text : $"{text}\n(I mean {chosen.Name}{(string.IsNullOrEmpty(chosen.Detail) ? "" : ", " + chosen.Detail)}: {chosen.Type} id {chosen.Id}.)";
            answer = Guarded(await llm.PlanAsync(asked, history, cancellationToken), text);
        }
        else
        {
            answer = await offline.PlanAsync(text, chosen, cancellationToken);
            // Why the model did not answer, when it would have: a limit, and when it resets.
            if (check?.Note is { } note) answer = answer with { Text = answer.Text + "\n\n_" + note + "_" };
        }

        var structured = new JsonObject
        {
            ["responses"] = new JsonArray([.. session.Structured.Select(s => s.DeepClone())]),
            ["previews"] = new JsonArray([.. session.Previews.Select(p => (JsonNode)p.Id.ToString())]),
        };
        if (answer.Clarify is { } clarify)
            structured["clarification"] = new JsonObject
            {
                ["original"] = text, ["reference"] = clarify.Reference, ["entity_type"] = clarify.EntityType,
                ["candidates"] = JsonSerializer.SerializeToNode(clarify.Candidates, CopilotActions.Json),
            };
        var message = await AddMessageAsync(conversation, MessageRole.Assistant, answer.Text, structured, planner, cancellationToken);
        logger.LogInformation("Copilot answered rep {UserId} with {Responses} structured response(s), {Previews} preview(s){Clarify}", rep.Id,
            session.Structured.Count, session.Previews.Count, answer.Clarify is null ? "" : " and a clarifying question");
        return new CopilotAnswer(message.Id, answer.Text, session.Structured, session.Previews, answer.Clarify);
    }

    /// <summary>A model's reply that states figures no tool gave is not shown: what the tools returned is, or an honest note.</summary>
    PlannerAnswer Guarded(PlannerAnswer answer, string userText)
    {
        var unsupported = ReplyGuard.Unsupported(answer.Text, session.ToolOutputs, userText);
        if (unsupported.Count == 0) return answer;
        logger.LogWarning("The model stated figures no tool returned ({Figures}); its reply was withheld", string.Join(", ", unsupported));
        return answer with
        {
            Text = session.Structured.Count + session.Previews.Count > 0
                ? "Here's what your CRM says:"
                : "I couldn't check every figure in my answer against your CRM, so I'm not showing it. Try asking more specifically, or type `/sixty help`.",
        };
    }

    /// <summary>The rep picked a candidate from a clarifying question: the original request goes on with that entity.</summary>
    public async Task<CopilotAnswer?> ChooseAsync(AppUser rep, long questionId, Guid candidateId, CancellationToken cancellationToken)
    {
        var question = await db.ConversationMessages.AsNoTracking().SingleOrDefaultAsync(m => m.Id == questionId && m.UserId == rep.Id, cancellationToken);
        if (question?.Structured is null || JsonNode.Parse(question.Structured)?["clarification"] is not JsonObject clarification) return null;
        var candidates = JsonSerializer.Deserialize<List<EntityCandidate>>(clarification["candidates"]!.ToJsonString(), CopilotActions.Json)!;
        if (candidates.FirstOrDefault(c => c.Id == candidateId) is not { } chosen) return null;
        var channel = await db.Conversations.Where(c => c.Id == question.ConversationId).Select(c => c.Channel).SingleAsync(cancellationToken);
        return await AskAsync(rep, channel, (string)clarification["original"]!, cancellationToken, chosen);
    }

    /// <summary>Confirm (execute exactly once) or Cancel a pending action, by the rep it belongs to.</summary>
    public async Task<DecisionOutcome> DecideAsync(AppUser rep, Guid actionId, bool confirm, CancellationToken cancellationToken)
    {
        session.Start(rep);
        if (!confirm)
        {
            var refusal = await pending.CancelAsync(actionId, cancellationToken);
            return refusal == ClaimRefusal.None
                ? new DecisionOutcome(true, "Cancelled — nothing was done.", null)
                : new DecisionOutcome(false, PendingActions.Explain(refusal), null);
        }
        var (action, why) = await pending.ClaimAsync(actionId, cancellationToken);
        if (action is null) return new DecisionOutcome(false, PendingActions.Explain(why), null);
        session.ConversationId = action.ConversationId;
        session.Confirm(action);
        try
        {
            var result = await tools.CallAsync(CopilotTools.ExecuteAction, new KernelArguments
            {
                ["action"] = action.Action, ["params"] = JsonNode.Parse(action.Params)!.AsObject(), ["is_simulation"] = false,
            }, cancellationToken);
            if (result["error"] is { } error)
            {
                await pending.FinishAsync(action.Id, null, (string?)error, cancellationToken);
                return new DecisionOutcome(false, $"I couldn't do that: {error}. Nothing was retried.", action);
            }
            await pending.FinishAsync(action.Id, result, null, cancellationToken);
            logger.LogInformation("Rep {UserId} confirmed {Action} {PendingActionId}; done", rep.Id, action.Action, action.Id);
            return new DecisionOutcome(true, (string?)result["summary"] ?? "Done.", action);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogError(e, "Confirmed action {PendingActionId} ({Action}) failed", action.Id, action.Action);
            await pending.FinishAsync(action.Id, null, e.GetType().Name, CancellationToken.None);
            return new DecisionOutcome(false, "That failed on our side, and I haven't retried it so nothing happens twice. Ask me again for a fresh preview.", action);
        }
        finally
        {
            session.ClearConfirmation();
        }
    }

    /// <summary>A typed "confirm" or "cancel" answers the rep's latest preview.</summary>
    async Task<PlannerAnswer> DecideLatestAsync(bool confirm, CancellationToken cancellationToken)
    {
        if (await pending.LatestAsync(cancellationToken) is not { } latest) return new PlannerAnswer("There's nothing waiting for your confirmation.");
        var outcome = await DecideAsync(session.User, latest.Id, confirm, cancellationToken);
        return new PlannerAnswer(outcome.Text);
    }

    async Task<Conversation> ConversationAsync(string channel, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var since = now - ConversationGap;
        var conversation = await db.Conversations.Where(c => c.UserId == session.User.Id && c.Channel == channel && c.LastMessageAt > since && c.ArchivedAt == null)
            .OrderByDescending(c => c.LastMessageAt).FirstOrDefaultAsync(cancellationToken);
        if (conversation is null)
        {
            conversation = new Conversation { OrgId = session.OrgId, UserId = session.User.Id, Channel = channel, StartedAt = now, LastMessageAt = now };
            db.Conversations.Add(conversation);
        }
        conversation.LastMessageAt = now;
        await db.SaveChangesAsync(cancellationToken);
        session.ConversationId = conversation.Id;
        return conversation;
    }

    async Task<ConversationMessage> AddMessageAsync(Conversation conversation, MessageRole role, string text, JsonObject? structured, string? planner,
        CancellationToken cancellationToken)
    {
        var message = new ConversationMessage
        {
            OrgId = session.OrgId, UserId = session.User.Id, ConversationId = conversation.Id, Role = role, Text = text,
            Structured = structured?.ToJsonString(), Planner = planner,
        };
        db.ConversationMessages.Add(message);
        await db.SaveChangesAsync(cancellationToken);
        return message;
    }

    async Task CountRequestAsync(CancellationToken cancellationToken)
    {
        var today = DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime);
        var month = new DateOnly(today.Year, today.Month, 1);
        await db.Database.ExecuteSqlAsync($"""
            INSERT INTO copilot_usage (org_id, user_id, month, requests) VALUES ({session.OrgId}, {session.User.Id}, {month}, 1)
            ON CONFLICT (org_id, user_id, month) DO UPDATE SET requests = copilot_usage.requests + 1
            """, cancellationToken);
    }
}
