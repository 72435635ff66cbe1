using Microsoft.EntityFrameworkCore;
using Quartz;
using Use60.Crm;
using Use60.Data;
using Use60.Slack;

namespace Use60.Proactive;

/// <summary>
/// Win/loss posts: a deal that moves to closed-won or closed-lost is announced in the org's configured channel, once per
/// deal and outcome, however it got there (a confirmed copilot action, the CRM, an import).
/// </summary>
public sealed class WinLoss(SystemDb system, IServiceScopeFactory scopes, TimeProvider clock, ILogger<WinLoss> logger)
{
    /// <summary>Deals closed longer ago than this are history, not news. Nor are deals closed before the channel was set: it does not replay the past.</summary>
    public static readonly TimeSpan NewsWindow = TimeSpan.FromDays(1);

    public sealed record DueClose(Guid OrgId, Guid UserId, Guid DealId, string Channel, string CloseKey);

    public async Task<int> RunAsync(CancellationToken cancellationToken) =>
        await ProactiveRuns.SendEachAsync(await DueAsync(cancellationToken), SendAsync, "win/loss post", close => $"deal {close.DealId}", logger, cancellationToken);

    public async Task<IReadOnlyList<DueClose>> DueAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var since = now - NewsWindow;
        await using var db = system.Open("find deals closed since the last win/loss post");
        return await db.Database.SqlQuery<DueClose>($"""
            SELECT d.org_id AS "OrgId", d.user_id AS "UserId", d.id AS "DealId", os.win_loss_channel AS "Channel",
                   'deal:' || d.id || ':' || d.stage AS "CloseKey"
            FROM deals d
            JOIN org_settings os ON os.org_id = d.org_id
            JOIN orgs o ON o.id = d.org_id
            WHERE d.stage IN ('closed_won', 'closed_lost') AND d.updated_at >= {since} AND d.updated_at > os.updated_at
              AND os.win_loss_channel IS NOT NULL AND os.win_loss_channel <> '' AND o.slack_disabled_at IS NULL
              AND NOT EXISTS (SELECT 1 FROM proactive_deliveries x WHERE x.user_id = d.user_id AND x.workflow = 'win_loss'
                                AND x.entity_key = 'deal:' || d.id || ':' || d.stage)
            ORDER BY d.updated_at
            """).ToListAsync(cancellationToken);
    }

    public async Task<bool> SendAsync(DueClose close, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateTenantScope(close.OrgId, close.UserId);
        var services = scope.ServiceProvider;
        var db = services.GetRequiredService<Use60Db>();
        var deal = await db.Deals.AsNoTracking().SingleOrDefaultAsync(d => d.Id == close.DealId, cancellationToken);
        if (deal is null || deal.Stage.IsOpen()) return false;
        var rep = await db.Users.AsNoTracking().SingleAsync(u => u.Id == deal.UserId, cancellationToken);
        var company = deal.CompanyId is { } companyId ? await db.Companies.AsNoTracking().Where(c => c.Id == companyId).Select(c => c.Name).SingleOrDefaultAsync(cancellationToken) : null;
        var won = deal.Stage == DealStage.ClosedWon;
        var headline = won ? $":trophy: Won: {deal.Name}" : $":small_red_triangle_down: Lost: {deal.Name}";
        var message = new SlackMessage($"{(won ? "Won" : "Lost")}: {deal.Name} ({Money.Format(deal.Amount, deal.Currency)}) — {rep.Name}", [
            new SectionBlock($"*{headline}*", [
                $"*Amount*\n{Money.Format(deal.Amount, deal.Currency)}", $"*Rep*\n{rep.Name}", .. company is null ? Array.Empty<string>() : [$"*Company*\n{company}"],
            ]),
            new ContextBlock([won ? "Nice work! Share what made the difference in the thread." : "What did we learn? Add it in the thread for the next one."]),
        ]);

        return await services.GetRequiredService<ProactiveDeliveries>().QueueAsync(db, Workflow.WinLoss, close.CloseKey,
            OutboxDraft.Post(close.OrgId, close.UserId, close.Channel, null, message, "win/loss " + close.CloseKey), cancellationToken);
    }
}

/// <summary>Quartz's handle on the win/loss posts: every 5 minutes, on whichever replica the cluster picks.</summary>
[DisallowConcurrentExecution]
public sealed class WinLossJob(WinLoss posts) : IJob
{
    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken) => await posts.RunAsync(cancellationToken);
}
