using System.Globalization;
using System.Text.Json.Nodes;
using Use60.Slack;

using static Use60.Slack.SlackJson;

namespace Use60.Copilot;

/// <summary>The copilot in Slack: DMs, @mentions, <c>/sixty ask …</c> and plain <c>/sixty &lt;question&gt;</c>, and the buttons of its answers.</summary>
static class CopilotSlack
{
    public const string ConfirmAction = "copilot_confirm", CancelAction = "copilot_cancel", ChooseAction = "copilot_choose", NoneAction = "copilot_none";

    public static void Register(SlackListeners slack) => slack
        .Event(SlackEvents.DirectMessage, request => AnswerAsync(request, request.Text, ReplyTarget.Channel))
        .Event(SlackEvents.AppMention, request => AnswerAsync(request, request.Text, ReplyTarget.Channel))
        .Command(SlackHelp.Sixty, "ask", "asks your sales teammate anything (also: `/sixty <question>`)", request => AnswerAsync(request, request.Text, ReplyTarget.Person))
        .CommandFallback(SlackHelp.Sixty, request => AnswerAsync(request, request.Text, ReplyTarget.Person))
        .Action(ConfirmAction, request => DecideAsync(request, confirm: true))
        .Action(CancelAction, request => DecideAsync(request, confirm: false))
        .Action(ChooseAction, ChooseAsync)
        .Action(NoneAction, request =>
        {
            request.Reply(request.Edited(request.ActionBlockId, "None of those — tell me the full name or the company and I'll look again."),
                ReplyTarget.Original);
            return Task.CompletedTask;
        });

    static async Task AnswerAsync(SlackRequest request, string text, ReplyTarget target)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            request.Reply(new SlackMessage(OfflinePlanner.Capabilities), target);
            return;
        }
        var channel = request.ChannelId ?? "D" + request.User.SlackUserId;
        var answer = await request.Service<CopilotChat>().AskAsync(request.User, channel, text, request.Aborted);
        request.Reply(CopilotBlocks.Answer(answer), target);
    }

    static async Task DecideAsync(SlackRequest request, bool confirm)
    {
        if (!Guid.TryParse(request.ActionValue, out var id))
        {
            request.Reply(new SlackMessage("That button is broken; ask me again for a fresh preview."));
            return;
        }
        var outcome = await request.Service<CopilotChat>().DecideAsync(request.User, id, confirm, request.Aborted);
        // The preview's own message shows what became of it; a refusal (double click, someone else's button) is told to the clicker only.
        if (outcome.Done) request.Reply(request.Edited(CopilotBlocks.PreviewBlockId(id), (confirm ? "✅ " : "✖️ ") + outcome.Text), ReplyTarget.Original);
        else request.Reply(new SlackMessage(":information_source: " + outcome.Text));
    }

    static async Task ChooseAsync(SlackRequest request)
    {
        var parts = (request.ActionValue ?? "").Split(':');
        var answer = parts.Length == 2 && long.TryParse(parts[0], CultureInfo.InvariantCulture, out var messageId) && Guid.TryParse(parts[1], out var candidate)
            ? await request.Service<CopilotChat>().ChooseAsync(request.User, messageId, candidate, request.Aborted)
            : null;
        if (answer is null)
        {
            request.Reply(new SlackMessage("That question has expired; ask me again."));
            return;
        }
        request.Reply(request.Edited(request.ActionBlockId, $"You chose {Str(request.Payload["actions"]?[0]?["text"]?["text"])}."),
            ReplyTarget.Original);
        request.Reply(CopilotBlocks.Answer(answer), ReplyTarget.Channel);
    }

}
