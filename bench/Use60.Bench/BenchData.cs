using System.Globalization;
using Npgsql;

namespace Use60.Bench;

/// <summary>The shape of one run's data: how many reps, and how many deals and calendar events each has.</summary>
public sealed record BenchShape(int Reps, int DealsPerRep, int MeetingsPerRep)
{
    public const int RepsPerOrg = 20;

    /// <summary>Real meetings of each rep that start within the next 2 hours at <see cref="BenchData.Now"/>: each gets a brief.</summary>
    public const int BriefsPerRep = 3;

    public int CompaniesPerRep => Math.Max(1, DealsPerRep / 4);
}

/// <summary>
/// Seeds a bench database in a few set-based statements (INSERT … SELECT generate_series), as the superuser with triggers and
/// foreign-key checks off for speed; what the triggers would do (org settings, deals' last activity) is written directly.
/// Reps are in orgs of 20, in zones where <see cref="Now"/> is their digest hour (Tuesday, 9:30 to 11:30 local), with companies,
/// two contacts each, deals in every stage with activities, tasks, an org profile naming competitors, and calendars whose first
/// events are real meetings within the brief window, linked to deals and their contacts.
/// Contacts' email and phone go in as plaintext (unsealed_*) and calendar events without attendee hashes: SQL cannot encrypt, so
/// <see cref="DigestBench"/> then runs the app's own start-up sealing pass (Privacy.PiiMaintenance), which seals them under each
/// org's keys and clears the plaintext, as it does for a database migrated from before PII encryption.
/// </summary>
public static class BenchData
{
    /// <summary>Tuesday 24 November 2026, 14:30 UTC: 09:30 in New York, Toronto and Bogotá, 10:30 in Halifax, 11:30 in São Paulo.</summary>
    public static readonly DateTimeOffset Now = new(2026, 11, 24, 14, 30, 0, TimeSpan.Zero);

