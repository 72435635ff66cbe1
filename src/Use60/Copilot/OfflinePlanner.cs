using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.SemanticKernel;

namespace Use60.Copilot;

/// <summary>The rep must pick one of several matches before the request can go on.</summary>
public sealed record Clarification(string Question, string Reference, string EntityType, IReadOnlyList<EntityCandidate> Candidates);

/// <summary>What a planner produced for one turn: text, and what the tools left in the session (structured responses, previews).</summary>
public sealed record PlannerAnswer(string Text, Clarification? Clarify = null);

/// <summary>
/// The planner used when no LLM endpoint is configured (and when a usage limit is reached): deterministic intent
/// routing for the frequent requests, making the same tool calls an LLM would, through the same four tools.
/// </summary>
public sealed class OfflinePlanner(CopilotTools tools, CopilotSession session)
{
    public const string Name = "offline";

    public static readonly string Capabilities =
        "Here is what I can do for you:\n" +
        "• *Meetings* — “what meetings do I have today / tomorrow / this week?”\n" +
        "• *Meeting prep* — “prep me for my next meeting”\n" +
        "• *Follow-ups* — “follow-ups for my last meeting”\n" +
        "• *Pipeline* — “pipeline summary”\n" +
        "• *Tasks* — “what's overdue?”, “remind me to call Sarah on Friday”\n" +
        "• *Email* — “draft an email to Sarah about pricing” (I show you a preview; nothing is sent until you confirm)\n" +
        "• *Deals* — “how is the TechCorp deal going?”";

    /// <param name="chosen">An entity the rep picked after a clarifying question, for the reference it answers.</param>
    public async Task<PlannerAnswer> PlanAsync(string text, EntityCandidate? chosen, CancellationToken cancellationToken)
    {
        var intent = OfflineIntents.Parse(text, session.Today);
        switch (intent.Kind)
        {
            case OfflineIntentKind.Help:
                return new PlannerAnswer($"Hi {session.FirstName}! " + Capabilities);
            case OfflineIntentKind.MeetingsForPeriod:
                return await StructuredAsync("get_meetings_for_period", new() { ["period"] = intent.Slot("period") ?? "today" }, cancellationToken);
            case OfflineIntentKind.PrepNextMeeting:
                return await StructuredAsync("run_sequence", new() { ["sequence_key"] = "seq-next-meeting-command-center", ["inputs"] = new JsonObject() }, cancellationToken);
            case OfflineIntentKind.FollowUpLastMeeting:
                return await StructuredAsync("run_sequence", new() { ["sequence_key"] = "seq-post-meeting-followup-pack", ["inputs"] = new JsonObject() }, cancellationToken);
            case OfflineIntentKind.PipelineSummary:
                return await StructuredAsync("get_pipeline_summary", [], cancellationToken);
            case OfflineIntentKind.OverdueTasks:
                return await StructuredAsync("get_overdue_tasks", [], cancellationToken);
            case OfflineIntentKind.CreateReminder:
                if (intent.Slot("title") is not { Length: > 0 } title) return new PlannerAnswer("What should I remind you to do, and when? For example: “remind me to call Sarah on Friday”.");
                if (intent.Slot("due") is not { } due) return new PlannerAnswer($"When should I remind you to {title}? Say a day, like “on Friday” or “on 2026-12-01”.");
                return await StructuredAsync("create_task", new() { ["title"] = Capitalise(title), ["due_date"] = due }, cancellationToken);
            case OfflineIntentKind.DraftEmail:
            {
                var name = intent.Slot("name") ?? "";
                var (contact, question) = await ResolveAsync(name, "contact", chosen, cancellationToken);
                if (contact is null) return question!;
                var draft = await ExecuteAsync("draft_email", new() { ["contact_id"] = contact.Id.ToString(), ["topic"] = intent.Slot("topic") }, cancellationToken);
                if (draft["error"] is not null) return new PlannerAnswer((string)draft["error"]!);
                await ExecuteAsync("send_email", new() { ["contact_id"] = contact.Id.ToString(), ["subject"] = (string?)draft["subject"], ["body"] = (string?)draft["body"] },
                    cancellationToken);
                return new PlannerAnswer($"Here's a draft to {contact.Name}. Check it, then Confirm to send it or Cancel.");
            }
            case OfflineIntentKind.DealStatus:
            {
                var (deal, question) = await ResolveAsync(intent.Slot("deal") ?? "", "deal", chosen, cancellationToken);
                if (deal is null) return question!;
                var result = await ExecuteAsync("get_deal", new() { ["deal_id"] = deal.Id.ToString() }, cancellationToken);
                if (result["error"] is not null) return new PlannerAnswer((string)result["error"]!);
                result["type"] = "deal_status";
                session.Structured.Add(result);
                return new PlannerAnswer($"Here's where {deal.Name} stands.");
            }
            case OfflineIntentKind.SearchMeetings:
            {
                var result = await ExecuteAsync("search_meetings", new() { ["query"] = intent.Slot("query") }, cancellationToken);
                if (result["error"] is not null) return new PlannerAnswer((string)result["error"]!);
                var hits = result["meetings"]!.AsArray();
                if (hits.Count == 0) return new PlannerAnswer($"I found nothing about \"{intent.Slot("query")}\" in your recorded meetings.");
                return new PlannerAnswer($"Here's what I found in your recorded meetings:\n" + string.Join('\n', hits.Select(h =>
                    $"• *{(string)h!["title"]!}* ({DateTimeOffset.Parse((string)h["start"]!, CultureInfo.InvariantCulture).ToString("d MMM", CultureInfo.InvariantCulture)}): {(string)h["snippet"]!}")));
            }
            case OfflineIntentKind.Declined:
                return new PlannerAnswer(Decline(intent.Slot("reason")));
            default:
                return new PlannerAnswer("I'm not sure what you mean. " + Capabilities + "\nType `/sixty help` for every command.");
        }
    }

