using System.Net;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Use60.Copilot;
using Use60.Data;
using Use60.Demo;
using Use60.Orgs;
using Use60.Tests.Infrastructure;

using static Use60.Tests.Infrastructure.FakeOpenAI;

namespace Use60.Tests;

/// <summary>The demo org with the LLM planner on, against a fake OpenAI-compatible endpoint and a fake Slack, both on 127.0.0.1.</summary>
public sealed class CopilotLlmFixture : IAsyncLifetime
{
    public const int MaxSteps = 4, RequestsPerMinute = 5;

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
            ["Copilot:MaxSteps"] = MaxSteps.ToString(), ["Copilot:TimeoutSeconds"] = "2", ["Copilot:RequestsPerMinute"] = RequestsPerMinute.ToString(),
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

public sealed class CopilotLlmTests(CopilotLlmFixture fixture) : IClassFixture<CopilotLlmFixture>, IDisposable
{
    FakeOpenAI Model => fixture.Model;

    // Each rep stays under the per-minute limit across this class's tests: Alex 3 requests, Tom 4, Priya 2.
    AppUser Alex => fixture.Reps[0];
    AppUser Tom => fixture.Reps[1];
    AppUser Priya => fixture.Reps[2];

    public void Dispose() => Model.Reset();

    [Fact]
    public async Task A_multi_step_tool_loop_answers_from_tool_results_and_records_every_call()
    {
        Model.Then(
            ToolCall("execute_action", new JsonObject { ["action"] = "get_pipeline_summary", ["params"] = new JsonObject() }),
            Reply(request =>
            {
                var pipeline = ToolResults(request)[^1];
                return $"You have {pipeline["open_deals"]} open deals worth ${(decimal)pipeline["total"]!:N0}.";
            }));

        long before;
        await using (var read = fixture.App.Service<SystemDb>().Open("test"))
            before = await read.LlmCalls.Select(c => (long?)c.Id).MaxAsync() ?? 0;
        var answer = await AskAsync(Alex, "how's my pipeline looking?");

        Assert.Matches(@"^You have \d+ open deals worth \$[\d,]+\.$", answer.Text);
        Assert.Contains(answer.Structured, s => (string?)s["type"] == "pipeline_summary");
        var first = Model.Requests.First();
        Assert.Equal(["execute_action", "get_skill", "list_skills", "resolve_entity"],
            first["tools"]!.AsArray().Select(t => (string)t!["function"]!["name"]!).Order(StringComparer.Ordinal));
        // The schemas come from the C# signatures: execute_action needs an action, takes params and is_simulation.
        var execute = first["tools"]!.AsArray().Single(t => (string)t!["function"]!["name"]! == "execute_action")!["function"]!;
        Assert.Contains("preview", (string)execute["description"]!);
        Assert.Equal(["action"], execute["parameters"]!["required"]!.AsArray().Select(r => (string)r!));
        Assert.Equal("boolean", (string)execute["parameters"]!["properties"]!["is_simulation"]!["type"]!);
        Assert.Equal("string", (string)execute["parameters"]!["properties"]!["action"]!["type"]!);
        var system = (string)first["messages"]![0]!["content"]!;
        Assert.Contains("Acme Robotics", system);
        Assert.Contains("call them Alex", system);
        Assert.Contains("America/New_York", system);

        await using var db = fixture.App.Service<SystemDb>().Open("test");
        var calls = await db.LlmCalls.AsNoTracking().Where(c => c.UserId == Alex.Id && c.Id > before).OrderBy(c => c.Id).ToListAsync();
        Assert.Equal(2, calls.Count);
        Assert.All(calls, c => Assert.Equal((LlmOutcome.Ok, "gpt-4o-mini", 1000, 50), (c.Outcome, c.Model, c.InputTokens, c.OutputTokens)));
        Assert.All(calls, c => Assert.Equal(0.00018m, c.EstimatedCostUsd)); // 1000 × $0.15 + 50 × $0.60 per million
        Assert.Contains(await db.ToolExecutions.AsNoTracking().Where(t => t.UserId == Alex.Id).ToListAsync(),
            t => t.Tool == "execute_action" && t.Arguments.Contains("get_pipeline_summary") && t.Outcome == ToolOutcome.Ok);
        var usage = await db.CopilotUsage.AsNoTracking().SingleAsync(u => u.UserId == Alex.Id);
        Assert.True(usage.InputTokens >= 2000 && usage.LlmCalls >= 2);
        Assert.Equal(LlmPlanner.Name, (await db.ConversationMessages.AsNoTracking().Where(m => m.UserId == Alex.Id && m.Role == MessageRole.Assistant)
            .OrderBy(m => m.Id).LastAsync()).Planner);
    }

