using System.Globalization;
using System.Text.Json.Nodes;
using Use60.Slack;

namespace Use60.Copilot;

/// <summary>The copilot's answers as Block Kit: its text, the structured responses, previews with Confirm/Cancel, clarifying buttons.</summary>
public static class CopilotBlocks
{
    public static string PreviewBlockId(Guid pendingActionId) => "pending:" + pendingActionId;

    public static SlackMessage Answer(CopilotAnswer answer)
    {
        var blocks = new List<Block> { new SectionBlock(answer.Text) };
        foreach (var response in answer.Structured) blocks.AddRange(Structured(response));
        foreach (var preview in answer.Previews) blocks.AddRange(Preview(preview));
        if (answer.Clarify is { } clarify)
            blocks.Add(new ActionsBlock([
                .. clarify.Candidates.Take(BlockKitLimits.MaxActionsElements - 1).Select(c => new ButtonElement(
                    string.IsNullOrEmpty(c.Detail) ? c.Name : $"{c.Name} — {c.Detail}", CopilotSlack.ChooseAction, $"{answer.MessageId}:{c.Id}")),
                new ButtonElement("None of these", CopilotSlack.NoneAction, answer.MessageId.ToString(CultureInfo.InvariantCulture)),
            ]) { BlockId = "clarify:" + answer.MessageId });
        return new SlackMessage(answer.Text, blocks);
    }

    static IEnumerable<Block> Preview(PendingAction action)
    {
        var preview = JsonNode.Parse(action.Preview)!.AsObject();
        var lines = preview.Where(p => p.Key != "title" && p.Value is not null)
            .Select(p => p.Key == "body" ? $"\n{p.Value}" : $"*{Label(p.Key)}:* {p.Value}");
        yield return new DividerBlock();
        yield return new SectionBlock($"*{preview["title"]}*\n" + string.Join('\n', lines));
        yield return new ActionsBlock([
            new ButtonElement("Confirm", CopilotSlack.ConfirmAction, action.Id.ToString(), ButtonStyle.Primary),
            new ButtonElement("Cancel", CopilotSlack.CancelAction, action.Id.ToString()),
        ]) { BlockId = PreviewBlockId(action.Id) };
        yield return new ContextBlock([$"Nothing happens until you confirm. This preview expires {action.ExpiresAt:ddd d MMM HH:mm} UTC."]);
    }

    static IEnumerable<Block> Structured(JsonObject response) => (string?)response["type"] switch
    {
        "meeting_list" => response["meetings"]!.AsArray().OfType<JsonObject>().Select(Meeting),
        "pipeline_summary" => Pipeline(response),
        "task_list" => response["tasks"]!.AsArray().OfType<JsonObject>().Select(t => (Block)new SectionBlock(
            $"*{t["title"]}* — due {t["due_date"]} ({t["days_overdue"]} day{((int?)t["days_overdue"] == 1 ? "" : "s")} overdue)" + (t["deal"] is { } deal ? $"\n{deal}" : ""))),
        "next_meeting_command_center" => CommandCenter(response["outputs"]!.AsObject()),
        "post_meeting_followup_pack" => response["outputs"]?["meeting"] is JsonObject meeting ? FollowUpPack(meeting) : [],
        "deal_status" => Deal(response),
        "deal_rescue_plan" => response["outputs"]?["deal"] is JsonObject deal ? [new HeaderBlock("Rescue plan"), .. Deal(deal), .. RescueSteps(deal)] : [],
        _ => [],
    };

    /// <summary>The pack's header, and what the transcript gave when the meeting was recorded: summary, decisions, action items.</summary>
    static IEnumerable<Block> FollowUpPack(JsonObject meeting)
    {
        yield return new HeaderBlock("Follow-ups: " + meeting["title"]);
        if (Guid.TryParse((string?)meeting["recording_id"], out var recordingId))
            yield return new ActionsBlock([Recordings.NotetakerSlack.PlayButton(recordingId)]) { BlockId = "recording:" + recordingId };
        else if (Recordings.FathomSlack.WatchButton((string?)meeting["video_url"]) is { } watch)
            yield return new ActionsBlock([watch]);
        if (meeting["notes"] is not JsonObject notes) yield break;
        if ((string?)notes["summary"] is { Length: > 0 } summary) yield return new SectionBlock("*Summary*\n" + summary);
        if (notes["decisions"] is JsonArray { Count: > 0 } decisions)
            yield return new SectionBlock("*Decisions*\n" + string.Join('\n', decisions.Select(d => "• " + d)));
        if (notes["action_items"] is JsonArray { Count: > 0 } items)
            yield return new SectionBlock("*Action items*\n" + string.Join('\n', items.OfType<JsonObject>().Select(i => $"• {i["title"]} ({i["speaker"]})")));
    }

    static Block Meeting(JsonObject meeting)
    {
        var people = meeting["attendees"]!.AsArray().OfType<JsonObject>().Where(a => (bool?)a["is_rep"] != true)
            .Select(a => (string?)a["name"] + (a["title"] is null ? "" : $" ({a["title"]}{(a["company"] is null ? "" : ", " + a["company"])})"));
        return new SectionBlock($"*{meeting["title"]}*\n{meeting["local_start"]} · with {string.Join(", ", people)}" +
                                (meeting["conference_url"] is { } url ? $"\n<{url}|Join>" : ""));
    }