    public static async Task SeedAsync(string superuserConnection, BenchShape shape, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(superuserConnection);
        await connection.OpenAsync(cancellationToken);
        foreach (var statement in Statements(shape))
        {
            await using var command = new NpgsqlCommand(statement, connection) { CommandTimeout = 0 };
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    // Ids in insertion order (kind, then a number that grows with rep and item), so every index is filled in order, not at random.
    static string Id(int kind, string number) =>
        $"format('{kind:x8}-0000-4000-8000-%s', lpad(to_hex({number}), 12, '0'))::uuid";

    /// <summary>The number of an id made by <see cref="Id"/>.</summary>
    static string NumberOf(string id) => $"('x' || right({id}::text, 12))::bit(48)::bigint";

    static string Org(string o) => Id(1, o);
    static string User(string r) => Id(2, r);
    static string Company(string r, string c) => Id(3, $"{r}::bigint * 100000 + {c}");
    static string Contact(string r, string c, string k) => Id(4, $"({r}::bigint * 100000 + {c}) * 2 + {k}");
    static string Deal(string r, string j) => Id(5, $"{r}::bigint * 100000 + {j}");

    static IEnumerable<string> Statements(BenchShape shape)
    {
        var (reps, deals, meetings, companies) = (shape.Reps, shape.DealsPerRep, shape.MeetingsPerRep, shape.CompaniesPerRep);
        var now = $"'{Now.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)}+00'::timestamptz";
        var today = $"'{Now.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}'::date";
        var orgOf = $"r / {BenchShape.RepsPerOrg}";
        const string firstNames = "ARRAY['Alex','Sam','Priya','Tom','Maria','Chen','Fatima','Lucas','Aisha','Noah','Elena','Kenji']";
        const string lastNames = "ARRAY['Morgan','Bennett','Sharma','Okafor','Rossi','Nakamura','Haddad','Silva','Kowalski','Dubois','Lindqvist','Reyes']";
        return
        [
            "SET session_replication_role = replica",
            $"""
            INSERT INTO orgs (id, name, slack_team_id, plan, created_at)
            SELECT {Org("o")}, 'Bench Org ' || o, 'TBENCH' || lpad(o::text, 5, '0'), 'pro', {now} - interval '400 days'
            FROM generate_series(0, {(reps - 1) / BenchShape.RepsPerOrg}) o
            """,
            "INSERT INTO org_settings (org_id) SELECT id FROM orgs",
            """
            INSERT INTO org_profile (org_id, company_name, products, competitors, pain_points, value_propositions, brand_voice)
            SELECT id, name,
                   '[{"name": "Fleet Robotics Platform", "description": "Autonomous picking robots with a fleet manager"}]',
                   '[{"name": "Rivalry Systems", "positioning": "We deploy in weeks, not quarters, and price per robot, not per site."},
                     {"name": "OldGuard Automation", "positioning": "No fixed conveyors: the layout can change with the season."}]',
                   ARRAY['Peak-season labour shortages', 'Mis-picks and returns'], ARRAY['Pilot in 30 days', 'Pay per robot'], 'Plain, confident, brief'
            FROM orgs
            """,
            $"""
            INSERT INTO users (id, org_id, slack_user_id, email, name, time_zone, role, created_at, updated_at)
            SELECT {User("r")}, {Org(orgOf)}, 'UBENCH' || lpad(r::text, 6, '0'), 'rep' || r || '@org' || {orgOf} || '.bench.example',
                   ({firstNames})[1 + r % 12] || ' ' || ({lastNames})[1 + r / 12 % 12],
                   (ARRAY['America/New_York', 'America/Toronto', 'America/Bogota', 'America/Halifax', 'America/Sao_Paulo'])[1 + r % 5],
                   CASE WHEN r % {BenchShape.RepsPerOrg} = 0 THEN 'owner' ELSE 'member' END, {now} - interval '300 days', {now} - interval '300 days'
            FROM generate_series(0, {reps - 1}) r
            """,
            $"""
            INSERT INTO companies (id, org_id, user_id, name, domain, industry, created_at, updated_at)
            SELECT {Company("r", "c")}, {Org(orgOf)}, {User("r")}, n.name, lower(replace(n.name, ' ', '-')) || '-' || r || '-' || c || '.example',
                   (ARRAY['Logistics', 'Retail', 'Food', 'Manufacturing', 'Healthcare'])[1 + c % 5], {now} - interval '200 days', {now} - interval '200 days'
            FROM generate_series(0, {reps - 1}) r CROSS JOIN generate_series(0, {companies - 1}) c
            CROSS JOIN LATERAL (SELECT (ARRAY['Northwind', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Vandelay', 'Stark', 'Wayne', 'Tyrell', 'Soylent'])[1 + (r + c) % 10]
                                       || ' ' || (ARRAY['Foods', 'Logistics', 'Retail', 'Industries', 'Health', 'Freight', 'Markets', 'Supply'])[1 + c / 10 % 8] AS name) n
            ORDER BY r, c
            """,
            $"""
            INSERT INTO contacts (id, org_id, user_id, company_id, first_name, last_name, title, unsealed_email, unsealed_phone, created_at, updated_at, data_quality_score)
            SELECT id, org_id, user_id, company_id, first_name, last_name, title, email, phone, created_at, updated_at,
                   contact_data_quality_score(first_name, last_name, title, company_id, email, phone, NULL)
            FROM (
            SELECT {Contact("r", "c", "k")} AS id, co.org_id, co.user_id, co.id AS company_id, n.first AS first_name, n.last AS last_name,
                   (ARRAY['VP Operations', 'Head of Procurement', 'Warehouse Director', 'CFO'])[1 + (r + c + k) % 4] AS title,
                   lower(n.first || '.' || n.last) || '@' || co.domain AS email, '+1555' || lpad(((r * 7919 + c * 31 + k) % 10000000)::text, 7, '0') AS phone,
                   {now} - interval '150 days' AS created_at, {now} - interval '150 days' AS updated_at
            FROM generate_series(0, {reps - 1}) r CROSS JOIN generate_series(0, {companies - 1}) c CROSS JOIN generate_series(0, 1) k
            JOIN companies co ON co.id = {Company("r", "c")}
            CROSS JOIN LATERAL (SELECT ({firstNames})[1 + (r + c * 5 + k) % 12] AS first, ({lastNames})[1 + (r + c * 7 + k * 3) % 12] AS last) n
            ORDER BY r, c, k
            ) written -- scored as ContactValidation scores what EF writes (migration 0022's function)
            """,
            $"""
            INSERT INTO deals (id, org_id, user_id, company_id, primary_contact_id, name, stage, amount, currency, probability, close_date, next_step,
                               last_activity_at, created_at, updated_at)
            SELECT {Deal("r", "j")}, co.org_id, co.user_id, co.id, {Contact("r", $"j % {companies}", "0")},
                   co.name || ' — ' || (ARRAY['Pilot', 'Expansion', 'Fleet rollout', 'Renewal', 'Second site'])[1 + j % 5], s.stage,
                   (5 + (r * 7 + j * 13) % 95) * 1000, 'USD',
                   CASE s.stage WHEN 'lead' THEN 10 WHEN 'qualified' THEN 25 WHEN 'demo' THEN 40 WHEN 'proposal' THEN 60
                                WHEN 'negotiation' THEN 80 WHEN 'closed_won' THEN 100 ELSE 0 END,
                   {today} + ((r + j * 7) % 75 - 15),
                   (ARRAY['Send the pilot proposal', 'Book the site walk-through', 'Confirm budget with finance', NULL])[1 + j % 4],
                   {now} - make_interval(days => (r + j * 3) % 21, hours => 2), {now} - interval '90 days', {now} - interval '10 days'
            FROM generate_series(0, {reps - 1}) r CROSS JOIN generate_series(0, {deals - 1}) j
            JOIN companies co ON co.id = {Company("r", $"j % {companies}")}
            CROSS JOIN LATERAL (SELECT (ARRAY['lead', 'lead', 'qualified', 'qualified', 'demo', 'proposal', 'proposal', 'negotiation', 'closed_won', 'closed_lost'])[1 + j % 10]
                                AS stage) s
            ORDER BY r, j
            """,
            // Two to four activities a deal, the newest exactly the deal's last activity, with each of its company's two contacts in turn.
            $"""
            INSERT INTO activities (id, org_id, user_id, deal_id, contact_id, type, subject, occurred_at, created_at)
            SELECT {Id(7, $"{NumberOf("d.id")} * 4 + k")}, d.org_id, d.user_id, d.id,
                   CASE k % 2 WHEN 0 THEN d.primary_contact_id ELSE {Id(4, $"{NumberOf("d.primary_contact_id")} + 1")} END, a.type,
                   CASE a.type WHEN 'email' THEN 'Sent pricing and the pilot plan'
                               WHEN 'call' THEN CASE WHEN k = 1 THEN 'Call: they are also talking to Rivalry Systems' ELSE 'Call: questions on uptime and support' END
                               ELSE 'Site visit and demo' END,
                   d.last_activity_at - make_interval(days => k::int * 4), d.last_activity_at - make_interval(days => k::int * 4)
            FROM deals d
            CROSS JOIN LATERAL generate_series(0, 1 + {NumberOf("d.id")} % 3) k
            CROSS JOIN LATERAL (SELECT (ARRAY['email', 'call', 'meeting'])[1 + (k + {NumberOf("d.id")}) % 3] AS type) a
            ORDER BY d.id, k
            """,
            $"""
            INSERT INTO tasks (id, org_id, user_id, deal_id, title, due_date, status, completed_at, created_at, updated_at)
            SELECT {Id(8, "r * 10 + t")}, d.org_id, d.user_id, d.id,
                   (ARRAY['Send the proposal', 'Share the ROI model', 'Book the walk-through', 'Confirm the security answers', 'Send the recap'])[1 + t % 5]
                   || ' — ' || d.name,
                   {today} + (t - 6), CASE WHEN t % 4 = 3 THEN 'done' ELSE 'open' END, CASE WHEN t % 4 = 3 THEN {now} - interval '1 day' END,
                   {now} - interval '14 days', {now} - interval '14 days'
            FROM generate_series(0, {reps - 1}) r CROSS JOIN generate_series(0, 9) t
            JOIN deals d ON d.id = {Deal("r", $"t * 7 % {deals}")}
            ORDER BY r, t
            """,
            // Events 0-2: real meetings within the next 2 hours (briefs due); 3: a solo block in that window; the rest from yesterday to the
            // next days, every other one a real meeting, one cancelled. Each linked to a deal, its company's two contacts attending.
            $"""
            INSERT INTO calendar_events (id, org_id, user_id, external_id, title, location, conference_url, start_time, end_time, attendees, status,
                                         deal_id, created_at, updated_at)
            SELECT {Id(6, "r * 1000 + i")}, u.org_id, u.id, 'bench-' || r || '-' || i,
                   CASE WHEN e.is_meeting THEN co.name || ' — ' || (ARRAY['Pilot review', 'Pricing call', 'Demo', 'Kick-off'])[1 + i % 4] ELSE 'Focus: pipeline' END,
                   CASE WHEN e.is_meeting AND i % 3 = 2 THEN co.name || ' office' END,
                   CASE WHEN e.is_meeting AND i % 3 <> 2 THEN 'https://meet.google.com/bench-' || r || '-' || i END,
                   e.start, e.start + interval '30 minutes',
                   jsonb_build_array(jsonb_build_object('email', u.email, 'name', u.name, 'response_status', 'accepted', 'self', true))
                   || CASE WHEN e.is_meeting THEN jsonb_build_array(
                          jsonb_build_object('email', c0.unsealed_email, 'name', c0.first_name || ' ' || c0.last_name, 'response_status', 'accepted', 'self', false),
                          jsonb_build_object('email', c1.unsealed_email, 'name', c1.first_name || ' ' || c1.last_name, 'response_status', 'needsAction', 'self', false))
                      ELSE '[]'::jsonb END,
                   CASE WHEN i = 5 THEN 'cancelled' ELSE 'confirmed' END,
                   CASE WHEN e.is_meeting THEN d.id END, {now} - interval '7 days', {now} - interval '7 days'
            FROM generate_series(0, {reps - 1}) r CROSS JOIN generate_series(0, {meetings - 1}) i
            JOIN users u ON u.id = {User("r")}
            JOIN deals d ON d.id = {Deal("r", $"i * 3 % {deals}")}
            JOIN companies co ON co.id = d.company_id
            JOIN contacts c0 ON c0.id = {Contact("r", $"i * 3 % {deals} % {companies}", "0")}
            JOIN contacts c1 ON c1.id = {Contact("r", $"i * 3 % {deals} % {companies}", "1")}
            CROSS JOIN LATERAL (SELECT CASE WHEN i < {BenchShape.BriefsPerRep} THEN {now} + make_interval(mins => 30 + 30 * i)
                                            WHEN i = {BenchShape.BriefsPerRep} THEN {now} + interval '45 minutes'
                                            ELSE {now} + make_interval(hours => (i - 4) * 5 - 24) END AS start,
                                       i < {BenchShape.BriefsPerRep} OR (i > {BenchShape.BriefsPerRep} AND i % 2 = 0) AS is_meeting) e
            ORDER BY r, i
            """,
            "RESET session_replication_role",
            "ANALYZE",
        ];
    }
}
