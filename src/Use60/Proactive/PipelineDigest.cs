using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Quartz;
using Use60.Crm;
using Use60.Data;
using Use60.Orgs;
using Use60.Slack;

namespace Use60.Proactive;

/// <summary>
/// The morning pipeline digest: at each rep's digest time (9:00 by default) in their own time zone, on days that are
/// not their quiet days: pipeline and weighted totals, what closes this week, stalled deals, today's real meetings,
/// and the three most useful next actions with buttons.
/// </summary>
public sealed class PipelineDigest(SystemDb system, IServiceScopeFactory scopes, TimeProvider clock, ILogger<PipelineDigest> logger)
{
    /// <summary>A digest not sent by this long after its time (the app was down) is skipped: yesterday's news at noon helps nobody.</summary>
    public static readonly TimeSpan LateWindow = TimeSpan.FromHours(3);

    public sealed record DueRep(Guid OrgId, Guid UserId, DateOnly LocalDate);

    /// <summary>Digests in a row with no click that turn the daily digest into a weekly one (Mondays).</summary>
    public const int IgnoredBeforeThrottle = 5;

    public const string RestoreAction = "digest_restore";

    /// <summary>Sends every digest that is due now and not yet sent; returns how many were sent.</summary>
    public async Task<int> RunAsync(CancellationToken cancellationToken) =>
        await ProactiveRuns.SendEachAsync(await DueAsync(cancellationToken), SendAsync, "pipeline digest", rep => $"user {rep.UserId}", logger, cancellationToken);

