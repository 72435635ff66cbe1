using System.Net;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Use60.Copilot;
using Use60.Crm;
using Use60.Data;
using Use60.Demo;
using Use60.Orgs;
using Use60.Privacy;
using Use60.Proactive;
using Use60.Recordings;
using Use60.Tests.Infrastructure;

using static Use60.Tests.Infrastructure.FakeOpenAI;

namespace Use60.Tests;

/// <summary>The demo org with the LLM planner on a fake OpenAI-compatible endpoint and a fake Slack, both on 127.0.0.1.</summary>
public sealed class CardNumberFixture : IAsyncLifetime
{
    public FakeSlack Slack { get; private set; } = null!;
    public FakeOpenAI Model { get; private set; } = null!;
    public TestDatabase Database { get; private set; } = null!;
    public Use60App App { get; private set; } = null!;
    public IReadOnlyList<AppUser> Reps { get; private set; } = [];

    public async Task InitializeAsync()
    {
        Slack = await FakeSlack.StartAsync();
        Slack.TeamId = DemoData.TeamId;
        Model = await FakeOpenAI.StartAsync();
        Database = await TestDatabase.CreateAsync();
        App = new Use60App(Database, new Dictionary<string, string?>
        {
            ["Slack:SigningSecret"] = SlackRequests.Secret, ["Slack:BotToken"] = Slack.BotToken, ["Slack:ApiUrl"] = Slack.ApiUrl,
            ["OpenAI:ApiKey"] = "sk-test-not-a-real-key", ["OpenAI:BaseUrl"] = Model.BaseUrl, ["OpenAI:Model"] = "gpt-4o-mini",
            ["Copilot:MaxSteps"] = "8", ["Copilot:TimeoutSeconds"] = "10",
        });
        await App.Service<DemoSeeder>().SeedAsync(CancellationToken.None);
        await using var db = App.Service<SystemDb>().Open("test");
        Reps = await db.Users.AsNoTracking().OrderBy(u => u.SlackUserId).ToListAsync();
    }

    public async Task DisposeAsync()
    {
        await App.DisposeAsync();
        await Database.DisposeAsync();
        await Model.DisposeAsync();
        await Slack.DisposeAsync();
    }
}

/// <summary>
/// Issue 8, "sensitive data that is never stored": the networks' test card numbers go through every real write path of free text
/// (a copilot DM over Slack with the model's tool calls and their confirmations, a transcript landing, meeting notes from the Add notes
/// modal), then every text and jsonb column of every table is searched for them, and the model's requests too.
/// </summary>
public sealed class CardNumberTests(CardNumberFixture fixture) : IClassFixture<CardNumberFixture>
{
    // A different number on each path, so a failure says which path leaked.
    const string InDm = "4111 1111 1111 1111", InActivity = "4242-4242-4242-4242", InTask = "5555 5555 5555 4444", InEmail = "378282246310005",
        InTranscript = "6011 1111 1111 1117", InMeetingTitle = "36227206271667", InNotes = "6205 5000 0000 0000 004";

    static readonly string[] Numbers = [InDm, InActivity, InTask, InEmail, InTranscript, InMeetingTitle, InNotes];

