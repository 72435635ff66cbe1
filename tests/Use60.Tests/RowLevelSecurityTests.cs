using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Use60.Admin;
using Use60.Calendar;
using Use60.Copilot;
using Use60.Crm;
using Use60.Data;
using Use60.Orgs;
using Use60.Proactive;
using Use60.Security;
using Use60.Slack;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>Two orgs with rows in every tenant table; each user works through the app's own tenant-scoped DbContext.</summary>
public sealed class RlsFixture : IAsyncLifetime
{
    public TestDatabase Database { get; private set; } = null!;
    public Use60App App { get; private set; } = null!;

    /// <summary>Org A: owner, member, member. Org B: owner, member.</summary>
    public TestData.TestOrg A { get; private set; } = null!;

    public TestData.TestOrg B { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Database = await TestDatabase.CreateAsync();
        App = new Use60App(Database);
        A = await TestData.CreateOrgAsync(App.Services, "Alpha", UserRole.Owner, UserRole.Member, UserRole.Member);
        B = await TestData.CreateOrgAsync(App.Services, "Bravo", UserRole.Owner, UserRole.Member);
        foreach (var user in A.Users.Concat(B.Users)) await SeedUserAsync(user);
        await SeedOrgWideAsync(A);
        await SeedOrgWideAsync(B);
    }

