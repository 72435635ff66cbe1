using System.Net;
using System.Text.Json.Nodes;
using Npgsql;
using Use60.Copilot;
using Use60.Crm;
using Use60.Orgs;
using Use60.Proactive;
using Use60.Security;
using Use60.Slack;
using Use60.Tests.Infrastructure;

namespace Use60.Tests.Drills;

/// <summary>Two orgs in the local Slack sandbox: A (the attacker's workspace) and B (whose rows A's payloads name).</summary>
public sealed class TenancyAttackFixture : IAsyncLifetime
{
    public TestDatabase Database { get; private set; } = null!;
    public Use60App App { get; private set; } = null!;
    public TestData.TestOrg A { get; private set; } = null!;
    public TestData.TestOrg B { get; private set; } = null!;
    public SlackRequests Requests { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Database = await TestDatabase.CreateAsync();
        App = new Use60App(Database);
        A = await TestData.CreateOrgAsync(App.Services, "Attacker", UserRole.Owner, UserRole.Member);
        B = await TestData.CreateOrgAsync(App.Services, "Victim", UserRole.Owner, UserRole.Member);
        var secret = await App.Service<SlackSigningSecret>().GetAsync(CancellationToken.None);
        Requests = new SlackRequests(App.Client(), secret!, A.Org.SlackTeamId!);
    }

    public async Task DisposeAsync()
    {
        await App.DisposeAsync();
        await Database.DisposeAsync();
    }
}

/// <summary>
/// Tenancy under attack: a click signed for org A's workspace whose payload names org B's pending action, deal, task, user or org id
/// changes none of B's rows (nor writes anything of A's about them), and leaves a high-severity line in the security audit log.
/// </summary>
public sealed class TenancyAttackTests(TenancyAttackFixture fixture) : IClassFixture<TenancyAttackFixture>
{
    Use60App App => fixture.App;

    /// <summary>What a refused click still writes for A: its inbox row, the reply to the clicker (outbox, sandbox), the audit line, the user's last-seen.</summary>
    static readonly string[] Replies = ["slack_inbox", "slack_outbox", "slack_sandbox_messages", "security_audit_log", "users"];

    sealed record Victim(Guid DealId, Guid TaskId, Guid PendingActionId);

    async Task<Victim> VictimRowsAsync(TestData.TestOrg org)
    {
        var owner = org[0];
        return await TestData.AsAsync(App.Services, owner, async db =>
        {
            var deal = new Deal { OrgId = owner.OrgId, UserId = owner.Id, Name = "Victim's big deal", Stage = DealStage.Proposal, Amount = 90_000,
                LastActivityAt = DateTimeOffset.UtcNow.AddDays(-20) };
            var task = new CrmTask { OrgId = owner.OrgId, UserId = owner.Id, Title = "Victim's task", DueDate = DateOnly.FromDateTime(DateTime.UtcNow) };
            var now = DateTimeOffset.UtcNow;
            var conversation = new Conversation { OrgId = owner.OrgId, UserId = owner.Id, Channel = "D" + owner.SlackUserId, StartedAt = now, LastMessageAt = now };
            db.AddRange(deal, task, conversation);
            await db.SaveChangesAsync();
            var action = new PendingAction
            {
                OrgId = owner.OrgId, UserId = owner.Id, ConversationId = conversation.Id, Action = "update_deal_stage",
                Params = new JsonObject { ["deal_id"] = deal.Id.ToString(), ["stage"] = "closed_lost" }.ToJsonString(), Preview = "{}",
                CreatedAt = now, ExpiresAt = now.AddDays(1),
            };
            db.Add(action);
            await db.SaveChangesAsync();
            return new Victim(deal.Id, task.Id, action.Id);
        });
    }

    public static TheoryData<string> Attacks() =>
    [
        "confirm B's pending action", "cancel B's pending action", "mark B's deal lost", "snooze B's deal", "open B's deal",
        "draft a follow-up to B's deal", "choose B's deal", "mark B's task done", "snooze B's task", "reschedule B's task",
        "open preferences naming B's user", "a button naming B's org",
    ];

