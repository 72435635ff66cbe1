using Microsoft.EntityFrameworkCore;
using Use60.Calendar;
using Use60.Crm;
using Use60.Data;
using Use60.Hosting;
using Use60.Orgs;

namespace Use60.Demo;

public sealed record DemoSeedReport(Guid OrgId, int Created, int Refreshed, IReadOnlyDictionary<string, int> Rows);

/// <summary>
/// Creates or refreshes the demo org. The org and its reps are made through the system path (no tenant can
/// create an org); each rep's own records are then written in that rep's tenant scope, through the same
/// row-level security as every other write.
/// </summary>
public sealed class DemoSeeder(SystemDb system, IServiceScopeFactory scopes, TimeProvider clock, ILogger<DemoSeeder> logger)
{
    public async Task<DemoSeedReport> SeedAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var counter = new Counter();
        var (orgId, userIds) = await SeedOrgAsync(now, counter, cancellationToken);

        var companyIds = DemoData.Companies.Select((c, i) => DemoData.Id($"company:{i}")).ToArray();
        var contactIds = DemoData.Contacts.Select((c, i) => DemoData.Id($"contact:{i}")).ToArray();
        var deals = DemoData.Deals().ToList();
        for (var rep = 0; rep < DemoData.Reps.Length; rep++)
        {
            await using var scope = scopes.CreateTenantScope(orgId, userIds[rep]);
            var db = scope.ServiceProvider.GetRequiredService<Use60Db>();
            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
            var owner = userIds[rep];
            var repInfo = DemoData.Reps[rep];
            var zone = TimeZones.Find(repInfo.TimeZone);
            var localToday = TimeZones.LocalDate(now, zone);

            var companies = DemoData.Companies.Select((c, i) => (c, i)).Where(x => x.c.Rep == rep).Select(x => new Company
            {
                Id = companyIds[x.i], OrgId = orgId, UserId = owner, Name = x.c.Name, Domain = x.c.Domain, Industry = x.c.Industry,
                CreatedAt = now.AddDays(-90),
            }).ToList();
            await UpsertAsync(db, companies, counter, cancellationToken);

            var contacts = DemoData.Contacts.Select((c, i) => (c, i)).Where(x => DemoData.Companies[x.c.Company].Rep == rep).Select(x => new Contact
            {
                Id = contactIds[x.i], OrgId = orgId, UserId = owner, CompanyId = companyIds[x.c.Company],
                FirstName = x.c.First, LastName = x.c.Last, Title = x.c.Title,
                Email = ContactEmail(x.c.First, x.c.Last, DemoData.Companies[x.c.Company].Domain),
                // 555-01xx numbers are reserved for fiction; some contacts lack a phone or a LinkedIn profile, as real ones do,
                // so the data-quality page has something to show.
                Phone = x.i % 4 == 3 ? null : $"+1415555{100 + x.i:0000}",
                LinkedinUrl = x.i % 5 == 4 ? null : $"https://linkedin.com/in/{Slug(x.c.First)}-{Slug(x.c.Last)}-demo",
                CreatedAt = now.AddDays(-80),
            }).ToList();
            await UpsertAsync(db, contacts, counter, cancellationToken);

            var repDeals = deals.Where(d => d.Rep == rep).ToList();
            await UpsertAsync(db, repDeals.Select(d => new Deal
            {
                Id = DealId(d), OrgId = orgId, UserId = owner, CompanyId = companyIds[d.Company],
                PrimaryContactId = contactIds[d.Company * 2], Name = d.Name, Stage = d.Stage, Amount = d.Amount,
                Probability = DealStages.DefaultProbability(d.Stage),
                CloseDate = DateOnly.FromDateTime(now.UtcDateTime).AddDays(d.CloseInDays), NextStep = d.NextStep,
                LastActivityAt = now.AddDays(-d.LastActivityDaysAgo).AddHours(-2), CreatedAt = now.AddDays(-40 - d.Index),
            }).ToList(), counter, cancellationToken);

            await UpsertAsync(db, repDeals.SelectMany(d => Activities(d, orgId, owner, contactIds[d.Company * 2], now)).ToList(), counter, cancellationToken);

            await UpsertAsync(db, DemoData.TaskPattern.Select((t, i) =>
            {
                var deal = repDeals[i % repDeals.Count];
                return new CrmTask
                {
                    Id = DemoData.Id($"task:{rep}:{i}"), OrgId = orgId, UserId = owner, DealId = DealId(deal),
                    Title = $"{t.Title} — {DemoData.Companies[deal.Company].Name}", DueDate = localToday.AddDays(t.DueInDays),
                    Status = t.Done ? CrmTaskStatus.Done : CrmTaskStatus.Open, CompletedAt = t.Done ? now.AddDays(-1) : null,
                    CreatedAt = now.AddDays(-14),
                };
            }).ToList(), counter, cancellationToken);

            var events = DemoData.CalendarPattern.Select((slot, i) =>
            {
                var deal = repDeals[i % repDeals.Count];
                var contactIndex = deal.Company * 2;
                var contact = DemoData.Contacts[contactIndex];
                var local = localToday.AddDays(slot.Day).ToDateTime(new TimeOnly(slot.Hour, slot.Minute));
                var start = new DateTimeOffset(local, zone.GetUtcOffset(local)).ToUniversalTime();
                var company = DemoData.Companies[deal.Company];
                return new CalendarEvent
                {
                    Id = DemoData.Id($"event:{rep}:{i}"), OrgId = orgId, UserId = owner, ExternalId = DemoData.ExternalEventId(rep, i),
                    Title = slot.WithContact ? $"{company.Name} — {slot.Title}" : slot.Title,
                    StartTime = start, EndTime = start.AddMinutes(slot.Minutes),
                    ConferenceUrl = slot.Video ? $"https://meet.google.com/demo-{rep}{i}-acme" : null,
                    Location = slot.WithContact && !slot.Video ? $"{company.Name} office" : null,
                    Attendees = DemoData.Attendees(repInfo, slot.WithContact
                        ? (contact.First, contact.Last, ContactEmail(contact.First, contact.Last, company.Domain)) : null),
                    DealId = slot.WithContact ? DealId(deal) : null, CreatedAt = now.AddDays(-7),
                };
            }).ToList();
            await UpsertAsync(db, events, counter, cancellationToken);

            await UpsertAsync(db, repDeals.Take(2).Select((d, i) => new Meeting
            {
                Id = DemoData.Id($"meeting:{rep}:{i}"), OrgId = orgId, OwnerUserId = owner, DealId = DealId(d),
                Title = $"{DemoData.Companies[d.Company].Name} — discovery", StartTime = now.AddDays(-3 - i * 2),
                EndTime = now.AddDays(-3 - i * 2).AddMinutes(45), SourceType = i == 0 ? MeetingSource.Notetaker : MeetingSource.Manual,
                Summary = $"Walked {DemoData.Contacts[d.Company * 2].First} through the {d.Name.Split(" — ")[^1]}. Main concern: peak-season throughput; asked for uptime figures.",
                CreatedAt = now.AddDays(-3 - i * 2),
            }).ToList(), counter, cancellationToken);

            await transaction.CommitAsync(cancellationToken);
        }