    /// <summary>One row of each kind a user owns, written as that user (so the write policies are exercised too).</summary>
    async Task SeedUserAsync(AppUser user)
    {
        var audit = App.Service<SecurityAudit>();
        await TestData.AsAsync(App.Services, user, async db =>
        {
            var company = new Company { OrgId = user.OrgId, UserId = user.Id, Name = $"Co of {user.Name}" };
            var contact = new Contact { OrgId = user.OrgId, UserId = user.Id, CompanyId = company.Id, FirstName = "Pat", LastName = user.Name };
            var deal = new Deal { OrgId = user.OrgId, UserId = user.Id, CompanyId = company.Id, PrimaryContactId = contact.Id, Name = $"Deal of {user.Name}", Amount = 1000 };
            var calendarEvent = new CalendarEvent
            {
                OrgId = user.OrgId, UserId = user.Id, ExternalId = "ev-" + user.Id, Title = "Call", StartTime = DateTimeOffset.UtcNow,
                EndTime = DateTimeOffset.UtcNow.AddMinutes(30), DealId = deal.Id,
                Attendees = [new Attendee { Email = user.Email!, Self = true }, new Attendee { Email = "guest@example.com" }],
            };
            db.AddRange(company, contact, deal, calendarEvent);
            await db.SaveChangesAsync();
            db.AddRange(
                new Activity { OrgId = user.OrgId, UserId = user.Id, DealId = deal.Id, Type = ActivityType.Call, Subject = "Call", OccurredAt = DateTimeOffset.UtcNow },
                new Activity { OrgId = user.OrgId, UserId = user.Id, DealId = deal.Id, Type = ActivityType.Email, Subject = "Private email", OccurredAt = DateTimeOffset.UtcNow },
                new CrmTask { OrgId = user.OrgId, UserId = user.Id, DealId = deal.Id, Title = $"Task of {user.Name}", DueDate = DateOnly.FromDateTime(DateTime.UtcNow) },
                new Meeting { OrgId = user.OrgId, OwnerUserId = user.Id, CalendarEventId = calendarEvent.Id, Title = "Meeting", StartTime = DateTimeOffset.UtcNow },
                new AdminLoginLink { OrgId = user.OrgId, UserId = user.Id, TokenHash = Guid.NewGuid().ToByteArray().Concat(Guid.NewGuid().ToByteArray()).ToArray(), CreatedVia = "cli", ExpiresAt = DateTimeOffset.UtcNow.AddMinutes(10) },
                new AdminSession { OrgId = user.OrgId, UserId = user.Id, LastSeenAt = DateTimeOffset.UtcNow },
                new UserPreferences { OrgId = user.OrgId, UserId = user.Id },
                new OutboxMessage { OrgId = user.OrgId, UserId = user.Id, Message = "{\"text\":\"hi\"}", Source = "test", NotBefore = DateTimeOffset.UtcNow.AddYears(1) });
            audit.Record(db, "test.seeded", AuditSeverity.Info, user.OrgId, user.Id);
            await db.SaveChangesAsync();

            // The copilot's private rows.
            var now = DateTimeOffset.UtcNow;
            var conversation = new Conversation { OrgId = user.OrgId, UserId = user.Id, Channel = "D" + user.SlackUserId, StartedAt = now, LastMessageAt = now };
            var delivery = new ProactiveDelivery { OrgId = user.OrgId, UserId = user.Id, Workflow = Workflow.DailyDigest, EntityKey = "2026-11-23" };
            var action = new PendingAction
            {
                OrgId = user.OrgId, UserId = user.Id, ConversationId = conversation.Id, Action = "send_email", Params = "{}", Preview = "{}", ExpiresAt = now.AddDays(1),
            };
            db.AddRange(conversation, action);
            await db.SaveChangesAsync();
            db.AddRange(
                new ConversationMessage { OrgId = user.OrgId, UserId = user.Id, ConversationId = conversation.Id, Role = MessageRole.User, Text = "private question" },
                new ToolExecution { OrgId = user.OrgId, UserId = user.Id, ConversationId = conversation.Id, Tool = "list_skills", Arguments = "", CreatedAt = now },
                new LlmCall { OrgId = user.OrgId, UserId = user.Id, ConversationId = conversation.Id, Model = "test", CreatedAt = now },
                new CopilotUsage { OrgId = user.OrgId, UserId = user.Id, Month = new DateOnly(now.Year, now.Month, 1), Requests = 1 },
                new OutboundEmail
                {
                    OrgId = user.OrgId, UserId = user.Id, PendingActionId = action.Id, ContactId = contact.Id, ToAddress = "pat@example.com", Subject = "Hi", Body = "Hello",
                    Delivery = EmailDelivery.Sandbox,
                },
                delivery);
            await db.SaveChangesAsync();
            await db.Database.ExecuteSqlAsync(
                $"INSERT INTO proactive_engagement (org_id, user_id, delivery_id, kind, action_id, created_at) VALUES ({user.OrgId}, {user.Id}, {delivery.Id}, 'click', 'deal_open', {now})");
            await db.Database.ExecuteSqlAsync(
                $"INSERT INTO proactive_throttles (org_id, user_id, workflow, since) VALUES ({user.OrgId}, {user.Id}, 'daily_digest', {now})");
            await db.Database.ExecuteSqlAsync(
                $"INSERT INTO proactive_snoozes (org_id, user_id, entity_key, until) VALUES ({user.OrgId}, {user.Id}, {"deal:" + deal.Id}, {now.AddDays(7)})");
            db.CalendarConnections.Add(new CalendarConnection { OrgId = user.OrgId, UserId = user.Id, RefreshTokenEncrypted = [1, 2, 3], ConnectedAt = now });
            await db.SaveChangesAsync();
            await db.Database.ExecuteSqlAsync(
                $"INSERT INTO calendar_sync_tokens (org_id, user_id, calendar_id, sync_token, updated_at) VALUES ({user.OrgId}, {user.Id}, 'primary', 'token', {now})");
            await db.Database.ExecuteSqlAsync($"""
                INSERT INTO admin_totp (org_id, user_id, secret_encrypted, created_at) VALUES ({user.OrgId}, {user.Id}, {new byte[] { 1, 2 }}, {now})
                """);
            await db.Database.ExecuteSqlAsync($"""
                INSERT INTO admin_recovery_codes (code_hash, org_id, user_id, created_at)
                VALUES ({System.Security.Cryptography.SHA256.HashData(user.Id.ToByteArray().Reverse().ToArray())}, {user.OrgId}, {user.Id}, {now})
                """);
            // A notetaker recording of the user's meeting.
            db.Recordings.Add(new Recordings.Recording
            {
                OrgId = user.OrgId, UserId = user.Id, CalendarEventId = calendarEvent.Id, Source = Recordings.RecordingSource.Calendar,
                MeetingUrl = "https://meet.google.com/abc-defg-hij", MeetingKey = "meet.google.com/abc-defg-hij/" + user.Id, Platform = Recordings.MeetingPlatform.Meet,
                BotName = "use60 Notetaker (recording)", ChatNotice = "This meeting is recorded.", ConsentBasis = Recordings.ConsentBasis.OrgPolicy,
                ConsentRecordedAt = now,
            });
            await db.SaveChangesAsync();
            await db.Database.ExecuteSqlAsync($"""
                INSERT INTO calendar_oauth_states (state_hash, org_id, user_id, created_at, expires_at)
                VALUES ({System.Security.Cryptography.SHA256.HashData(user.Id.ToByteArray())}, {user.OrgId}, {user.Id}, {now}, {now.AddMinutes(10)})
                """);
        });
    }