    /// <summary>
    /// The one narrow cross-tenant query: reps whose digest time has come in their own zone today (a day that is not one of
    /// their quiet days), who want the digest, are not snoozed, and have not had today's.
    /// </summary>
    public async Task<IReadOnlyList<DueRep>> DueAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var late = LateWindow;
        await using var db = system.Open("find whose pipeline digest is due");
        return await db.Database.SqlQuery<DueRep>($"""
            SELECT u.org_id AS "OrgId", u.id AS "UserId", (({now} AT TIME ZONE u.time_zone))::date AS "LocalDate"
            FROM users u
            JOIN orgs o ON o.id = u.org_id
            JOIN org_settings os ON os.org_id = u.org_id
            LEFT JOIN user_preferences p ON p.org_id = u.org_id AND p.user_id = u.id
            WHERE u.slack_user_id IS NOT NULL AND o.slack_disabled_at IS NULL
              AND u.time_zone IN (SELECT name FROM pg_timezone_names)
              AND coalesce(p.daily_digest, true)
              AND (p.snoozed_until IS NULL OR p.snoozed_until <= {now})
              AND NOT (lower(trim(to_char(({now} AT TIME ZONE u.time_zone), 'Day'))) = ANY (coalesce(p.quiet_days, ARRAY['saturday', 'sunday'])))
              AND (({now} AT TIME ZONE u.time_zone)::time - coalesce(p.digest_time, os.default_digest_time)) >= interval '0'
              AND (({now} AT TIME ZONE u.time_zone)::time - coalesce(p.digest_time, os.default_digest_time)) < {late}
              AND NOT EXISTS (SELECT 1 FROM proactive_deliveries d
                              WHERE d.user_id = u.id AND d.workflow = 'daily_digest'
                                AND d.entity_key = (({now} AT TIME ZONE u.time_zone))::date::text)
              -- A throttled digest comes on Mondays only.
              AND (NOT EXISTS (SELECT 1 FROM proactive_throttles t WHERE t.user_id = u.id AND t.workflow = 'daily_digest')
                   OR extract(isodow FROM ({now} AT TIME ZONE u.time_zone)) = 1)
            ORDER BY u.id
            """).ToListAsync(cancellationToken);
    }

    /// <summary>
    /// In the rep's own tenant scope: one round trip reads everything the digest needs, one more claims today's digest and queues it.
    /// </summary>
    public async Task<bool> SendAsync(DueRep due, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateTenantScope(due.OrgId, due.UserId);
        var services = scope.ServiceProvider;
        var db = services.GetRequiredService<Use60Db>();
        var deliveries = services.GetRequiredService<ProactiveDeliveries>();
        var crm = services.GetRequiredService<CrmQueries>();
        var now = clock.GetUtcNow();

        var reads = new DbBatch(db);
        var rep = reads.User(due.UserId);
        var throttle = due.LocalDate.DayOfWeek == DayOfWeek.Monday ? null : Throttle.Read(reads, due.UserId);
        var pipeline = crm.Pipeline(reads, due.UserId, due.LocalDate, now);
        // The rep's zone arrives in the same round trip: read the meetings of every zone's version of this date (UTC+14 starts it
        // first, UTC-12 ends it last), then keep the rep's own day below.
        var utcDate = Orgs.TimeZones.StartOfDay(due.LocalDate, TimeZoneInfo.Utc);
        var meetings = crm.Meetings(reads, due.UserId, utcDate.AddHours(-14), utcDate.AddDays(1).AddHours(12));
        var snoozes = reads.Add<List<string>>($"SELECT coalesce(json_agg(entity_key), '[]') FROM proactive_snoozes WHERE user_id = {due.UserId} AND until > {now}");
        await reads.RunAsync(cancellationToken);

        if (throttle?.Value.Starts == true) return await StartThrottleAsync(db, deliveries, rep.Value, due.LocalDate, cancellationToken);
        var zone = Orgs.TimeZones.Find(rep.Value.TimeZone);
        var (dayStart, dayEnd) = (Orgs.TimeZones.StartOfDay(due.LocalDate, zone), Orgs.TimeZones.StartOfDay(due.LocalDate.AddDays(1), zone));
        var today = meetings.Value.Where(m => m.Start >= dayStart && m.Start < dayEnd).ToList();
        var message = DigestMessage.Build(rep.Value, due.LocalDate, zone, pipeline.Value, today, snoozes.Value.ToHashSet());

        var key = due.LocalDate.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        return await deliveries.QueueAsync(db, Workflow.DailyDigest, key,
            OutboxDraft.Dm(due.OrgId, due.UserId, message, "pipeline digest " + key), cancellationToken);
    }

    /// <summary>Whether the rep's digest is throttled already, and whether each of their last digests got a click.</summary>
    sealed record Throttle(bool Throttled, List<bool> Recent)
    {
        /// <summary>After <see cref="IgnoredBeforeThrottle"/> digests in a row without a click, the digest becomes weekly.</summary>
        public bool Starts => !Throttled && Recent.Count >= IgnoredBeforeThrottle && !Recent.Any(engaged => engaged);

        public static DbResult<Throttle> Read(DbBatch batch, Guid userId) => batch.Add<Throttle>($"""
            SELECT json_build_object(
                'throttled', EXISTS (SELECT 1 FROM proactive_throttles WHERE user_id = {userId} AND workflow = 'daily_digest'),
                'recent', (SELECT coalesce(json_agg(engaged), '[]') FROM (
                    SELECT EXISTS (SELECT 1 FROM proactive_engagement e WHERE e.delivery_id = d.id) AS engaged
                    FROM proactive_deliveries d
                    WHERE d.user_id = {userId} AND d.workflow = 'daily_digest' AND d.entity_key NOT LIKE 'throttled:%'
                    ORDER BY d.id DESC LIMIT {IgnoredBeforeThrottle}) recent))
            """);
    }

    /// <summary>The digest becomes weekly: the rep is told once, with a button to restore it, instead of getting today's digest.</summary>
    async Task<bool> StartThrottleAsync(Use60Db db, ProactiveDeliveries deliveries, Orgs.AppUser rep, DateOnly today, CancellationToken cancellationToken)
    {
        var notice = new SlackMessage("Your daily pipeline summary is now weekly.", [
            new SectionBlock($"You haven't used your last {IgnoredBeforeThrottle} pipeline summaries, so I'll send it on Mondays only from now on. " +
                             "Want it every morning again?", Accessory: new ButtonElement("Restore daily summary", RestoreAction, "daily_digest", ButtonStyle.Primary))
                { BlockId = "throttle" },
        ]);
        var key = "throttled:" + today.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        var writes = new DbBatch(db);
        writes.Execute($"""
            INSERT INTO proactive_throttles (org_id, user_id, workflow, since) VALUES ({rep.OrgId}, {rep.Id}, 'daily_digest', {clock.GetUtcNow()}) ON CONFLICT DO NOTHING
            """);
        deliveries.Queue(writes, Workflow.DailyDigest, key, OutboxDraft.Dm(rep.OrgId, rep.Id, notice, "digest throttled " + key));
        await writes.RunAsync(cancellationToken);
        logger.LogInformation("The daily digest of user {UserId} is now weekly after {Count} digests without a click", rep.Id, IgnoredBeforeThrottle);
        return true;
    }
}

