using Microsoft.EntityFrameworkCore;
using Use60.Data;
using Use60.Orgs;
using Use60.Slack;

namespace Use60.Tests.Infrastructure;

/// <summary>A rep's DM in the local Slack sandbox, for tests that click what use60 sent as Slack would.</summary>
public sealed record SandboxDm(Use60App App, AppUser Rep, Org Org)
{
    public SlackSandbox Sandbox => App.Service<SlackSandbox>();

    public static async Task<SandboxDm> OfAsync(Use60App app, AppUser rep)
    {
        await using var db = app.Service<SystemDb>().Open("test");
        return new SandboxDm(app, rep, await db.Orgs.AsNoTracking().SingleAsync(o => o.Id == rep.OrgId));
    }

    /// <summary>The latest message in the DM whose JSON contains <paramref name="text"/>, once it has arrived.</summary>
    public async Task<SandboxMessage> MessageAsync(string text, string what)
    {
        SandboxMessage? found = null;
        await FakeSlack.WaitUntilAsync(() => (found = Sandbox.ConversationAsync(Rep, default).Result.Messages.LastOrDefault(m => m.Message.Contains(text))) is not null,
            what);
        return found!;
    }

    public Task<bool> ClickAsync(SandboxMessage message, string blockId, string actionId, string? value = null) =>
        Sandbox.ClickAsync(Org, Rep, message.Id, blockId, actionId, value, default);
}