    async Task SeedOrgWideAsync(TestData.TestOrg org)
    {
        await TestData.AsAsync(App.Services, org[0], async db =>
        {
            db.OrgProfiles.Add(new OrgProfile { OrgId = org.Id, CompanyName = org.Org.Name, Competitors = [new CompetitorInfo { Name = "WidgetCo" }] });
            db.SkillOverrides.Add(new SkillOverride { OrgId = org.Id, SkillKey = "house-style", Document = "---\nkey: house-style\n---\n", UpdatedBy = org[0].Id });
            await db.SaveChangesAsync();
            await db.Database.ExecuteSqlAsync($"""
                INSERT INTO org_profile_revisions (org_id, revision, profile, changed_by, changed_at) VALUES ({org.Id}, 1, {"{}"}::jsonb, {org[0].Id}, now())
                """);
            await db.Database.ExecuteSqlAsync($"""
                INSERT INTO copilot_lab_cases (id, org_id, name, run_as, skill_key, expected_facts, created_by, created_at)
                VALUES ({Guid.NewGuid()}, {org.Id}, 'case', {org[0].Id}, 'pipeline-review', {new[] { "fact" }}, {org[0].Id}, now())
                """);
            await db.Database.ExecuteSqlAsync($"""
                INSERT INTO skill_override_revisions (org_id, skill_key, revision, document, changed_by, changed_at)
                VALUES ({org.Id}, 'house-style', 1, 'doc', {org[0].Id}, now())
                """);
            await db.Database.ExecuteSqlAsync($"""
                INSERT INTO privacy_requests (id, org_id, kind, subject_email, status, requested_by, requested_at, execute_after)
                VALUES ({Guid.NewGuid()}, {org.Id}, 'erasure', 'someone@prospect.example', 'pending', {org[0].Id}, now(), now() + interval '30 days')
                """);
            await db.Database.ExecuteSqlAsync($"""
                INSERT INTO privacy_exports (id, org_id, kind, requested_by, requested_at, status) VALUES ({Guid.NewGuid()}, {org.Id}, 'org', {org[0].Id}, now(), 'downloaded')
                """);
            // A security incident (the monitor opens one in an owner's or admin's scope) and the owner's alert about it.
            var now = DateTimeOffset.UtcNow;
            var incident = new SecurityIncident
            {
                OrgId = org.Id, Kind = IncidentKind.CredentialHarvesting, Severity = AuditSeverity.Critical, SubjectUserId = org[1].Id, WindowStart = now,
                WindowEnd = now.AddHours(1), Summary = "Seeded", DetectedAt = now,
            };
            db.SecurityIncidents.Add(incident);
            await db.SaveChangesAsync();
            await db.Database.ExecuteSqlAsync(
                $"INSERT INTO security_incident_alerts (incident_id, org_id, user_id, alerted_at) VALUES ({incident.Id}, {org.Id}, {org[0].Id}, {now})");
        });
        // What only the system path writes: a workspace install and the sandbox's DM and modal.
        await using var system = App.Service<SystemDb>().Open("test seed");
        system.SlackInstallations.Add(new SlackInstallation
        {
            OrgId = org.Id, TeamId = org.Org.SlackTeamId!, TeamName = org.Org.Name, BotTokenEncrypted = [1, 2, 3], InstalledAt = DateTimeOffset.UtcNow,
            UpdatedAt = DateTimeOffset.UtcNow,
        });
        foreach (var user in org.Users)
        {
            system.SandboxMessages.Add(new SandboxMessage { OrgId = org.Id, UserId = user.Id, Ts = $"1.{user.Id:N}", Message = "{}", PostedAt = DateTimeOffset.UtcNow });
            system.SandboxViews.Add(new SandboxView { ViewId = "V" + user.Id.ToString("N"), OrgId = org.Id, UserId = user.Id, View = "{}", OpenedAt = DateTimeOffset.UtcNow });
        }
        await system.SaveChangesAsync();
        await Recordings.StorageMetrics.UpsertAsync(system, org.Id, DateOnly.FromDateTime(DateTime.UtcNow), "storage_gb", 1.5m, 0.001m, estimated: false,
            DateTimeOffset.UtcNow, CancellationToken.None);
        // A Fathom recording that landed on the owner's meeting (the webhook and the pull write these by the system path).
        var meetingId = await system.Meetings.Where(m => m.OwnerUserId == org[0].Id).Select(m => m.Id).FirstAsync();
        await system.Database.ExecuteSqlAsync($"""
            INSERT INTO fathom_recordings (recording_id, org_id, user_id, meeting_id, status, via, first_seen_at, landed_at)
            VALUES ({"rls-" + org.Id}, {org.Id}, {org[0].Id}, {meetingId}, 'landed', 'pull', now(), now())
            """);
        // A provider's webhook delivery, once processed: it names the org it was about (only the system path reads the inbox).
        await system.Database.ExecuteSqlAsync($"""
            INSERT INTO webhook_inbox (provider, delivery_id, event, payload, received_at, processed_at, outcome, org_id)
            VALUES ('meetingbaas', {"rls-" + Guid.NewGuid()}, 'bot.completed', {"{}"}::jsonb, now(), now(), 'handled', {org.Id})
            """);
    }