    [Theory]
    [MemberData(nameof(Attacks))]
    public async Task A_click_naming_another_orgs_row_changes_nothing_and_is_audited(string attack)
    {
        var victim = await VictimRowsAsync(fixture.B);
        var attacker = fixture.A[1];
        var (actionId, value, blockId) = attack switch
        {
            "confirm B's pending action" => (CopilotSlack.ConfirmAction, victim.PendingActionId.ToString(), CopilotBlocks.PreviewBlockId(victim.PendingActionId)),
            "cancel B's pending action" => (CopilotSlack.CancelAction, victim.PendingActionId.ToString(), CopilotBlocks.PreviewBlockId(victim.PendingActionId)),
            "mark B's deal lost" => (DealButtons.MarkLost, victim.DealId.ToString(), "deal"),
            "snooze B's deal" => (DealButtons.Snooze, victim.DealId.ToString(), "deal"),
            "open B's deal" => (DealButtons.Open, victim.DealId.ToString(), "deal"),
            "draft a follow-up to B's deal" => (DealButtons.DraftFollowUp, victim.DealId.ToString(), "deal"),
            "choose B's deal" => (CopilotSlack.ChooseAction, $"1:{victim.DealId}", "choices"),
            "mark B's task done" => (TaskReminders.DoneAction, "done", "task:" + victim.TaskId),
            "snooze B's task" => (TaskReminders.SnoozeAction, "snooze", "task:" + victim.TaskId),
            "reschedule B's task" => (TaskReminders.RescheduleAction, "", "task:" + victim.TaskId),
            "open preferences naming B's user" => (SettingsModal.OpenAction, fixture.B[1].Id.ToString(), "prefs"),
            _ => (DealButtons.Open, fixture.B.Id.ToString(), "deal"),
        };
        var beforeB = await OrgRowsAsync(fixture.B.Id);
        var beforeA = await OrgRowsAsync(fixture.A.Id, except: Replies);
        var audits = await AuditCountAsync();

        var trigger = await ClickAsync(attacker, actionId, value, blockId);
        var error = await ProcessedAsync(trigger);

        Assert.Equal("names another org's rows", error);
        Assert.Equal(beforeB, await OrgRowsAsync(fixture.B.Id));
        // Nothing of A's was written about B's row either (a snooze, a pending action, a conversation): only the inbox, the reply and the audit.
        Assert.Equal(beforeA, await OrgRowsAsync(fixture.A.Id, except: Replies));
        var audit = Assert.Single(await AuditAsync(audits));
        Assert.Equal((fixture.A.Id, attacker.Id, "high"), (audit.OrgId, audit.UserId, audit.Severity));
        Assert.Contains(actionId, audit.Details);
    }

    [Fact]
    public async Task The_same_click_naming_the_clickers_own_deal_works_and_is_not_audited()
    {
        // The control: the guard refuses other orgs' ids, not ids as such.
        var own = await VictimRowsAsync(fixture.A);
        var audits = await AuditCountAsync();
        var trigger = await ClickAsync(fixture.A[0], DealButtons.Snooze, own.DealId.ToString(), "deal");
        Assert.Null(await ProcessedAsync(trigger));
        Assert.Empty(await AuditAsync(audits));
        Assert.Equal(1L, await TestDatabase.ScalarAsync<long>(fixture.Database.SuperuserConnectionString,
            $"SELECT count(*) FROM proactive_snoozes WHERE org_id = '{fixture.A.Id}' AND entity_key = 'deal:{own.DealId}'"));
    }

