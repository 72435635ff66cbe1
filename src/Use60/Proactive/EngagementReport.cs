using Microsoft.EntityFrameworkCore;
using Use60.Data;

namespace Use60.Proactive;

/// <summary>
/// How reps respond to what use60 sends, per rep and workflow, for the admin site: messages sent, how many got any response,
/// and the clicks, confirms and dismissals on them. Read in the caller's tenant scope: row-level security lets owners and
/// admins read the whole org's deliveries and engagement, a rep only their own. Counts only, never message content.
/// </summary>
public sealed class EngagementReport(Use60Db db)
{
    public sealed record Row(Guid UserId, string Workflow, int Sent, int Responded, int Clicks, int Confirms, int Dismissals, DateTimeOffset LastSentAt)
    {
        /// <summary>Messages with no response at all: what the throttle counts.</summary>
        public int Ignored => Sent - Responded;

        /// <summary>Share of messages with any response, in percent.</summary>
        public int ResponseRate => Sent == 0 ? 0 : (int)Math.Round(100.0 * Responded / Sent);
    }

    public sealed record Throttle(Guid UserId, string Workflow, DateTimeOffset Since);

    public async Task<IReadOnlyList<Row>> SinceAsync(DateTimeOffset since, CancellationToken cancellationToken) =>
        await db.Database.SqlQuery<Row>($"""
            SELECT d.user_id AS "UserId", d.workflow AS "Workflow", count(*)::int AS "Sent",
                   count(*) FILTER (WHERE e.responses > 0)::int AS "Responded",
                   coalesce(sum(e.clicks), 0)::int AS "Clicks", coalesce(sum(e.confirms), 0)::int AS "Confirms",
                   coalesce(sum(e.dismissals), 0)::int AS "Dismissals", max(d.created_at) AS "LastSentAt"
            FROM proactive_deliveries d
            CROSS JOIN LATERAL (SELECT count(*) AS responses,
                                       count(*) FILTER (WHERE x.kind = 'click') AS clicks,
                                       count(*) FILTER (WHERE x.kind = 'confirm') AS confirms,
                                       count(*) FILTER (WHERE x.kind = 'dismiss') AS dismissals
                                FROM proactive_engagement x WHERE x.delivery_id = d.id) e
            WHERE d.created_at >= {since}
            GROUP BY d.user_id, d.workflow
            ORDER BY d.user_id, d.workflow
            """).ToListAsync(cancellationToken);

    /// <summary>Workflows throttled for a rep who kept ignoring them (the daily digest made weekly).</summary>
    public async Task<IReadOnlyList<Throttle>> ThrottlesAsync(CancellationToken cancellationToken) =>
        await db.Database.SqlQuery<Throttle>($"""
            SELECT user_id AS "UserId", workflow AS "Workflow", since AS "Since" FROM proactive_throttles ORDER BY user_id, workflow
            """).ToListAsync(cancellationToken);
}