    public async Task DisposeAsync()
    {
        await App.DisposeAsync();
        await Database.DisposeAsync();
    }
}

public sealed class RowLevelSecurityTests(RlsFixture fixture) : IClassFixture<RlsFixture>
{
    TestData.TestOrg A => fixture.A;
    TestData.TestOrg B => fixture.B;
    IServiceProvider Services => fixture.App.Services;

    /// <summary>Tables with tenant data: every table with an org_id, user_id or owner_user_id column, and orgs itself.</summary>
    async Task<List<string>> TenantTablesAsync() =>
        (await TestDatabase.ScalarAsync<string[]>(fixture.Database.OwnerConnectionString, """
            SELECT array_agg(DISTINCT table_name::text ORDER BY table_name::text) FROM information_schema.columns
            WHERE table_schema = 'public' AND column_name IN ('org_id', 'user_id', 'owner_user_id')
            """))!.Append("orgs").Order().ToList();

    static string OrgColumn(string table) => table == "orgs" ? "id" : "org_id";

    [Fact]
    public async Task A_user_of_one_org_sees_none_of_another_orgs_rows_in_any_table()
    {
        var tables = await TenantTablesAsync();
        Assert.Contains("deals", tables);
        foreach (var table in tables)
        {
            // The other org really has rows here, or this test would prove nothing about the table.
            var bRows = await TestDatabase.ScalarAsync<long>(fixture.Database.SuperuserConnectionString,
                $"SELECT count(*) FROM {table} WHERE {OrgColumn(table)} = '{B.Id}'");
            Assert.True(bRows > 0, $"seed org B has no rows in {table}: add some to RlsFixture so this table is tested");

            var sql = $"SELECT {OrgColumn(table)} AS \"Value\" FROM {table}"; // table names from information_schema
            foreach (var user in A.Users)
            {
                var orgs = await TestData.AsAsync(Services, user, db => db.Database.SqlQueryRaw<Guid>(sql).ToListAsync());
                Assert.DoesNotContain(B.Id, orgs);
                Assert.All(orgs, org => Assert.Equal(A.Id, org));
            }
        }
    }