    [Fact]
    public async Task Test_card_numbers_sent_through_every_write_path_are_nowhere_in_the_database_and_never_reach_the_model()
    {
        var alex = fixture.Reps[0];
        var requests = new SlackRequests(fixture.App.Client(), SlackRequests.Secret, DemoData.TeamId);

        // 1. A DM to the copilot, which the model answers with three previews (an activity note, a task, an email draft) carrying
        // numbers of its own, and a reply repeating one.
        var model = fixture.Model;
        model.Then(
            ToolCall("execute_action", new JsonObject
            {
                ["action"] = "log_activity",
                ["params"] = new JsonObject { ["type"] = "note", ["subject"] = "Payment call", ["details"] = $"She read out {InActivity} by mistake." },
            }),
            ToolCall("execute_action", new JsonObject
            {
                ["action"] = "create_task", ["params"] = new JsonObject { ["title"] = $"Refund card {InTask}", ["due_in_days"] = 2 },
            }),
            ToolCall("resolve_entity", new JsonObject { ["name"] = "Sarah Chen", ["entity_type"] = "contact" }),
            new Turn(request => ToolCall("execute_action", new JsonObject
            {
                ["action"] = "send_email",
                ["params"] = new JsonObject
                {
                    ["contact_id"] = (string)ToolResults(request)[^1]["candidates"]![0]!["id"]!, ["subject"] = "Your payment",
                    ["body"] = $"Hi Sarah, please never send a card number ({InEmail}) by email.",
                },
            }).Answer(request)),
            Text($"I've prepared three previews, including the task to refund card {InTask}."));
        Assert.Equal(HttpStatusCode.OK, (await requests.EventAsync(requests.DirectMessage("Ev0CARD00001", alex.SlackUserId!,
            $"The customer read me her card {InDm} on the call: log it and set up the refund"))).StatusCode);
        await FakeSlack.WaitUntilAsync(() =>
        {
            using var db = fixture.App.Service<SystemDb>().Open("test");
            return db.ConversationMessages.Any(m => m.UserId == alex.Id && m.Role == MessageRole.Assistant)
                   && db.SlackOutbox.Any(m => m.UserId == alex.Id && m.Status == Slack.OutboxStatus.Sent);
        }, "the copilot's answer in the DM", seconds: 30);
        Assert.Empty(model.ScriptFailures);

        // Confirming each preview writes the activity, the task and the email (kept in the mail sandbox).
        List<PendingAction> previews;
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
            previews = await db.PendingActions.AsNoTracking().Where(p => p.UserId == alex.Id && p.Status == PendingActionStatus.Pending).ToListAsync();
        Assert.Equal(["create_task", "log_activity", "send_email"], previews.Select(p => p.Action).Order());
        foreach (var preview in previews)
        {
            await using var scope = fixture.App.Services.CreateAsyncScope();
            scope.ServiceProvider.GetRequiredService<TenantContext>().Enter(alex.OrgId, alex.Id);
            var outcome = await scope.ServiceProvider.GetRequiredService<CopilotChat>().DecideAsync(alex, preview.Id, true, CancellationToken.None);
            Assert.True(outcome.Done, outcome.Text);
        }

        // 2. A transcript landing (the step every provider's transcript ends in).
        var start = DateTimeOffset.UtcNow.AddHours(-2);
        var stored = await fixture.App.Service<MeetingTranscripts>().StoreAsync(new TranscriptArrival(alex.OrgId, alex.Id, MeetingSource.Fathom,
            "card-test-recording", "fathom", $"Billing call {InMeetingTitle}", start, start.AddMinutes(30), null, null,
        [
            new TranscriptSegment { Speaker = "Sarah Chen", Start = 1, End = 6, Text = $"My card is {InTranscript}, expiry next year." },
            new TranscriptSegment { Speaker = "Alex Morgan", Start = 7, End = 12, Text = "Please don't read it out; I'll send a secure payment link by Friday." },
        ]), CancellationToken.None);

        // 3. Meeting notes from the Add notes modal.
        Guid eventId;
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
            eventId = await db.CalendarEvents.Where(e => e.UserId == alex.Id).OrderBy(e => e.StartTime).Select(e => e.Id).FirstAsync();
        var submission = requests.Interaction("view_submission", alex.SlackUserId!);
        submission["view"] = new JsonObject
        {
            ["id"] = "V0CARDNOTES", ["type"] = "modal", ["callback_id"] = MeetingBriefs.NotesCallback, ["private_metadata"] = eventId.ToString(),
            ["state"] = new JsonObject
            {
                ["values"] = new JsonObject
                {
                    ["notes"] = new JsonObject { ["notes"] = new JsonObject { ["type"] = "plain_text_input", ["value"] = $"Customer pasted {InNotes} in chat; told her not to." } },
                },
            },
        };
        Assert.Equal(HttpStatusCode.OK, (await requests.InteractionAsync(submission)).StatusCode);
        await FakeSlack.WaitUntilAsync(() =>
        {
            using var db = fixture.App.Service<SystemDb>().Open("test");
            return db.Meetings.Any(m => m.CalendarEventId == eventId && m.Notes != null && m.Notes.StartsWith("Customer pasted"));
        }, "the notes saved to the meeting");

        // Every path wrote, with the placeholder where the number was.
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
        {
            Assert.Equal($"She read out {CardNumbers.Placeholder} by mistake.",
                await db.Activities.Where(a => a.UserId == alex.Id && a.Subject == "Payment call").Select(a => a.Details).SingleAsync());
            Assert.Equal(1, await db.Tasks.CountAsync(t => t.UserId == alex.Id && t.Title == $"Refund card {CardNumbers.Placeholder}"));
            Assert.Contains(CardNumbers.Placeholder, await db.OutboundEmails.Where(e => e.UserId == alex.Id).Select(e => e.Body).SingleAsync());
            Assert.Contains(await db.ConversationMessages.Where(m => m.UserId == alex.Id && m.Role == MessageRole.User).Select(m => m.Text).ToListAsync(),
                t => t.Contains($"her card {CardNumbers.Placeholder} on the call"));
            var meeting = await db.Meetings.AsNoTracking().SingleAsync(m => m.Id == stored.MeetingId);
            Assert.Equal($"Billing call {CardNumbers.Placeholder}", meeting.Title);
            Assert.Contains($"My card is {CardNumbers.Placeholder}, expiry", meeting.TranscriptText);
            Assert.Equal($"My card is {CardNumbers.Placeholder}, expiry next year.", meeting.Transcript![0].Text);
            Assert.Equal($"Customer pasted {CardNumbers.Placeholder} in chat; told her not to.",
                await db.Meetings.Where(m => m.CalendarEventId == eventId).Select(m => m.Notes).SingleAsync());
        }

        // None of the numbers is in any text or jsonb column of any table, with or without its separators (the search itself
        // finds what is there: the activity's subject).
        Assert.Contains("activities.subject", await FindInDatabaseAsync(["Payment call"]));
        Assert.Empty(await FindInDatabaseAsync(Numbers));

        // The model saw the rep's message, the history and every tool result, and never one of the numbers.
        Assert.True(model.Requests.Count >= 5);
        var sent = string.Join("\n", model.Requests.Select(r => r.ToJsonString()));
        Assert.Contains(CardNumbers.Placeholder, sent);
        foreach (var number in Numbers)
        {
            Assert.DoesNotContain(number, sent);
            Assert.DoesNotContain(Digits(number), sent.Replace(" ", "").Replace("-", ""));
        }
        // Nor did Slack, which was sent the copilot's reply.
        Assert.All(fixture.Slack.Calls, c => Assert.All(Numbers, n => Assert.DoesNotContain(Digits(n), string.Concat(c.Args.Values).Replace(" ", "").Replace("-", ""))));
    }