    [Fact]
    public async Task A_model_that_calls_tools_forever_is_stopped_at_the_step_limit_with_a_polite_reply()
    {
        Model.Always(ToolCall("list_skills", new JsonObject()));
        var rep = Tom;

        var answer = await AskAsync(rep, "tell me everything about everything");

        Assert.Contains("more steps than I'm allowed", answer.Text);
        Assert.InRange(Model.Requests.Count, CopilotLlmFixture.MaxSteps, CopilotLlmFixture.MaxSteps + 1);
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        Assert.Contains(await db.LlmCalls.AsNoTracking().Where(c => c.UserId == rep.Id).ToListAsync(), c => c.Outcome == LlmOutcome.StepLimit);
    }

    [Fact]
    public async Task A_500_and_a_timeout_each_give_a_short_honest_reply()
    {
        var rep = Priya;
        Model.Then(Error(500));
        var failed = await AskAsync(rep, "what's on my plate?");
        Assert.Contains("isn't answering properly", failed.Text);

        Model.Then(Text("too late") with { Delay = TimeSpan.FromSeconds(5) });
        var slow = await AskAsync(rep, "and now?");
        Assert.Contains("took too long", slow.Text);

        await using var db = fixture.App.Service<SystemDb>().Open("test");
        var outcomes = await db.LlmCalls.AsNoTracking().Where(c => c.UserId == rep.Id).Select(c => c.Outcome).ToListAsync();
        Assert.Contains(LlmOutcome.Error, outcomes);
        Assert.Contains(LlmOutcome.Timeout, outcomes);
    }

    [Fact]
    public async Task A_reply_stating_figures_no_tool_returned_is_withheld()
    {
        Model.Then(
            ToolCall("execute_action", new JsonObject { ["action"] = "get_pipeline_summary" }),
            Text("Great news: your pipeline is $5,000,000 and 93% of it closes this week."));

        var answer = await AskAsync(Tom, "summarise my pipeline");

        Assert.DoesNotContain("5,000,000", answer.Text);
        Assert.Equal("Here's what your CRM says:", answer.Text);
        Assert.Contains(answer.Structured, s => (string?)s["type"] == "pipeline_summary");
    }

    [Fact]
    public async Task A_model_that_asks_to_send_an_email_for_real_only_gets_a_preview()
    {
        Model.Then(
            ToolCall("resolve_entity", new JsonObject { ["name"] = "Sarah Chen", ["entity_type"] = "contact" }),
            new Turn(request =>
            {
                var contactId = (string)ToolResults(request)[^1]["candidates"]![0]!["id"]!;
                return ToolCall("execute_action", new JsonObject
                {
                    ["action"] = "send_email", ["is_simulation"] = false,
                    ["params"] = new JsonObject { ["contact_id"] = contactId, ["subject"] = "Pricing", ["body"] = "Hi Sarah, here is our pricing." },
                }).Answer(request);
            }),
            Text("I've prepared the email to Sarah Chen."));

        var answer = await AskAsync(Alex, "send Sarah Chen our pricing");
        Assert.Empty(Model.ScriptFailures);

        var preview = Assert.Single(answer.Previews);
        Assert.Equal(("send_email", PendingActionStatus.Pending), (preview.Action, preview.Status));
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        Assert.Equal(0, await db.OutboundEmails.CountAsync(e => e.UserId == Alex.Id && e.Subject == "Pricing" && e.Body.Contains("our pricing")));
    }