    [Fact]
    public async Task Colleagues_deals_are_visible_only_while_crm_sharing_is_on_and_tasks_only_while_task_sharing_is_on()
    {
        var (member, colleague) = (A[1], A[2]);
        try
        {
            await TestData.SetSharingAsync(Services, A.Id, crm: true, tasks: false);
            var deals = await TestData.AsAsync(Services, member, db => db.Deals.Select(d => d.UserId).ToListAsync());
            var tasks = await TestData.AsAsync(Services, member, db => db.Tasks.Select(t => t.UserId).ToListAsync());
            Assert.Contains(colleague.Id, deals);
            Assert.Equal([member.Id], tasks.Distinct());

            await TestData.SetSharingAsync(Services, A.Id, crm: false, tasks: true);
            deals = await TestData.AsAsync(Services, member, db => db.Deals.Select(d => d.UserId).ToListAsync());
            tasks = await TestData.AsAsync(Services, member, db => db.Tasks.Select(t => t.UserId).ToListAsync());
            Assert.Equal([member.Id], deals.Distinct());
            Assert.Contains(colleague.Id, tasks);
            Assert.Equal(A.Users.Count, tasks.Distinct().Count());
        }
        finally
        {
            await TestData.SetSharingAsync(Services, A.Id, crm: true, tasks: false);
        }
    }

    [Fact]
    public async Task A_colleagues_emails_stay_private_on_shared_deals_until_email_sharing_is_on()
    {
        var (member, colleague) = (A[1], A[2]);
        try
        {
            var seen = await TestData.AsAsync(Services, member, db =>
                db.Activities.Where(a => a.UserId == colleague.Id).Select(a => a.Type).ToListAsync());
            Assert.Equal([ActivityType.Call], seen);

            await TestData.SetSharingAsync(Services, A.Id, emails: true);
            seen = await TestData.AsAsync(Services, member, db =>
                db.Activities.Where(a => a.UserId == colleague.Id).Select(a => a.Type).ToListAsync());
            Assert.Equal([ActivityType.Email, ActivityType.Call], seen.Order());
        }
        finally
        {
            await TestData.SetSharingAsync(Services, A.Id, emails: false);
        }
    }

    [Fact]
    public async Task Meetings_and_calendar_follow_the_meeting_toggle_and_sessions_are_never_shared()
    {
        var (member, colleague) = (A[1], A[2]);
        try
        {
            Assert.Contains(colleague.Id, await TestData.AsAsync(Services, member, db => db.Meetings.Select(m => m.OwnerUserId).ToListAsync()));
            await TestData.SetSharingAsync(Services, A.Id, meetings: false);
            Assert.Equal([member.Id], (await TestData.AsAsync(Services, member, db => db.Meetings.Select(m => m.OwnerUserId).ToListAsync())).Distinct());
            Assert.Equal([member.Id], (await TestData.AsAsync(Services, member, db => db.CalendarEvents.Select(e => e.UserId).ToListAsync())).Distinct());
        }
        finally
        {
            await TestData.SetSharingAsync(Services, A.Id, meetings: true);
        }
        // The owner of the org cannot see a member's admin sessions or sign-in links either.
        Assert.Equal([A[0].Id], (await TestData.AsAsync(Services, A[0], db => db.AdminSessions.Select(s => s.UserId).ToListAsync())).Distinct());
        Assert.Equal([A[0].Id], (await TestData.AsAsync(Services, A[0], db => db.AdminLoginLinks.Select(s => s.UserId).ToListAsync())).Distinct());
    }

    [Fact]
    public async Task Two_hundred_concurrent_operations_alternating_tenants_on_a_small_pool_never_see_another_tenants_rows()
    {
        // Four connections for 200 operations: every connection serves many tenants in turn.
        await using var app = new Use60App(fixture.Database, new Dictionary<string, string?>
        {
            ["Database:Url"] = fixture.Database.AppConnectionString + ";Maximum Pool Size=4;Application Name=use60-pool-test",
        });
        var users = new[] { A[0], B[0], A[1], B[1], A[2] };
        var operations = Enumerable.Range(0, 200).Select(async i =>
        {
            var user = users[i % users.Length];
            return await TestData.AsAsync(app.Services, user, async db =>
            {
                var settings = await db.Database.SqlQueryRaw<string>("SELECT current_setting('app.org_id') || '/' || current_setting('app.user_id') AS \"Value\"").SingleAsync();
                var dealOrgs = await db.Deals.Select(d => d.OrgId).ToListAsync();
                var taskOwners = await db.Tasks.Select(t => t.UserId).ToListAsync();
                return (user, settings, dealOrgs, taskOwners);
            });
        });
        var results = await Task.WhenAll(operations);

        Assert.Equal(200, results.Length);
        foreach (var (user, settings, dealOrgs, taskOwners) in results)
        {
            Assert.Equal($"{user.OrgId}/{user.Id}", settings);
            Assert.NotEmpty(dealOrgs);
            Assert.All(dealOrgs, org => Assert.Equal(user.OrgId, org));
            Assert.Equal([user.Id], taskOwners.Distinct());
        }
        var backends = await TestDatabase.ScalarAsync<long>(fixture.Database.SuperuserConnectionString,
            $"SELECT count(*) FROM pg_stat_activity WHERE datname = '{fixture.Database.Name}' AND usename = 'use60_app' AND application_name = 'use60-pool-test'");
        Assert.InRange(backends, 1, 4);
    }

