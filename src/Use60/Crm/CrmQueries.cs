using Microsoft.EntityFrameworkCore;
using Use60.Calendar;
using Use60.Data;
using Use60.Privacy;

namespace Use60.Crm;

/// <summary>A recorded meeting that matched a search, with the passage that matched (the matched words between asterisks).</summary>
public sealed record MeetingHit(Guid MeetingId, string Title, DateTimeOffset Start, string Source, Guid? DealId, string Snippet);

public sealed record DealLine(Guid Id, string Name, string? Company, string Stage, decimal Amount, string Currency, int Probability,
    DateOnly? CloseDate, int? DaysSinceActivity, string? NextStep);

public sealed record StageTotal(string Stage, int Deals, decimal Amount);

public sealed record PipelineSummary(int OpenDeals, decimal Total, decimal Weighted, string Currency, IReadOnlyList<StageTotal> ByStage,
    IReadOnlyList<DealLine> ClosingThisWeek, IReadOnlyList<DealLine> Stalled);

public sealed record PersonLine(Guid? ContactId, string Name, string? Email, string? Title, string? Company, bool IsRep);

public sealed record MeetingLine(Guid Id, string Title, DateTimeOffset Start, DateTimeOffset End, string? ConferenceUrl, string? Location,
    Guid? DealId, IReadOnlyList<PersonLine> Attendees);

public sealed record ActivityLine(DateTimeOffset At, string Type, string Subject, string? Deal);

public sealed record TaskLine(Guid Id, string Title, DateOnly DueDate, int DaysOverdue, Guid? DealId, string? Deal);

public sealed record DealDetail(DealLine Deal, PersonLine? PrimaryContact, IReadOnlyList<ActivityLine> RecentActivities,
    IReadOnlyList<TaskLine> OpenTasks, IReadOnlyList<string> CompetitorsMentioned);

/// <summary>
/// The questions the copilot and the proactive jobs ask of the sales data, in the caller's tenant scope: row-level
/// security decides what a rep sees (their own rows, and colleagues' where the org shares them); "my" means owned by
/// <c>me</c>. A question can go into a <see cref="DbBatch"/> with others (a job's whole read for one rep is one round trip)
/// or be asked on its own; each is one set-based statement either way, so no answer costs a round trip per row.
/// </summary>
public sealed class CrmQueries(Use60Db db)
{
    public const int RecentActivities = 5;

    DbResult<Dictionary<Guid, MeetingLine>>? preloadedMeetings;
    DbResult<Dictionary<Guid, List<ActivityLine>>>? preloadedHistories;
    int preloadedHistoryLength;
    DbResult<Dictionary<Guid, DealData>>? preloadedDeals;

    public Task<PipelineSummary> PipelineAsync(Guid me, DateOnly today, DateTimeOffset now, CancellationToken cancellationToken) =>
        db.BatchAsync(batch => Pipeline(batch, me, today, now), cancellationToken);

    public DbResult<PipelineSummary> Pipeline(DbBatch batch, Guid me, DateOnly today, DateTimeOffset now)
    {
        // The org's own threshold (Settings), as the stall alerts use it.
        var stallDays = batch.Add<int?>($"SELECT to_json(stall_threshold_days) FROM org_settings");
        return Deals(batch, $"d.user_id = {me} AND d.stage NOT IN ('closed_won', 'closed_lost')").Select(open =>
        {
            var lines = open.Select(d => Line(d.Deal, d.Company, now)).ToList();
            var weekEnd = today.AddDays(7 - ((int)today.DayOfWeek + 6) % 7 - 1); // Sunday of this week
            return new PipelineSummary(
                lines.Count, lines.Sum(l => l.Amount), Math.Round(lines.Sum(l => l.Amount * l.Probability / 100m), 2),
                lines.Select(l => l.Currency).FirstOrDefault() ?? "USD",
                [.. lines.GroupBy(l => l.Stage).OrderBy(g => Enum.Parse<DealStage>(g.Key, true)).Select(g => new StageTotal(g.Key, g.Count(), g.Sum(l => l.Amount)))],
                [.. lines.Where(l => l.CloseDate is { } close && close >= today && close <= weekEnd).OrderBy(l => l.CloseDate)],
                [.. lines.Where(l => l.DaysSinceActivity >= (stallDays.Value ?? DealStages.DefaultStallDays)).OrderByDescending(l => l.DaysSinceActivity)]);
        });
    }