        await SeedStorageMetricsAsync(orgId, now, counter, cancellationToken);
        logger.LogInformation("Demo org {Org} ({Team}): {Created} rows created, {Refreshed} refreshed",
            DemoData.OrgName, DemoData.TeamId, counter.Created, counter.Refreshed);
        return new DemoSeedReport(orgId, counter.Created, counter.Refreshed, counter.Rows);
    }

    async Task<(Guid OrgId, Guid[] UserIds)> SeedOrgAsync(DateTimeOffset now, Counter counter, CancellationToken cancellationToken)
    {
        await using var db = system.Open("create or refresh the demo org");
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        // Reuse the org and users if Slack (or an earlier seed) created them, whatever their ids.
        var org = await db.Orgs.SingleOrDefaultAsync(o => o.SlackTeamId == DemoData.TeamId, cancellationToken);
        if (org is null)
        {
            org = new Org { Id = DemoData.Id("org"), Name = DemoData.OrgName, SlackTeamId = DemoData.TeamId, Plan = OrgPlan.Pro, CreatedAt = now };
            db.Orgs.Add(org);
            await db.SaveChangesAsync(cancellationToken);
            counter.Add("orgs", created: true);
        }
        else counter.Add("orgs", created: false);

        var userIds = new Guid[DemoData.Reps.Length];
        for (var i = 0; i < DemoData.Reps.Length; i++)
        {
            var rep = DemoData.Reps[i];
            var user = await db.Users.SingleOrDefaultAsync(u => u.OrgId == org.Id && u.SlackUserId == rep.SlackUserId, cancellationToken);
            counter.Add("users", created: user is null);
            if (user is null)
            {
                user = new AppUser { Id = DemoData.Id($"user:{rep.SlackUserId}"), OrgId = org.Id, SlackUserId = rep.SlackUserId, Name = rep.Name };
                db.Users.Add(user);
            }
            (user.Name, user.Email, user.TimeZone, user.Role) = (rep.Name, rep.Email, rep.TimeZone, rep.Role);
            userIds[i] = user.Id;
        }

        var profile = await db.OrgProfiles.SingleOrDefaultAsync(p => p.OrgId == org.Id, cancellationToken);
        counter.Add("org_profile", created: profile is null);
        var desired = DemoData.Profile(org.Id);
        if (profile is null) db.OrgProfiles.Add(desired);
        else
        {
            (profile.CompanyName, profile.Products, profile.Competitors) = (desired.CompanyName, desired.Products, desired.Competitors);
            (profile.PainPoints, profile.ValuePropositions, profile.BrandVoice) = (desired.PainPoints, desired.ValuePropositions, desired.BrandVoice);
        }
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return (org.Id, userIds);
    }

    /// <summary>
    /// 60 days of storage metrics, so the storage page means something before any recording exists: recordings arrive on
    /// working days (about half a GB each), priced as the daily metrics job prices them.
    /// </summary>
    async Task SeedStorageMetricsAsync(Guid orgId, DateTimeOffset now, Counter counter, CancellationToken cancellationToken)
    {
        const int Days = 60;
        await using var db = system.Open("seed the demo storage metrics");
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var today = DateOnly.FromDateTime(now.UtcDateTime);
        var existing = (await db.Database.SqlQuery<DateOnly>($"""
            SELECT metric_date AS "Value" FROM s3_usage_metrics WHERE org_id = {orgId} AND metric_type = 'storage_gb'
            """).ToListAsync(cancellationToken)).ToHashSet();
        var gb = 8.4m;
        for (var i = Days; i >= 1; i--)
        {
            var day = today.AddDays(-i);
            var uploaded = day.DayOfWeek is DayOfWeek.Saturday or DayOfWeek.Sunday ? 0m : Math.Round(0.35m + 0.05m * (i % 5), 3);
            gb += uploaded;
            var cost = Recordings.StorageCosts.ForDay(day, gb);
            await Recordings.StorageMetrics.UpsertAsync(db, orgId, day, "storage_gb", gb, cost.StorageCost, estimated: false, now, cancellationToken);
            await Recordings.StorageMetrics.UpsertAsync(db, orgId, day, "upload_gb", uploaded, 0m, estimated: false, now, cancellationToken);
            await Recordings.StorageMetrics.UpsertAsync(db, orgId, day, "download_gb", cost.DownloadGb, cost.DownloadCost, estimated: true, now, cancellationToken);
            for (var metric = 0; metric < 3; metric++) counter.Add("s3_usage_metrics", created: !existing.Contains(day));
        }
        await transaction.CommitAsync(cancellationToken);
    }

    static IEnumerable<Activity> Activities(DemoData.DealSeed deal, Guid orgId, Guid owner, Guid contactId, DateTimeOffset now)
    {
        var types = new[] { ActivityType.Email, ActivityType.Call, ActivityType.Meeting };
        for (var i = 0; i < 1 + deal.Index % 3; i++)
        {
            var type = types[(deal.Index + i) % types.Length];
            yield return new Activity
            {
                Id = DemoData.Id($"activity:{deal.Index}:{i}"), OrgId = orgId, UserId = owner, DealId = DealId(deal), ContactId = contactId,
                Type = type, Subject = type switch
                {
                    ActivityType.Email => "Sent pricing and the pilot plan",
                    ActivityType.Call => "Call: questions on uptime and support",
                    _ => "Site visit and demo",
                },
                // The newest activity is exactly the deal's last activity; older ones a few days apart before it.
                OccurredAt = now.AddDays(-deal.LastActivityDaysAgo - i * 4).AddHours(-2),
                CreatedAt = now.AddDays(-deal.LastActivityDaysAgo - i * 4),
            };
        }
    }

    static Guid DealId(DemoData.DealSeed deal) => DemoData.Id($"deal:{deal.Index}");

    static string ContactEmail(string first, string last, string domain) => $"{Slug(first)}.{Slug(last)}@{domain}";

    static string Slug(string name) => new(name.ToLowerInvariant().Where(char.IsLetterOrDigit).ToArray());

    /// <summary>Adds new rows and overwrites existing ones (same id) with their demo state; saved in the caller's transaction.</summary>
    static async Task UpsertAsync<T>(Use60Db db, IReadOnlyCollection<T> rows, Counter counter, CancellationToken cancellationToken) where T : class
    {
        if (rows.Count == 0) return;
        var entity = db.Model.FindEntityType(typeof(T))!;
        var key = entity.FindPrimaryKey()!.Properties[0].PropertyInfo!;
        var ids = rows.Select(r => (Guid)key.GetValue(r)!).ToList();
        var existing = await db.Set<T>().Where(e => ids.Contains(EF.Property<Guid>(e, "Id")))
            .ToDictionaryAsync(e => (Guid)key.GetValue(e)!, cancellationToken);
        var owned = entity.GetNavigations().Where(n => n.TargetEntityType.IsOwned()).Select(n => n.PropertyInfo!).ToList();
        foreach (var (row, id) in rows.Zip(ids))
        {
            if (existing.TryGetValue(id, out var current))
            {
                db.Entry(current).CurrentValues.SetValues(row);
                // A contact's email, phone and LinkedIn URL are not mapped columns (they are sealed on save): copy them as they are.
                if (current is Contact contact && row is Contact fresh)
                    (contact.Email, contact.Phone, contact.LinkedinUrl) = (fresh.Email, fresh.Phone, fresh.LinkedinUrl);
                foreach (var navigation in owned) navigation.SetValue(current, navigation.GetValue(row)); // e.g. the attendee list
            }
            else db.Add(row);
            counter.Add(entity.GetTableName()!, created: current is null);
        }
        await db.SaveChangesAsync(cancellationToken);
        db.ChangeTracker.Clear();
    }

    sealed class Counter
    {
        public int Created { get; private set; }
        public int Refreshed { get; private set; }
        public Dictionary<string, int> Rows { get; } = [];

        public void Add(string table, bool created)
        {
            if (created) Created++;
            else Refreshed++;
            Rows[table] = Rows.GetValueOrDefault(table) + 1;
        }
    }
}

sealed class SeedDemoCommand(Migrator migrator, DemoSeeder seeder) : ICommand
{
    public string Name => "seed-demo";
    public string Usage => "seed-demo";
    public string Summary => "migrate, then create or refresh the demo org Acme Robotics (T0DEMO00001); safe to re-run";

    public async Task<int> RunAsync(CommandContext context)
    {
        await migrator.MigrateAsync(context.CancellationToken);
        var report = await seeder.SeedAsync(context.CancellationToken);
        context.Out.WriteLine($"Demo org {DemoData.OrgName} ({DemoData.TeamId}): {report.Created} rows created, {report.Refreshed} refreshed " +
                              $"({string.Join(", ", report.Rows.Select(r => $"{r.Value} {r.Key}"))}).");
        context.Out.WriteLine($"Reps: {string.Join(", ", DemoData.Reps.Select(r => $"{r.Name} <{r.Email}> {r.SlackUserId} {r.TimeZone}"))}.");
        return Commands.Ok;
    }
}

public static class DemoFeature
{
    public static IServiceCollection AddDemo(this IServiceCollection services) =>
        services.AddSingleton<DemoSeeder>().AddCommand<SeedDemoCommand>();
}