/// <summary>Quartz's handle on the digest: every minute, on whichever replica the cluster picks.</summary>
[DisallowConcurrentExecution]
public sealed class PipelineDigestJob(PipelineDigest digest) : IJob
{
    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken) => await digest.RunAsync(cancellationToken);
}

/// <summary>The digest as Block Kit.</summary>
public static class DigestMessage
{
    public const int NextActions = 3;

    public static SlackMessage Build(AppUser rep, DateOnly date, TimeZoneInfo zone, PipelineSummary pipeline, IReadOnlyList<MeetingLine> meetings,
        IReadOnlySet<string> snoozed)
    {
        var first = rep.Name.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? rep.Name;
        var money = (decimal amount) => Money.Format(amount, pipeline.Currency);
        var blocks = new List<Block>
        {
            new HeaderBlock($"Good morning, {first} — your pipeline for {date.ToString("dddd d MMMM", CultureInfo.InvariantCulture)}"),
            new SectionBlock(null, [
                $"*Open pipeline*\n{money(pipeline.Total)} in {pipeline.OpenDeals} deal{(pipeline.OpenDeals == 1 ? "" : "s")}",
                $"*Weighted*\n{money(pipeline.Weighted)}",
            ]),
        };
        if (pipeline.ClosingThisWeek.Count > 0)
            blocks.Add(new SectionBlock("*Closing this week*\n" + string.Join('\n', pipeline.ClosingThisWeek.Take(5).Select(d =>
                $"• {d.Name} — {money(d.Amount)}, {d.CloseDate?.ToString("ddd d MMM", CultureInfo.InvariantCulture)}"))));
        if (pipeline.Stalled.Count > 0)
            blocks.Add(new SectionBlock("*Stalled (no activity for 7+ days)*\n" + string.Join('\n', pipeline.Stalled.Take(5).Select(d =>
                $"• {d.Name} — {d.DaysSinceActivity} days quiet"))));
        blocks.Add(new SectionBlock(meetings.Count == 0 ? "*Today's meetings*\nNo meetings with other people today." :
            "*Today's meetings*\n" + string.Join('\n', meetings.Select(m =>
                $"• {TimeZoneInfo.ConvertTime(m.Start, zone).ToString("HH:mm", CultureInfo.InvariantCulture)} {m.Title}"))));

        var actions = NextActionsOf(pipeline).Where(a => !snoozed.Contains(DealButtons.SnoozeKey(a.Deal.Id))).Take(NextActions).ToList();
        if (actions.Count > 0)
        {
            blocks.Add(new DividerBlock());
            blocks.Add(new SectionBlock("*Three things worth doing today*"));
            foreach (var (deal, why) in actions)
            {
                blocks.Add(new SectionBlock($"*{deal.Name}*\n{why}"));
                blocks.Add(new ActionsBlock(DealButtons.For(deal.Id)) { BlockId = "next:" + deal.Id });
            }
        }
        blocks.Add(new ContextBlock(["Change when this comes, or turn it off, with `/sixty settings`."]));
        var text = $"Your pipeline: {money(pipeline.Total)} open, {money(pipeline.Weighted)} weighted; {pipeline.ClosingThisWeek.Count} closing this week, " +
                   $"{pipeline.Stalled.Count} stalled, {meetings.Count} meeting{(meetings.Count == 1 ? "" : "s")} today.";
        return new SlackMessage(text, blocks);
    }

    /// <summary>Stalled deals first (longest quiet), then what closes this week, then the biggest deals with a next step.</summary>
    static IEnumerable<(DealLine Deal, string Why)> NextActionsOf(PipelineSummary pipeline)
    {
        var seen = new HashSet<Guid>();
        foreach (var deal in pipeline.Stalled)
            if (seen.Add(deal.Id)) yield return (deal, $"{deal.DaysSinceActivity} days without activity: re-engage before it goes cold.");
        foreach (var deal in pipeline.ClosingThisWeek)
            if (seen.Add(deal.Id)) yield return (deal, $"Due to close {deal.CloseDate?.ToString("dddd", CultureInfo.InvariantCulture)}: confirm the close plan.");
    }
}
