using Microsoft.EntityFrameworkCore;
using Use60.Calendar;
using Use60.Data;

namespace Use60.Crm;

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
/// <c>me</c>.
/// </summary>
public sealed class CrmQueries(Use60Db db)
{
    public async Task<PipelineSummary> PipelineAsync(Guid me, DateOnly today, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var open = await WithCompaniesAsync(db.Deals.Where(d => d.UserId == me && d.Stage != DealStage.ClosedWon && d.Stage != DealStage.ClosedLost),
            cancellationToken);
        var lines = open.Select(d => Line(d.Deal, d.Company, now)).ToList();
        var weekEnd = today.AddDays(7 - ((int)today.DayOfWeek + 6) % 7 - 1); // Sunday of this week
        return new PipelineSummary(
            lines.Count, lines.Sum(l => l.Amount), Math.Round(lines.Sum(l => l.Amount * l.Probability / 100m), 2),
            lines.Select(l => l.Currency).FirstOrDefault() ?? "USD",
            [.. lines.GroupBy(l => l.Stage).OrderBy(g => Enum.Parse<DealStage>(g.Key, true)).Select(g => new StageTotal(g.Key, g.Count(), g.Sum(l => l.Amount)))],
            [.. lines.Where(l => l.CloseDate is { } close && close >= today && close <= weekEnd).OrderBy(l => l.CloseDate)],
            [.. lines.Where(l => l.DaysSinceActivity >= DealStages.StallThreshold.Days).OrderByDescending(l => l.DaysSinceActivity)]);
    }

    /// <summary>Real meetings (more than one attendee, not cancelled) of the rep's calendar starting in [from, to).</summary>
    public async Task<IReadOnlyList<MeetingLine>> MeetingsAsync(Guid me, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        var events = await RealMeetings(me).Where(e => e.StartTime >= from && e.StartTime < to).OrderBy(e => e.StartTime).ToListAsync(cancellationToken);
        return await WithPeopleAsync(events, cancellationToken);
    }

    public async Task<MeetingLine?> NextMeetingAsync(Guid me, DateTimeOffset now, CancellationToken cancellationToken) =>
        await OneAsync(RealMeetings(me).Where(e => e.EndTime > now).OrderBy(e => e.StartTime), cancellationToken);

    public async Task<MeetingLine?> LastMeetingAsync(Guid me, DateTimeOffset now, CancellationToken cancellationToken) =>
        await OneAsync(RealMeetings(me).Where(e => e.EndTime <= now).OrderByDescending(e => e.StartTime), cancellationToken);

    public async Task<MeetingLine?> MeetingAsync(Guid id, CancellationToken cancellationToken) =>
        await OneAsync(db.CalendarEvents.AsNoTracking().Where(e => e.Id == id), cancellationToken);

    public async Task<IReadOnlyList<TaskLine>> OverdueTasksAsync(Guid me, DateOnly today, CancellationToken cancellationToken) =>
        await TaskLines(db.Tasks.Where(t => t.UserId == me && t.Status == CrmTaskStatus.Open && t.DueDate < today), today)
            .ToListAsync(cancellationToken);

    public async Task<IReadOnlyList<DealLine>> SearchDealsAsync(string? query, string? stage, DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        IQueryable<Deal> deals = db.Deals;
        if (!string.IsNullOrWhiteSpace(query))
        {
            var pattern = "%" + query.Trim().Replace("\\", "\\\\").Replace("%", "\\%").Replace("_", "\\_") + "%";
            deals = deals.Where(d => EF.Functions.ILike(d.Name, pattern) || db.Companies.Any(c => c.Id == d.CompanyId && EF.Functions.ILike(c.Name, pattern)));
        }
        if (stage is not null && Enum.TryParse<DealStage>(stage.Replace("_", ""), true, out var wanted)) deals = deals.Where(d => d.Stage == wanted);
        var found = await WithCompaniesAsync(deals.OrderByDescending(d => d.Amount).Take(limit), cancellationToken);
        return [.. found.Select(d => Line(d.Deal, d.Company, now))];
    }

    public async Task<DealDetail?> DealAsync(Guid id, IReadOnlyList<string> competitors, DateOnly today, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        if ((await WithCompaniesAsync(db.Deals.Where(d => d.Id == id), cancellationToken)) is not [var found]) return null;
        var deal = found.Deal;
        var contact = deal.PrimaryContactId is { } contactId ? await PersonAsync(contactId, cancellationToken) : null;
        var activities = await db.Activities.AsNoTracking().Where(a => a.DealId == id).OrderByDescending(a => a.OccurredAt).Take(5)
            .Select(a => new ActivityLine(a.OccurredAt, a.Type.ToString().ToLowerInvariant(), a.Subject, deal.Name)).ToListAsync(cancellationToken);
        var tasks = await TaskLines(db.Tasks.Where(t => t.DealId == id && t.Status == CrmTaskStatus.Open), today).ToListAsync(cancellationToken);
        // A competitor is "involved" when the deal's own words name it.
        var text = string.Join(' ', [deal.Name, deal.NextStep ?? "", .. activities.Select(a => a.Subject)]);
        var mentioned = competitors.Where(c => text.Contains(c, StringComparison.OrdinalIgnoreCase)).ToList();
        return new DealDetail(Line(deal, found.Company, now), contact, activities, tasks, mentioned);
    }