    static string Digits(string number) => number.Replace(" ", "").Replace("-", "");

    /// <summary>"table.column" for every text-like column of every table holding one of <paramref name="numbers"/>, as written or without separators.</summary>
    async Task<List<string>> FindInDatabaseAsync(IReadOnlyList<string> numbers)
    {
        // As the cluster's superuser: row-level security hides nothing from it.
        var connection = new NpgsqlConnectionStringBuilder(Environment.GetEnvironmentVariable("USE60_TEST_PG_SUPERUSER")) { Database = fixture.Database.Name };
        await using var sql = new NpgsqlConnection(connection.ConnectionString);
        await sql.OpenAsync();
        var columns = new List<(string Table, string Column)>();
        await using (var list = new NpgsqlCommand("""
            SELECT c.table_name, c.column_name FROM information_schema.columns c
            JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
            WHERE c.table_schema = 'public' AND (c.data_type IN ('text', 'character varying', 'character', 'json', 'jsonb') OR c.udt_name IN ('_text', '_varchar', '_jsonb'))
            ORDER BY 1, 2
            """, sql))
        await using (var reader = await list.ExecuteReaderAsync())
            while (await reader.ReadAsync()) columns.Add((reader.GetString(0), reader.GetString(1)));
        Assert.Contains(("meetings", "transcript_text"), columns);
        Assert.Contains(("slack_inbox", "payload"), columns);

        var found = new List<string>();
        foreach (var (table, column) in columns)
        {
            await using var search = new NpgsqlCommand($"""
                SELECT count(*) FROM "{table}"
                WHERE "{column}"::text LIKE ANY (@written) OR regexp_replace("{column}"::text, '[ -]', '', 'g') LIKE ANY (@digits)
                """, sql);
            search.Parameters.AddWithValue("written", numbers.Select(n => $"%{n}%").ToArray());
            search.Parameters.AddWithValue("digits", numbers.Select(n => $"%{Digits(n)}%").ToArray());
            if ((long)(await search.ExecuteScalarAsync())! > 0) found.Add($"{table}.{column}");
        }
        return found;
    }
}