    /// <summary>Real meetings (more than one attendee, not cancelled) of the rep's calendar starting in [from, to).</summary>
    public Task<IReadOnlyList<MeetingLine>> MeetingsAsync(Guid me, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken) =>
        db.BatchAsync(batch => Meetings(batch, me, from, to), cancellationToken);

    public DbResult<IReadOnlyList<MeetingLine>> Meetings(DbBatch batch, Guid me, DateTimeOffset from, DateTimeOffset to) =>
        MeetingLines(batch, $"{RealMeetingsOf(me)} AND e.start_time >= {from} AND e.start_time < {to}");

    public async Task<MeetingLine?> NextMeetingAsync(Guid me, DateTimeOffset now, CancellationToken cancellationToken) =>
        (await db.BatchAsync(batch => MeetingLines(batch, $"{RealMeetingsOf(me)} AND e.end_time > {now} ORDER BY e.start_time LIMIT 1"), cancellationToken))
        .SingleOrDefault();

    public async Task<MeetingLine?> LastMeetingAsync(Guid me, DateTimeOffset now, CancellationToken cancellationToken) =>
        (await db.BatchAsync(batch => MeetingLines(batch, $"{RealMeetingsOf(me)} AND e.end_time <= {now} ORDER BY e.start_time DESC LIMIT 1"), cancellationToken))
        .SingleOrDefault();

    public async Task<MeetingLine?> MeetingAsync(Guid id, CancellationToken cancellationToken) =>
        preloadedMeetings?.Value.GetValueOrDefault(id)
        ?? (await db.BatchAsync(batch => MeetingLines(batch, $"e.id = {id}"), cancellationToken)).SingleOrDefault();

    public async Task<IReadOnlyList<TaskLine>> OverdueTasksAsync(Guid me, DateOnly today, CancellationToken cancellationToken) =>
        [.. (await db.BatchAsync(batch => batch.Add<List<TaskRow>>($"""
            SELECT coalesce(json_agg(t), '[]') FROM ({Tasks($"t.user_id = {me} AND t.status = 'open' AND t.due_date < {today}")}) t
            """), cancellationToken)).Select(t => t.Line(today))];

    public async Task<IReadOnlyList<DealLine>> SearchDealsAsync(string? query, string? stage, DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        IQueryable<Deal> deals = db.Deals;
        if (!string.IsNullOrWhiteSpace(query))
        {
            var pattern = "%" + query.Trim().Replace("\\", "\\\\").Replace("%", "\\%").Replace("_", "\\_") + "%";
            deals = deals.Where(d => EF.Functions.ILike(d.Name, pattern) || db.Companies.Any(c => c.Id == d.CompanyId && EF.Functions.ILike(c.Name, pattern)));
        }
        if (stage is not null && Enum.TryParse<DealStage>(stage.Replace("_", ""), true, out var wanted)) deals = deals.Where(d => d.Stage == wanted);
        var found = await deals.OrderByDescending(d => d.Amount).Take(limit).AsNoTracking().ToListAsync(cancellationToken);
        var ids = found.Where(d => d.CompanyId is not null).Select(d => d.CompanyId!.Value).Distinct().ToList();
        var companies = await db.Companies.AsNoTracking().Where(c => ids.Contains(c.Id)).ToDictionaryAsync(c => c.Id, c => c.Name, cancellationToken);
        return [.. found.Select(d => Line(d, d.CompanyId is { } companyId ? companies.GetValueOrDefault(companyId) : null, now))];
    }