    [Fact]
    public async Task An_ambiguous_name_gets_buttons_and_politics_is_declined_without_asking_the_model()
    {
        Model.Then(ToolCall("resolve_entity", new JsonObject { ["name"] = "Sarah" }), Text("Which Sarah do you mean?"));
        var answer = await AskAsync(Tom, "email Sarah about the pilot");
        Assert.NotNull(answer.Clarify);
        Assert.Equal(2, answer.Clarify!.Candidates.Count);

        var before = Model.Requests.Count;
        var declined = await AskAsync(Tom, "who should I vote for in the election?");
        Assert.Contains("politics", declined.Text);
        Assert.Equal(before, Model.Requests.Count);
    }

    [Fact]
    public async Task Past_the_rate_limit_or_the_monthly_budget_the_offline_planner_answers_and_says_when_it_resets()
    {
        // Rate: the fourth request in a minute is answered offline, with the reason.
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Ratelimited", UserRole.Owner);
        var rep = org[0];
        Model.Always(Text("LLM answer"));
        for (var i = 0; i < CopilotLlmFixture.RequestsPerMinute; i++) Assert.Equal("LLM answer", (await AskAsync(rep, $"question {i}")).Text);
        var limited = await AskAsync(rep, "what's overdue?");
        Assert.Contains("Nothing is overdue", limited.Text);
        Assert.Contains($"the limit is {CopilotLlmFixture.RequestsPerMinute}", limited.Text);

        // Budget: an org that used this month's tokens gets offline answers and the reset date.
        var spent = await TestData.CreateOrgAsync(fixture.App.Services, "Spent", UserRole.Owner);
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
        {
            var now = DateTimeOffset.UtcNow;
            db.CopilotUsage.Add(new CopilotUsage { OrgId = spent.Id, UserId = spent[0].Id, Month = new DateOnly(now.Year, now.Month, 1), InputTokens = 2_000_000 });
            await db.SaveChangesAsync();
        }
        var calls = Model.Requests.Count;
        var budget = await AskAsync(spent[0], "pipeline summary");
        Assert.Contains("this month's AI budget", budget.Text);
        Assert.Contains(new DateOnly(DateTime.UtcNow.Year, DateTime.UtcNow.Month, 1).AddMonths(1).ToString("d MMMM"), budget.Text);
        Assert.Equal(calls, Model.Requests.Count);
    }

    [Fact]
    public async Task A_dm_is_answered_by_the_model_over_slack_end_to_end()
    {
        Model.Then(Text("Hello Alex — ready when you are."));
        var requests = new SlackRequests(fixture.App.Client(), SlackRequests.Secret, DemoData.TeamId);
        Assert.Equal(HttpStatusCode.OK, (await requests.EventAsync(requests.DirectMessage("Ev0LLMHELLO1", Alex.SlackUserId!, "hi there"))).StatusCode);
        await FakeSlack.WaitUntilAsync(() => fixture.Slack.CallsOf("chat.postMessage").Any(c => c.Args["text"] == "Hello Alex — ready when you are."),
            "the model's answer in the DM");
    }

    async Task<CopilotAnswer> AskAsync(AppUser rep, string text)
    {
        await using var scope = fixture.App.Services.CreateAsyncScope();
        scope.ServiceProvider.GetRequiredService<TenantContext>().Enter(rep.OrgId, rep.Id);
        return await scope.ServiceProvider.GetRequiredService<CopilotChat>().AskAsync(rep, "D" + rep.SlackUserId, text, CancellationToken.None);
    }
}