    public static string Decline(string? reason) => reason switch
    {
        "politics" or "religion" => "I keep out of politics and religion — I'm here for your pipeline, meetings and customers. What can I do on those?",
        "personal_data" => "I can't look up personal details of people outside your CRM. I can help with your contacts, deals and meetings.",
        _ => "That's outside what I do: I'm your sales teammate for pipeline, meetings, tasks and follow-ups. For anything else, ask a colleague. " +
             "Type `/sixty help` to see what I can do.",
    };

    async Task<PlannerAnswer> StructuredAsync(string action, JsonObject parameters, CancellationToken cancellationToken)
    {
        var result = await ExecuteAsync(action, parameters, cancellationToken);
        if (result["error"] is not null) return new PlannerAnswer((string)result["error"]!);
        if (result["status"]?.GetValue<string>() == "preview") return new PlannerAnswer("Here's what I'll do once you confirm.");
        return new PlannerAnswer(Lead(result));
    }

    string Lead(JsonObject result) => (string?)result["type"] switch
    {
        "meeting_list" => result["meetings"]!.AsArray().Count == 0 ? $"You have no meetings with other people {result["period"]}." : $"Your meetings {result["period"]}:",
        "pipeline_summary" => $"Here's your pipeline, {session.FirstName}:",
        "task_list" => result["tasks"]!.AsArray().Count == 0 ? "Nothing is overdue. Nice work!" : "Here's what's overdue:",
        "next_meeting_command_center" => "Here's your brief for the next meeting:",
        "post_meeting_followup_pack" => "Here's your follow-up pack for the last meeting. Nothing is sent or created until you confirm.",
        _ => "Done.",
    };

    Task<JsonObject> ExecuteAsync(string action, JsonObject parameters, CancellationToken cancellationToken) =>
        tools.CallAsync(CopilotTools.ExecuteAction, new KernelArguments { ["action"] = action, ["params"] = parameters, ["is_simulation"] = true }, cancellationToken);

    async Task<(EntityCandidate?, PlannerAnswer?)> ResolveAsync(string name, string type, EntityCandidate? chosen, CancellationToken cancellationToken)
    {
        if (chosen is not null && chosen.Type == type) return (chosen, null);
        if (name.Length == 0) return (null, new PlannerAnswer($"Which {type} do you mean?"));
        var found = await tools.CallAsync(CopilotTools.ResolveEntity, new KernelArguments { ["name"] = name, ["entity_type"] = type }, cancellationToken);
        var candidates = System.Text.Json.JsonSerializer.Deserialize<List<EntityCandidate>>(found["candidates"]!.ToJsonString(), CopilotActions.Json)!;
        var good = EntityResolver.Good(candidates);
        return good switch
        {
            [var one] => (one, null),
            [] => (null, new PlannerAnswer($"I couldn't find a {type} called “{name}” in your CRM. Try the full name, or the company.")),
            _ => (null, new PlannerAnswer($"I found {good.Count} matches for “{name}”. Which one do you mean?",
                new Clarification($"Which {name} do you mean?", name, type, good))),
        };
    }

    static string Capitalise(string text) => text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];
}