    /// <summary>
    /// Recorded meetings whose title, summary or transcript hold every word of <paramref name="query"/> (PostgreSQL full-text
    /// search, English stemming: "pricing" finds "price"), best first, each with the passage that matched. Row-level security
    /// decides whose meetings count, as for every read.
    /// </summary>
    public async Task<IReadOnlyList<MeetingHit>> SearchMeetingsAsync(string query, int limit, CancellationToken cancellationToken)
    {
        // The question around the words is not what was said: "what did TechCorp say about pricing" looks for TechCorp and pricing.
        var words = string.Join(' ', query.Split((char[])[' ', '\t', '\n', '?', '!', ',', '.', ';', ':'], StringSplitOptions.RemoveEmptyEntries)
            .Where(w => !QuestionWords.Contains(w)));
        if (words.Length == 0) return [];
        return await db.Database.SqlQuery<MeetingHit>($"""
            SELECT m.id AS "MeetingId", m.title AS "Title", m.start_time AS "Start", m.source_type AS "Source", m.deal_id AS "DealId",
                   ts_headline('english', coalesce(m.transcript_text, m.summary, m.title), q,
                               'MaxFragments=2, MaxWords=30, MinWords=8, StartSel=*, StopSel=*, FragmentDelimiter=" … "') AS "Snippet"
            FROM meetings m, websearch_to_tsquery('english', {words}) q
            WHERE m.search @@ q
            ORDER BY ts_rank(m.search, q) DESC, m.start_time DESC
            LIMIT {limit}
            """).ToListAsync(cancellationToken);
    }

    static readonly HashSet<string> QuestionWords = new(StringComparer.OrdinalIgnoreCase)
        { "say", "said", "says", "mention", "mentioned", "mentions", "talk", "talked", "discuss", "discussed", "tell", "told", "anything" };

    public async Task<DealDetail?> DealAsync(Guid id, IReadOnlyList<string> competitors, DateOnly today, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        var found = preloadedDeals?.Value.GetValueOrDefault(id) ?? (await db.BatchAsync(batch => DealDetails(batch, $"SELECT {id}"), cancellationToken)).SingleOrDefault();
        if (found is null) return null;
        var deal = found.Deal;
        var activities = found.Activities.Select(a => new ActivityLine(a.At, a.Type, a.Subject, deal.Name)).ToList();
        // A competitor is "involved" when the deal's own words name it.
        var text = string.Join(' ', [deal.Name, deal.NextStep ?? "", .. activities.Select(a => a.Subject)]);
        var mentioned = competitors.Where(c => text.Contains(c, StringComparison.OrdinalIgnoreCase)).ToList();
        return new DealDetail(Line(deal, found.Company, now), found.Contact?.Line(Keys), activities, [.. found.Tasks.Select(t => t.Line(today))], mentioned);
    }

    public async Task<PersonLine?> PersonAsync(Guid contactId, CancellationToken cancellationToken) =>
        (await db.BatchAsync(batch => batch.Add<PersonRow?>($"""
            SELECT {Person} FROM contacts c LEFT JOIN companies co ON co.id = c.company_id WHERE c.id = {contactId}
            """), cancellationToken))?.Line(Keys);

    /// <summary>What the rep did with a contact lately: their last activities on any deal.</summary>
    public async Task<IReadOnlyList<ActivityLine>> ContactHistoryAsync(Guid contactId, int limit, CancellationToken cancellationToken)
    {
        if (limit <= preloadedHistoryLength && preloadedHistories!.Value.TryGetValue(contactId, out var preloaded)) return [.. preloaded.Take(limit)];
        return (await db.BatchAsync(batch => Histories(batch, $"SELECT {contactId}", limit), cancellationToken)).GetValueOrDefault(contactId) ?? [];
    }

