using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Quartz;
using Use60.Crm;
using Use60.Data;
using Use60.Slack;

namespace Use60.Proactive;

/// <summary>
/// Deal-stall alerts: an open deal with no activity for the org's threshold (7 days by default) gets one alert per
/// stall, during the rep's working hours, with Draft follow-up, Snooze 7 days and Mark lost. No repeat until there is
/// new activity (a new stall) or a snooze ends.
/// </summary>
public sealed class DealStalls(SystemDb system, IServiceScopeFactory scopes, TimeProvider clock, ILogger<DealStalls> logger)
{
    /// <summary>Alerts go out between the rep's digest time and this hour, on their own clock.</summary>
    public static readonly TimeOnly WorkdayEnds = new(18, 0);

    public sealed record DueStall(Guid OrgId, Guid UserId, Guid DealId, string StallKey);

    public async Task<int> RunAsync(CancellationToken cancellationToken) =>
        await ProactiveRuns.SendEachAsync(await DueAsync(cancellationToken), SendAsync, "deal-stall alert", stall => $"deal {stall.DealId}", logger, cancellationToken);

    /// <summary>
    /// The narrow cross-tenant query: stalled open deals whose owner wants alerts, is in working hours on a working day, and has
    /// neither snoozed the deal nor had an alert for this stall. The key names the stall (the deal and its last activity) and
    /// the snooze it follows, so new activity or the end of a snooze can bring one new alert.
    /// </summary>
    public async Task<IReadOnlyList<DueStall>> DueAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var workdayEnds = WorkdayEnds;
        await using var db = system.Open("find stalled deals whose owner is due an alert");
        return await db.Database.SqlQuery<DueStall>($"""
            SELECT d.org_id AS "OrgId", d.user_id AS "UserId", d.id AS "DealId", stall.key AS "StallKey"
            FROM deals d
            JOIN users u ON u.id = d.user_id
            JOIN orgs o ON o.id = d.org_id
            JOIN org_settings os ON os.org_id = d.org_id
            LEFT JOIN user_preferences p ON p.org_id = u.org_id AND p.user_id = u.id
            LEFT JOIN proactive_snoozes s ON s.user_id = u.id AND s.entity_key = 'deal:' || d.id
            CROSS JOIN LATERAL (SELECT 'deal:' || d.id || ':' || coalesce(floor(extract(epoch FROM d.last_activity_at))::bigint::text, 'never')
                                       || ':' || coalesce(floor(extract(epoch FROM s.until))::bigint::text, '-') AS key,
                                       ({now} AT TIME ZONE u.time_zone) AS local_now) stall
            WHERE d.stage NOT IN ('closed_won', 'closed_lost')
              AND coalesce(d.last_activity_at, d.created_at) <= {now} - make_interval(days => os.stall_threshold_days)
              AND u.slack_user_id IS NOT NULL AND o.slack_disabled_at IS NULL
              AND u.time_zone IN (SELECT name FROM pg_timezone_names)
              AND coalesce(p.deal_alerts, true)
              AND (p.snoozed_until IS NULL OR p.snoozed_until <= {now})
              AND (s.until IS NULL OR s.until <= {now})
              AND NOT (lower(trim(to_char(stall.local_now, 'Day'))) = ANY (coalesce(p.quiet_days, ARRAY['saturday', 'sunday'])))
              AND stall.local_now::time >= coalesce(p.digest_time, os.default_digest_time) AND stall.local_now::time < {workdayEnds}
              AND NOT EXISTS (SELECT 1 FROM proactive_deliveries x WHERE x.user_id = u.id AND x.workflow = 'deal_stall' AND x.entity_key = stall.key)
            ORDER BY d.user_id, d.last_activity_at NULLS FIRST
            """).ToListAsync(cancellationToken);
    }

    public async Task<bool> SendAsync(DueStall stall, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateTenantScope(stall.OrgId, stall.UserId);
        var services = scope.ServiceProvider;
        var db = services.GetRequiredService<Use60Db>();
        var now = clock.GetUtcNow();
        var rep = await db.Users.AsNoTracking().SingleAsync(u => u.Id == stall.UserId, cancellationToken);
        var today = Orgs.TimeZones.LocalDate(now, Orgs.TimeZones.Find(rep.TimeZone));
        var detail = await services.GetRequiredService<CrmQueries>().DealAsync(stall.DealId, [], today, now, cancellationToken);
        if (detail is null) return false;
        var deal = detail.Deal;
        var days = deal.DaysSinceActivity is { } quiet ? $"{quiet} days without activity" : "no activity logged yet";
        var message = new SlackMessage($"{deal.Name} has gone quiet: {days}.", [
            new HeaderBlock($"{deal.Name} has gone quiet"),
            new SectionBlock($"{days}{(detail.PrimaryContact is { } contact ? $" with {contact.Name}" : "")}. A short, useful follow-up now beats a long one later.",
                [$"*Stage*\n{deal.Stage.Replace('_', ' ')}", $"*Amount*\n{Money.Format(deal.Amount, deal.Currency)}",
                 $"*Close date*\n{deal.CloseDate?.ToString("d MMM yyyy", CultureInfo.InvariantCulture) ?? "not set"}", $"*Next step*\n{deal.NextStep ?? "none set"}"]),
            .. detail.RecentActivities.Count == 0 ? Array.Empty<Block>()
                : [new ContextBlock([string.Join(" · ", detail.RecentActivities.Take(3).Select(a => $"{a.At:d MMM}: {a.Type} — {a.Subject}"))])],
            new ActionsBlock(DealButtons.For(deal.Id, markLost: true)) { BlockId = "stall:" + deal.Id },
        ]);

        return await services.GetRequiredService<ProactiveDeliveries>().QueueAsync(db, Workflow.DealStall, stall.StallKey,
            OutboxDraft.Dm(stall.OrgId, stall.UserId, message, "deal stall " + stall.StallKey), cancellationToken);
    }
}

/// <summary>Quartz's handle on the stall alerts: every 15 minutes, on whichever replica the cluster picks.</summary>
[DisallowConcurrentExecution]
public sealed class DealStallJob(DealStalls stalls) : IJob
{
    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken) => await stalls.RunAsync(cancellationToken);
}
