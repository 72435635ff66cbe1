using Use60.Data;
using Use60.Slack;

namespace Use60.Privacy;

/// <summary><c>/sixty export</c>: an export of the caller's own copilot conversations; the one-time link comes by DM when it is ready.</summary>
public static class ExportSlack
{
    public static void Register(SlackListeners slack) => slack
        .Command(SlackHelp.Sixty, "export", "exports your own conversations with me as a ZIP; I DM you a one-time link when it's ready", ExportAsync);

    static async Task ExportAsync(SlackRequest request)
    {
        try
        {
            await request.Service<PrivacyExports>().CreateConversationExportAsync(request.Service<Use60Db>(), null, request.Aborted);
            request.Reply(new SlackMessage($":package: I'm packing up your conversations with me. I'll DM you a download link when it's ready; it works once, " +
                                           $"for {PrivacyExports.LinkLifetime.TotalHours:0} hours."));
        }
        catch (ExportRefusedException e)
        {
            request.Reply(new SlackMessage(":hourglass: " + e.Message));
        }
    }
}