    /// <summary>
    /// Reads ahead, with the rest of <paramref name="batch"/>, what a meeting brief asks about these calendar events: each event with its
    /// people, the last <paramref name="historyLength"/> activities of each attendee who is a contact, and each event's deal. This scope's
    /// questions about them are then answered from what was read (a rep's briefs cost one round trip of reads, not one per question).
    /// </summary>
    public void Preload(DbBatch batch, IReadOnlyCollection<Guid> eventIds, int historyLength)
    {
        var ids = eventIds.ToArray();
        preloadedMeetings = MeetingLines(batch, $"e.id = ANY({ids})").Select(lines => lines.ToDictionary(m => m.Id));
        preloadedHistories = Histories(batch,
            $"SELECT DISTINCT c.id FROM contacts c WHERE {IsAttendee($"SELECT * FROM calendar_events e WHERE e.id = ANY({ids})")}", historyLength);
        preloadedHistoryLength = historyLength;
        preloadedDeals = DealDetails(batch, $"SELECT e.deal_id FROM calendar_events e WHERE e.id = ANY({ids})").Select(deals => deals.ToDictionary(d => d.Deal.Id));
    }

    // The statements. Each gathers its rows as JSON, so any number of them share one round trip.

    /// <summary>The scope's org keys: contacts' emails come sealed and are opened here, after the read (no round trip: read with the batch).</summary>
    OrgKeys? Keys => PiiSealing.TenantKeys(db);

    static readonly FormattableString Person =
        $"json_build_object('id', c.id, 'first_name', c.first_name, 'last_name', c.last_name, 'email_sealed', c.email_sealed, 'title', c.title, 'company', co.name)";

    static FormattableString RealMeetingsOf(Guid me) =>
        $"e.user_id = {me} AND e.status <> 'cancelled' AND e.attendees_count >= {CalendarEvent.MinimumAttendeesForMeeting}";

    /// <summary>
    /// Contact c is among the attendees of <paramref name="events"/>, by email: by the blind index of both (the same HMAC of the normalised
    /// address), since contacts' emails are stored sealed; contacts_email_hash makes it an index lookup.
    /// </summary>
    static FormattableString IsAttendee(FormattableString events) =>
        $"c.email_hash IN (SELECT h FROM ({events}) e, unnest(e.attendee_email_hashes) h)";

    static DbResult<List<DealRow>> Deals(DbBatch batch, FormattableString filter) => batch.Add<List<DealRow>>($"""
        SELECT coalesce(json_agg(json_build_object('deal', d, 'company', co.name)), '[]')
        FROM deals d LEFT JOIN companies co ON co.id = d.company_id
        WHERE {filter}
        """);

    /// <summary>Calendar events (WHERE <paramref name="filter"/>), in order, with their attendees matched to CRM contacts by email so a brief can say who they are.</summary>
    DbResult<IReadOnlyList<MeetingLine>> MeetingLines(DbBatch batch, FormattableString filter) => batch.Add<MeetingRows>($"""
        WITH e AS (SELECT * FROM calendar_events e WHERE {filter})
        SELECT json_build_object(
            'events', (SELECT coalesce(json_agg(e ORDER BY e.start_time), '[]') FROM e),
            'people', (SELECT coalesce(json_agg({Person}), '[]') FROM contacts c LEFT JOIN companies co ON co.id = c.company_id
                       WHERE {IsAttendee($"TABLE e")}))
        """).Select(IReadOnlyList<MeetingLine> (found) =>
        {
            var keys = Keys;
            var byEmail = found.People.Select(p => p.Line(keys)).Where(p => p.Email is not null)
                .GroupBy(p => OrgKeys.Normalise(p.Email!)).ToDictionary(g => g.Key, g => g.First());
            return [.. found.Events.Select(e => new MeetingLine(e.Id, e.Title, e.StartTime, e.EndTime, e.ConferenceUrl, e.Location, e.DealId,
                [.. e.Attendees.Select(a => byEmail.GetValueOrDefault(OrgKeys.Normalise(a.Email)) ?? new PersonLine(null, a.Name ?? a.Email, a.Email, null, null, a.Self))]))];
        });