    [Fact]
    public async Task Every_table_with_tenant_data_has_row_level_security_enabled_forced_and_a_policy()
    {
        var tables = await TenantTablesAsync();
        var missing = await TestDatabase.ScalarAsync<string[]>(fixture.Database.OwnerConnectionString, $"""
            SELECT coalesce(array_agg(t.name || ': ' || concat_ws(', ',
                       CASE WHEN NOT c.relrowsecurity THEN 'RLS not enabled' END,
                       CASE WHEN NOT c.relforcerowsecurity THEN 'RLS not forced' END,
                       CASE WHEN NOT EXISTS (SELECT FROM pg_policies p WHERE p.schemaname = 'public' AND p.tablename = t.name
                                             AND 'public' = ANY (p.roles)) THEN 'no tenant policy' END)), ARRAY[]::text[])
            FROM unnest(ARRAY['{string.Join("','", tables)}']) AS t(name)
            JOIN pg_class c ON c.oid = ('public.' || t.name)::regclass
            WHERE c.relkind IN ('r', 'p') AND (NOT c.relrowsecurity OR NOT c.relforcerowsecurity
               OR NOT EXISTS (SELECT FROM pg_policies p WHERE p.schemaname = 'public' AND p.tablename = t.name AND 'public' = ANY (p.roles)))
            """);
        Assert.Empty(missing!);
        // A view over tenant data reads with its reader's rights (security_invoker), so the tables' policies apply to it too.
        var ownerRightsViews = await TestDatabase.ScalarAsync<string[]>(fixture.Database.OwnerConnectionString, $"""
            SELECT coalesce(array_agg(t.name), ARRAY[]::text[]) FROM unnest(ARRAY['{string.Join("','", tables)}']) AS t(name)
            JOIN pg_class c ON c.oid = ('public.' || t.name)::regclass
            WHERE c.relkind = 'v' AND NOT coalesce('security_invoker=true' = ANY (c.reloptions), false)
            """);
        Assert.Empty(ownerRightsViews!);
        Assert.True(tables.Count >= 14, $"expected the tenant tables, found {string.Join(", ", tables)}");

        // Tables without tenant data are few and named: anything else must be in the list above.
        var others = await TestDatabase.ScalarAsync<string[]>(fixture.Database.OwnerConnectionString, $"""
            SELECT coalesce(array_agg(tablename::text ORDER BY tablename), ARRAY[]::text[]) FROM pg_tables
            WHERE schemaname = 'public' AND tablename <> ALL (ARRAY['{string.Join("','", tables)}'])
            """);
        // The Slack inbox, OAuth states, the sandbox's secret and the Fathom pull's mark (one for the
        // deployment): row-level security with only the system path's policy. Quartz's own tables hold the schedule (job names, fire times), and job_runs how its runs went: no tenant's data.
        Assert.Equal(["data_protection_keys", "fathom_sync", "job_runs", "schema_migrations", "slack_inbox", "slack_oauth_states", "slack_sandbox_secret"],
            others!.Where(t => !t.StartsWith("qrtz_", StringComparison.Ordinal)));
        Assert.Equal(15, others!.Count(t => t.StartsWith("qrtz_", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task The_app_role_is_neither_superuser_nor_bypassrls_nor_owner()
    {
        var row = await TestDatabase.ScalarAsync<string>(fixture.Database.AppConnectionString, """
            SELECT concat_ws(',', current_user, rolsuper, rolbypassrls,
                   EXISTS (SELECT FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user))
            FROM pg_roles WHERE rolname = current_user
            """);
        Assert.Equal("use60_app,f,f,f", row);
    }

    [Theory]
    [InlineData("UPDATE security_audit_log SET severity = 'critical'")]
    [InlineData("DELETE FROM security_audit_log")]
    [InlineData("TRUNCATE security_audit_log")]
    public async Task The_security_audit_log_refuses_update_delete_and_truncate_even_for_the_app_role_and_the_owner(string sql)
    {
        var before = await TestDatabase.ScalarAsync<long>(fixture.Database.SuperuserConnectionString, "SELECT count(*) FROM security_audit_log");
        var asApp = await Assert.ThrowsAsync<PostgresException>(() => TestDatabase.ExecuteAsync(fixture.Database.AppConnectionString, sql));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, asApp.SqlState);
        var asOwner = await Assert.ThrowsAsync<PostgresException>(() => TestDatabase.ExecuteAsync(fixture.Database.OwnerConnectionString,
            "SET app.system = 'on'; " + sql));
        Assert.Contains("append-only", asOwner.MessageText);
        var asSuperuser = await Assert.ThrowsAsync<PostgresException>(() => TestDatabase.ExecuteAsync(fixture.Database.SuperuserConnectionString, sql));
        Assert.Contains("append-only", asSuperuser.MessageText);
        Assert.Equal(before, await TestDatabase.ScalarAsync<long>(fixture.Database.SuperuserConnectionString, "SELECT count(*) FROM security_audit_log"));

        // Through the app's DbContext too, as an admin of the org.
        await Assert.ThrowsAsync<PostgresException>(() => TestData.AsAsync(Services, A[0], db =>
            db.SecurityAuditLog.ExecuteUpdateAsync(set => set.SetProperty(e => e.Severity, AuditSeverity.Critical))));
    }

    [Fact]
    public async Task Only_owners_and_admins_read_their_orgs_audit_log_and_anyone_can_append_to_it()
    {
        var audit = fixture.App.Service<SecurityAudit>();
        await TestData.AsAsync(Services, A[1], async db =>
        {
            audit.Record(db, "test.member_appended", AuditSeverity.Info, A.Id, A[1].Id);
            await db.SaveChangesAsync();
            Assert.Empty(await db.SecurityAuditLog.ToListAsync());
        });
        var ownerView = await TestData.AsAsync(Services, A[0], db => db.SecurityAuditLog.ToListAsync());
        Assert.Contains(ownerView, e => e.EventType == "test.member_appended");
        Assert.All(ownerView, e => Assert.Equal(A.Id, e.OrgId));
        // Appending to another org's log is refused.
        await Assert.ThrowsAsync<DbUpdateException>(() => TestData.AsAsync(Services, A[1], async db =>
        {
            audit.Record(db, "test.forged", AuditSeverity.Info, B.Id, null);
            await db.SaveChangesAsync();
        }));
    }

    [Fact]
    public async Task Security_incidents_are_for_their_orgs_owners_and_admins_members_can_neither_read_open_nor_resolve_one()
    {
        var member = A[1];
        Assert.Empty(await TestData.AsAsync(Services, member, db => db.SecurityIncidents.ToListAsync()));
        Assert.Equal(0, await TestData.AsAsync(Services, member, db => db.Database.ExecuteSqlAsync(
            $"UPDATE security_incidents SET status = 'resolved', resolved_at = now() WHERE org_id = {A.Id}")));
        await Assert.ThrowsAsync<DbUpdateException>(() => TestData.AsAsync(Services, member, async db =>
        {
            db.SecurityIncidents.Add(new SecurityIncident
            {
                OrgId = A.Id, Kind = IncidentKind.CredentialHarvesting, Severity = AuditSeverity.Low, WindowStart = DateTimeOffset.UtcNow,
                WindowEnd = DateTimeOffset.UtcNow.AddHours(1), Summary = "Forged", DetectedAt = DateTimeOffset.UtcNow,
            });
            await db.SaveChangesAsync();
        }));
        var ownerView = await TestData.AsAsync(Services, A[0], db => db.SecurityIncidents.Select(i => i.OrgId).ToListAsync());
        Assert.NotEmpty(ownerView);
        Assert.All(ownerView, org => Assert.Equal(A.Id, org));
    }

    [Fact]
    public async Task A_member_cannot_write_as_someone_else_nor_change_a_colleagues_shared_deal()
    {
        var (member, colleague) = (A[1], A[2]);
        var forged = await Assert.ThrowsAsync<DbUpdateException>(() => TestData.AsAsync(Services, member, async db =>
        {
            db.Deals.Add(new Deal { OrgId = A.Id, UserId = colleague.Id, Name = "Forged" });
            await db.SaveChangesAsync();
        }));
        Assert.Contains("row-level security", forged.InnerException!.Message);
        await Assert.ThrowsAsync<DbUpdateException>(() => TestData.AsAsync(Services, member, async db =>
        {
            db.Deals.Add(new Deal { OrgId = B.Id, UserId = member.Id, Name = "Into another org" });
            await db.SaveChangesAsync();
        }));

        var changed = await TestData.AsAsync(Services, member, db =>
            db.Deals.Where(d => d.UserId == colleague.Id).ExecuteUpdateAsync(set => set.SetProperty(d => d.Amount, 1m)));
        Assert.Equal(0, changed);
        var visible = await TestData.AsAsync(Services, member, db => db.Deals.CountAsync(d => d.UserId == colleague.Id));
        Assert.True(visible > 0);
    }

    [Fact]
    public async Task Logging_an_activity_on_a_colleagues_shared_deal_moves_its_last_activity()
    {
        var (member, colleague) = (A[1], A[2]);
        var deal = await TestData.AsAsync(Services, colleague, db => db.Deals.FirstAsync(d => d.UserId == colleague.Id));
        var at = DateTimeOffset.UtcNow.AddDays(1);
        await TestData.AsAsync(Services, member, async db =>
        {
            db.Activities.Add(new Activity { OrgId = A.Id, UserId = member.Id, DealId = deal.Id, Type = ActivityType.Note, Subject = "Helped out", OccurredAt = at });
            await db.SaveChangesAsync();
        });
        var after = await TestData.AsAsync(Services, colleague, db => db.Deals.AsNoTracking().SingleAsync(d => d.Id == deal.Id));
        Assert.Equal(at.ToUnixTimeMilliseconds(), after.LastActivityAt!.Value.ToUnixTimeMilliseconds());
        // The trigger's system context ended with it: the member still cannot change the deal.
        Assert.Equal(0, await TestData.AsAsync(Services, member, db =>
            db.Deals.Where(d => d.Id == deal.Id).ExecuteUpdateAsync(set => set.SetProperty(d => d.Name, "x"))));
    }

    [Fact]
    public async Task Copilot_sharing_can_never_be_turned_on_even_by_the_owner_role()
    {
        var error = await Assert.ThrowsAsync<PostgresException>(() => TestDatabase.ExecuteAsync(fixture.Database.OwnerConnectionString,
            $"SET app.system = 'on'; UPDATE org_settings SET enable_copilot_sharing = true WHERE org_id = '{A.Id}'"));
        Assert.Equal(PostgresErrorCodes.CheckViolation, error.SqlState);
        Assert.Equal("copilot_conversations_are_always_private", error.ConstraintName);
    }

    [Fact]
    public async Task Without_a_tenant_the_app_sees_no_tenant_rows_at_all()
    {
        await using var scope = Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<Use60Db>();
        Assert.Empty(await db.Orgs.ToListAsync());
        Assert.Empty(await db.Users.ToListAsync());
        Assert.Empty(await db.Deals.ToListAsync());
    }

    [Fact]
    public async Task The_system_path_sees_every_org_and_a_plain_owner_connection_does_not()
    {
        await using (var db = Services.GetRequiredService<SystemDb>().Open("test"))
            Assert.Superset(new HashSet<Guid> { A.Id, B.Id }, (await db.Orgs.Select(o => o.Id).ToListAsync()).ToHashSet());
        // Forced RLS binds the owner too, until it says it is doing system work.
        Assert.Equal(0, await TestDatabase.ScalarAsync<long>(fixture.Database.OwnerConnectionString, "SELECT count(*) FROM deals"));
    }
}