    static IEnumerable<Block> Pipeline(JsonObject p)
    {
        var currency = (string?)p["currency"] ?? "USD";
        yield return new SectionBlock(null, [
            $"*Open deals*\n{p["open_deals"]}", $"*Pipeline*\n{Money(p["total"], currency)}", $"*Weighted*\n{Money(p["weighted"], currency)}",
        ]);
        if (p["closing_this_week"]!.AsArray() is { Count: > 0 } closing)
            yield return new SectionBlock("*Closing this week*\n" + string.Join('\n', closing.OfType<JsonObject>().Select(d => $"• {d["name"]} — {Money(d["amount"], currency)}, {d["close_date"]}")));
        if (p["stalled"]!.AsArray() is { Count: > 0 } stalled)
            yield return new SectionBlock("*Stalled (no activity for 7+ days)*\n" +
                                          string.Join('\n', stalled.OfType<JsonObject>().Select(d => $"• {d["name"]} — {d["days_since_activity"]} days quiet")));
    }

    static IEnumerable<Block> CommandCenter(JsonObject outputs)
    {
        if (outputs["meeting"] is not JsonObject meeting) yield break;
        yield return new HeaderBlock("Brief: " + meeting["title"]);
        yield return Meeting(meeting);
        foreach (var person in meeting["attendees"]!.AsArray().OfType<JsonObject>().Where(a => a["contact_id"] is not null))
        {
            var history = person["history"]?.AsArray().OfType<JsonObject>().Select(h => $"{h["type"]}: {h["subject"]}").Take(3).ToList() ?? [];
            yield return new SectionBlock($"*{person["name"]}* — {person["title"]}, {person["company"]}" +
                                          (history.Count > 0 ? "\nLast touches: " + string.Join("; ", history) : "\nNo logged history yet."));
        }
        if (outputs["deal"] is JsonObject deal)
            foreach (var block in Deal(deal)) yield return block;
        yield return new SectionBlock("*Talking points*\n" + string.Join('\n', TalkingPoints(outputs["deal"] as JsonObject).Select(t => "• " + t)));
    }

    static IEnumerable<Block> Deal(JsonObject detail)
    {
        var deal = detail["deal"]!.AsObject();
        var currency = (string?)deal["currency"] ?? "USD";
        yield return new SectionBlock($"*{deal["name"]}*", [
            $"*Stage*\n{Label((string?)deal["stage"] ?? "")}", $"*Amount*\n{Money(deal["amount"], currency)}",
            $"*Close date*\n{deal["close_date"] ?? "not set"}", $"*Last activity*\n{(deal["days_since_activity"] is { } days ? $"{days} days ago" : "none logged")}",
        ]);
        if (detail["open_tasks"]?.AsArray() is { Count: > 0 } tasks)
            yield return new SectionBlock("*Open tasks*\n" + string.Join('\n', tasks.OfType<JsonObject>().Select(t => $"• {t["title"]} (due {t["due_date"]})")));
        if (detail["recent_activities"]?.AsArray() is { Count: > 0 } activities)
            yield return new ContextBlock([string.Join(" · ", activities.OfType<JsonObject>().Take(3).Select(a => $"{a["type"]}: {a["subject"]}"))]);
        foreach (var c in detail["competitor_positioning"]?.AsArray().OfType<JsonObject>() ?? [])
            yield return new SectionBlock($"*Against {c["competitor"]}:* {c["positioning"]}");
    }

    static IEnumerable<string> TalkingPoints(JsonObject? detail)
    {
        var deal = detail?["deal"];
        if (deal?["next_step"] is { } next) yield return $"Agreed next step: {next}";
        foreach (var c in detail?["competitor_positioning"]?.AsArray().OfType<JsonObject>() ?? []) yield return $"If {c["competitor"]} comes up: {c["positioning"]}";
        if ((int?)deal?["days_since_activity"] >= 7) yield return $"It has been {deal!["days_since_activity"]} days since the last touch: agree a concrete date for the next one.";
        yield return "Close with one clear next step and a date.";
    }

    static IEnumerable<Block> RescueSteps(JsonObject detail)
    {
        var days = (int?)detail["deal"]?["days_since_activity"];
        yield return new SectionBlock("*Plan*\n" + string.Join('\n', new[]
        {
            days is { } d ? $"• It has been quiet for {d} days: re-engage with something useful, not a “just checking in”." : "• Re-engage with something useful.",
            "• Agree one concrete next step with a date.",
            "• Bring in a second contact if your champion has gone quiet.",
        }));
    }

    static string Money(JsonNode? amount, string currency) => Crm.Money.Format(amount?.GetValue<decimal>() ?? 0, currency);

    static string Label(string key) => key.Length == 0 ? key : char.ToUpperInvariant(key[0]) + key[1..].Replace('_', ' ');
}