    /// <summary>Each contact's last activities, newest first, keyed by contact (an empty list for one with none).</summary>
    static DbResult<Dictionary<Guid, List<ActivityLine>>> Histories(DbBatch batch, FormattableString contactIds, int limit) =>
        batch.Add<Dictionary<Guid, List<ActivityLine>>>($"""
            SELECT coalesce(json_object_agg(k.id, (
                SELECT coalesce(json_agg(h), '[]') FROM (
                    SELECT a.occurred_at AS at, a.type, a.subject, d.name AS deal
                    FROM activities a LEFT JOIN deals d ON d.id = a.deal_id
                    WHERE a.contact_id = k.id ORDER BY a.occurred_at DESC LIMIT {limit}) h)), json_build_object())
            FROM ({contactIds}) k (id)
            """);

    /// <summary>Deals with what a deal card shows: company, primary contact, recent activities, open tasks.</summary>
    static DbResult<List<DealData>> DealDetails(DbBatch batch, FormattableString dealIds) => batch.Add<List<DealData>>($"""
        SELECT coalesce(json_agg(json_build_object(
            'deal', d, 'company', co.name,
            'contact', (SELECT {Person} FROM contacts c LEFT JOIN companies co ON co.id = c.company_id WHERE c.id = d.primary_contact_id),
            'activities', (SELECT coalesce(json_agg(a), '[]') FROM (
                SELECT a.occurred_at AS at, a.type, a.subject FROM activities a WHERE a.deal_id = d.id
                ORDER BY a.occurred_at DESC LIMIT {RecentActivities}) a),
            'tasks', (SELECT coalesce(json_agg(t), '[]') FROM ({Tasks($"t.deal_id = d.id AND t.status = 'open'")}) t))), '[]')
        FROM deals d LEFT JOIN companies co ON co.id = d.company_id
        WHERE d.id IN ({dealIds})
        """);

    static FormattableString Tasks(FormattableString filter) => $"""
        SELECT t.id, t.title, t.due_date, t.deal_id, td.name AS deal FROM tasks t LEFT JOIN deals td ON td.id = t.deal_id
        WHERE {filter} ORDER BY t.due_date
        """;

    static DealLine Line(Deal deal, string? company, DateTimeOffset now) => new(deal.Id, deal.Name, company,
        SnakeCase.ValueOf(deal.Stage), deal.Amount, deal.Currency, deal.Probability, deal.CloseDate,
        deal.LastActivityAt is { } last ? Math.Max(0, (int)(now - last).TotalDays) : null, deal.NextStep);

    sealed record DealRow(Deal Deal, string? Company);

    sealed record MeetingRows(List<CalendarEvent> Events, List<PersonRow> People);

    /// <summary>A contact as the statements read it: the email still sealed (bytea comes as \x… hex in JSON).</summary>
    sealed record PersonRow(Guid Id, string FirstName, string LastName, string? EmailSealed, string? Title, string? Company)
    {
        public PersonLine Line(OrgKeys? keys) => new(Id, $"{FirstName} {LastName}".Trim(), Email(keys), Title, Company, false);

        string? Email(OrgKeys? keys) => EmailSealed is null ? null
            : (keys ?? throw new System.Security.Cryptography.CryptographicException($"Contact {Id} has a sealed email but this scope has no org keys."))
                .Open(PiiSealing.EmailField, Id.ToString(), Convert.FromHexString(EmailSealed.AsSpan(2)));
    }

    sealed record DealData(Deal Deal, string? Company, PersonRow? Contact, List<DealActivity> Activities, List<TaskRow> Tasks);

    sealed record DealActivity(DateTimeOffset At, string Type, string Subject);

    sealed record TaskRow(Guid Id, string Title, DateOnly DueDate, Guid? DealId, string? Deal)
    {
        public TaskLine Line(DateOnly today) => new(Id, Title, DueDate, today.DayNumber - DueDate.DayNumber, DealId, Deal);
    }
}
