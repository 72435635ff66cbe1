using Microsoft.Extensions.Options;
using Use60.Hosting;
using Use60.Privacy;

namespace Use60.Slack;

/// <summary>The two pages of "Add to Slack": the start (a redirect to Slack) and the end (what happened, in words).</summary>
static class SlackInstallPages
{
    public static async Task<IResult> StartAsync(SlackWorkspaces workspaces, IOptions<SlackOptions> options, SecretBox secrets,
        CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(options.Value.ClientId) || !secrets.IsConfigured)
            return PlainPage.Result(StatusCodes.Status404NotFound, "Installing is not enabled here",
                "This use60 is not set up for installing into Slack workspaces (SLACK_CLIENT_ID is not configured). " +
                "Ask whoever runs it to add you, or see the README's \"Connect a real Slack workspace\".");
        return Results.Redirect((await workspaces.StartInstallAsync(cancellationToken)).ToString());
    }

    public static async Task<IResult> CallbackAsync(HttpContext http, SlackWorkspaces workspaces, string? code, string? state, string? error,
        CancellationToken cancellationToken)
    {
        var (result, org) = await workspaces.CompleteInstallAsync(code, state, error, http, cancellationToken);
        return result switch
        {
            InstallResult.Installed => PlainPage.Result(StatusCodes.Status200OK, "use60 is installed",
                $"use60 is now part of {org!.Name}. Open Slack and type /sixty help, or open use60's Home tab."),
            InstallResult.Denied => PlainPage.Result(StatusCodes.Status200OK, "Not installed", "The install was cancelled in Slack; nothing was changed."),
            InstallResult.BadState => PlainPage.Result(StatusCodes.Status400BadRequest, "This install link has expired",
                "Install links work once, for 10 minutes. Start again from /slack/install."),
            _ => PlainPage.Result(StatusCodes.Status502BadGateway, "Slack did not complete the install",
                "Slack refused the install code (it may have been used already). Start again from /slack/install."),
        };
    }
}