    async Task<string> ClickAsync(AppUser user, string actionId, string value, string blockId)
    {
        var payload = fixture.Requests.Interaction("block_actions", user.SlackUserId!);
        var trigger = $"{Random.Shared.NextInt64(1_000_000_000, 9_999_999_999)}.{Guid.NewGuid():N}";
        payload["trigger_id"] = trigger;
        payload["response_url"] = "https://hooks.slack.invalid/actions/1";
        payload["container"] = new JsonObject { ["type"] = "message", ["message_ts"] = "1700000000.000100" };
        payload["channel"] = new JsonObject { ["id"] = "D" + user.SlackUserId };
        payload["actions"] = new JsonArray(new JsonObject
        {
            ["action_id"] = actionId, ["block_id"] = blockId, ["type"] = "button", ["value"] = value,
            ["text"] = new JsonObject { ["type"] = "plain_text", ["text"] = "Go" }, ["selected_date"] = DateTime.UtcNow.AddDays(3).ToString("yyyy-MM-dd"),
        });
        using var response = await fixture.Requests.InteractionAsync(payload);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return trigger;
    }

    /// <summary>Waits for the inbox row of the click to be processed; returns its error (null when handled).</summary>
    async Task<string?> ProcessedAsync(string trigger)
    {
        for (var i = 0; i < 200; i++)
        {
            await using var connection = new NpgsqlConnection(fixture.Database.SuperuserConnectionString);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("SELECT processed_at IS NOT NULL, error FROM slack_inbox WHERE dedupe_key = @key", connection);
            command.Parameters.AddWithValue("key", "interaction:" + trigger);
            await using var reader = await command.ExecuteReaderAsync();
            if (await reader.ReadAsync() && reader.GetBoolean(0)) return reader.IsDBNull(1) ? null : reader.GetString(1);
            await Task.Delay(50);
        }
        throw new TimeoutException($"The click {trigger} was not processed within 10 s");
    }

    /// <summary>Every row of the org in every table with an org_id, as text: any change to any of them shows.</summary>
    async Task<Dictionary<string, string>> OrgRowsAsync(Guid orgId, string[]? except = null)
    {
        await using var connection = new NpgsqlConnection(fixture.Database.SuperuserConnectionString);
        await connection.OpenAsync();
        var tables = new List<string>();
        await using (var list = new NpgsqlCommand("""
            SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' AND column_name = 'org_id' ORDER BY 1
            """, connection))
        await using (var reader = await list.ExecuteReaderAsync())
            while (await reader.ReadAsync()) tables.Add(reader.GetString(0));
        var rows = new Dictionary<string, string>();
        foreach (var table in tables.Except(except ?? []))
        {
            await using var select = new NpgsqlCommand($"SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') FROM \"{table}\" t WHERE org_id = @org", connection);
            select.Parameters.AddWithValue("org", orgId);
            rows[table] = (string)(await select.ExecuteScalarAsync())!;
        }
        rows["orgs"] = (string)(await new NpgsqlCommand($"SELECT o::text FROM orgs o WHERE id = '{orgId}'", connection).ExecuteScalarAsync())!;
        return rows;
    }

    sealed record Audit(Guid? OrgId, Guid? UserId, string Severity, string Details);

    Task<long> AuditCountAsync() => TestDatabase.ScalarAsync<long>(fixture.Database.SuperuserConnectionString,
        $"SELECT count(*) FROM security_audit_log WHERE event_type = '{AuditEvents.CrossTenantReference}'");

    /// <summary>The cross-tenant audit lines after the first <paramref name="skip"/> (in the order written).</summary>
    async Task<List<Audit>> AuditAsync(long skip)
    {
        await using var connection = new NpgsqlConnection(fixture.Database.SuperuserConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"""
            SELECT org_id, user_id, severity::text, details::text FROM security_audit_log WHERE event_type = '{AuditEvents.CrossTenantReference}'
            ORDER BY occurred_at, id OFFSET {skip}
            """, connection);
        var list = new List<Audit>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
            list.Add(new Audit(reader.IsDBNull(0) ? null : reader.GetGuid(0), reader.IsDBNull(1) ? null : reader.GetGuid(1), reader.GetString(2), reader.GetString(3)));
        return list;
    }
}