    public async Task<PersonLine?> PersonAsync(Guid contactId, CancellationToken cancellationToken) =>
        await (from c in db.Contacts.AsNoTracking()
               join co in db.Companies.AsNoTracking() on c.CompanyId equals co.Id into cos
               from co in cos.DefaultIfEmpty()
               where c.Id == contactId
               select new PersonLine(c.Id, (c.FirstName + " " + c.LastName).Trim(), c.Email, c.Title, co == null ? null : co.Name, false))
            .SingleOrDefaultAsync(cancellationToken);

    /// <summary>What the rep did with a contact lately: their last activities on any deal.</summary>
    public async Task<IReadOnlyList<ActivityLine>> ContactHistoryAsync(Guid contactId, int limit, CancellationToken cancellationToken) =>
        await (from a in db.Activities.AsNoTracking()
               join d in db.Deals.AsNoTracking() on a.DealId equals d.Id into ds
               from d in ds.DefaultIfEmpty()
               where a.ContactId == contactId
               orderby a.OccurredAt descending
               select new ActivityLine(a.OccurredAt, a.Type.ToString().ToLowerInvariant(), a.Subject, d == null ? null : d.Name))
            .Take(limit).ToListAsync(cancellationToken);

    async Task<List<(Deal Deal, Company? Company)>> WithCompaniesAsync(IQueryable<Deal> deals, CancellationToken cancellationToken)
    {
        var found = await deals.AsNoTracking().ToListAsync(cancellationToken);
        var ids = found.Where(d => d.CompanyId is not null).Select(d => d.CompanyId!.Value).Distinct().ToList();
        var companies = await db.Companies.AsNoTracking().Where(c => ids.Contains(c.Id)).ToDictionaryAsync(c => c.Id, cancellationToken);
        return [.. found.Select(d => (d, d.CompanyId is { } companyId ? companies.GetValueOrDefault(companyId) : null))];
    }

    static DealLine Line(Deal deal, Company? company, DateTimeOffset now) => new(deal.Id, deal.Name, company?.Name,
        SnakeCase.ValueOf(deal.Stage), deal.Amount, deal.Currency, deal.Probability, deal.CloseDate,
        deal.LastActivityAt is { } last ? Math.Max(0, (int)(now - last).TotalDays) : null, deal.NextStep);

    IQueryable<CalendarEvent> RealMeetings(Guid me) => db.CalendarEvents.AsNoTracking()
        .Where(e => e.UserId == me && e.Status != CalendarEventStatus.Cancelled && e.AttendeesCount >= CalendarEvent.MinimumAttendeesForMeeting);

    async Task<MeetingLine?> OneAsync(IQueryable<CalendarEvent> events, CancellationToken cancellationToken) =>
        await events.FirstOrDefaultAsync(cancellationToken) is { } found ? (await WithPeopleAsync([found], cancellationToken))[0] : null;

    /// <summary>Attendees matched to CRM contacts by email, so a brief can say who they are.</summary>
    async Task<IReadOnlyList<MeetingLine>> WithPeopleAsync(IReadOnlyList<CalendarEvent> events, CancellationToken cancellationToken)
    {
        var emails = events.SelectMany(e => e.Attendees).Select(a => a.Email.ToLowerInvariant()).Distinct().ToList();
        var contacts = await (from c in db.Contacts.AsNoTracking()
                              join co in db.Companies.AsNoTracking() on c.CompanyId equals co.Id into cos
                              from co in cos.DefaultIfEmpty()
                              where c.Email != null && emails.Contains(c.Email.ToLower())
                              select new PersonLine(c.Id, (c.FirstName + " " + c.LastName).Trim(), c.Email, c.Title, co == null ? null : co.Name, false))
            .ToListAsync(cancellationToken);
        var byEmail = contacts.GroupBy(c => c.Email!.ToLowerInvariant()).ToDictionary(g => g.Key, g => g.First());
        return [.. events.Select(e => new MeetingLine(e.Id, e.Title, e.StartTime, e.EndTime, e.ConferenceUrl, e.Location, e.DealId,
            [.. e.Attendees.Select(a => byEmail.GetValueOrDefault(a.Email.ToLowerInvariant()) ?? new PersonLine(null, a.Name ?? a.Email, a.Email, null, null, a.Self))]))];
    }

    IQueryable<TaskLine> TaskLines(IQueryable<CrmTask> tasks, DateOnly today) =>
        from t in tasks.AsNoTracking()
        join d in db.Deals.AsNoTracking() on t.DealId equals d.Id into ds
        from d in ds.DefaultIfEmpty()
        orderby t.DueDate
        select new TaskLine(t.Id, t.Title, t.DueDate, today.DayNumber - t.DueDate.DayNumber, t.DealId, d == null ? null : d.Name);
}
