using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.SemanticKernel;
using Use60.Copilot;
using Use60.Data;
using Use60.Demo;
using Use60.Orgs;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>The demo org (two Sarahs, meetings, deals) in single-workspace mode against a fake Slack on 127.0.0.1.</summary>
public sealed class CopilotAppFixture : IAsyncLifetime
{
    public FakeSlack Slack { get; private set; } = null!;
    public TestDatabase Database { get; private set; } = null!;
    public Use60App App { get; private set; } = null!;
    public SlackRequests Requests { get; private set; } = null!;
    public IReadOnlyList<AppUser> Reps { get; private set; } = [];

    public async Task InitializeAsync()
    {
        Slack = await FakeSlack.StartAsync();
        Slack.TeamId = DemoData.TeamId;
        Database = await TestDatabase.CreateAsync();
        App = new Use60App(Database, new Dictionary<string, string?>
        {
            ["Slack:SigningSecret"] = SlackRequests.Secret, ["Slack:BotToken"] = Slack.BotToken, ["Slack:ApiUrl"] = Slack.ApiUrl,
        });
        await App.Service<DemoSeeder>().SeedAsync(CancellationToken.None);
        await using var db = App.Service<SystemDb>().Open("test");
        Reps = await db.Users.AsNoTracking().OrderBy(u => u.SlackUserId).ToListAsync();
        Requests = new SlackRequests(App.Client(), SlackRequests.Secret, DemoData.TeamId);
    }

    public async Task DisposeAsync()
    {
        await App.DisposeAsync();
        await Database.DisposeAsync();
        await Slack.DisposeAsync();
    }
}

public sealed class CopilotSlackTests(CopilotAppFixture fixture) : IClassFixture<CopilotAppFixture>
{
    FakeSlack Slack => fixture.Slack;
    AppUser Alex => fixture.Reps[0];
    AppUser Tom => fixture.Reps[1];

    [Fact]
    public async Task Email_sarah_asks_which_sarah_then_previews_and_sends_exactly_once_on_confirm()
    {
        // "email Sarah about pricing" in a DM: two Sarahs, so a question with one button each.
        await fixture.Requests.EventAsync(fixture.Requests.DirectMessage("Ev0EMAILSARAH", Alex.SlackUserId!, "email Sarah about pricing"));
        var question = await PostedAsync(c => c.Channel == "D" + Alex.SlackUserId && c.Text.Contains("Which one do you mean"), "the clarifying question");
        var buttons = Buttons(question);
        Assert.Contains(buttons, b => b.Text.StartsWith("Sarah Chen") && b.Text.Contains("TechCorp"));
        Assert.Contains(buttons, b => b.Text.StartsWith("Sarah Okafor") && b.Text.Contains("Northwind"));
        Assert.Contains(buttons, b => b.Text == "None of these");

        // Choosing Sarah Chen resumes the request: a preview of the email with Confirm and Cancel; nothing sent yet.
        var chen = buttons.Single(b => b.Text.StartsWith("Sarah Chen"));
        await ClickAsync(Alex, question, chen, "choose-chen");
        var preview = await PostedAsync(c => c.Text.Contains("Here's a draft to Sarah Chen"), "the email preview");
        Assert.Contains("Subject:* Pricing", preview.Blocks);
        Assert.Contains("sarah.chen@", preview.Blocks);
        Assert.Equal(0, await EmailsAsync());
        var confirm = Buttons(preview).Single(b => b.Text == "Confirm");
        Assert.Single(Buttons(preview), b => b.Text == "Cancel");

        // Confirm: one email in the mail sandbox, and the preview's message edited to say so.
        await ClickAsync(Alex, preview, confirm, "confirm-1");
        await FakeSlack.WaitUntilAsync(() => Slack.ResponseUrlPosts.Any(p => p.Id == "confirm-1"), "the edited preview");
        var edited = Slack.ResponseUrlPosts.Single(p => p.Id == "confirm-1").Body;
        Assert.True(edited["replace_original"]!.GetValue<bool>());
        var outcome = edited["blocks"]!.AsArray().Single(b => b!["block_id"] is null && b["type"]!.GetValue<string>() == "context"
                                                              && b.ToJsonString().Contains("Email sent"))!;
        Assert.StartsWith("✅ Email sent to Sarah Chen", outcome["elements"]![0]!["text"]!.GetValue<string>());
        Assert.Contains(edited["blocks"]!.AsArray(), b => b!["text"]?["text"]?.GetValue<string>().Contains("Send an email to Sarah Chen") == true);
        Assert.DoesNotContain("copilot_confirm", edited.ToJsonString());
        var email = Assert.Single(await TestData.AsAsync(fixture.App.Services, Alex, db => db.OutboundEmails.AsNoTracking().ToListAsync()));
        Assert.Equal((EmailDelivery.Sandbox, "Pricing"), (email.Delivery, email.Subject));
        Assert.StartsWith("sarah.chen@", email.ToAddress);

        // A second click (a double click, a retry) sends nothing and says why, to the clicker only.
        await ClickAsync(Alex, preview, confirm, "confirm-2");
        await FakeSlack.WaitUntilAsync(() => Slack.ResponseUrlPosts.Any(p => p.Id == "confirm-2"), "the answer to the second click");
        var second = Slack.ResponseUrlPosts.Single(p => p.Id == "confirm-2").Body;
        Assert.Contains("already done", second["text"]!.GetValue<string>());
        Assert.Null(second["replace_original"]);
        Assert.Equal(1, await EmailsAsync());

        // Another rep's click on Alex's preview is refused.
        await ClickAsync(Tom, preview, confirm, "confirm-tom");
        await FakeSlack.WaitUntilAsync(() => Slack.ResponseUrlPosts.Any(p => p.Id == "confirm-tom"), "the answer to another rep's click");
        Assert.Contains("Only the person who asked", Slack.ResponseUrlPosts.Single(p => p.Id == "confirm-tom").Body["text"]!.GetValue<string>());
        Assert.Equal(1, await EmailsAsync());
    }

    [Fact]
    public async Task None_of_these_closes_the_question_and_asks_for_the_full_name()
    {
        await fixture.Requests.EventAsync(fixture.Requests.DirectMessage("Ev0EMAILNONE", Tom.SlackUserId!, "email Sarah about the renewal"));
        var question = await PostedAsync(c => c.Channel == "D" + Tom.SlackUserId && c.Text.Contains("Which one do you mean"), "the clarifying question");

        await ClickAsync(Tom, question, Buttons(question).Single(b => b.Text == "None of these"), "none");

        await FakeSlack.WaitUntilAsync(() => Slack.ResponseUrlPosts.Any(p => p.Id == "none"), "the closed question");
        var closed = Slack.ResponseUrlPosts.Single(p => p.Id == "none").Body;
        Assert.True(closed["replace_original"]!.GetValue<bool>());
        Assert.Contains("full name", closed["blocks"]!.ToJsonString());
        Assert.DoesNotContain("copilot_choose", closed.ToJsonString());
    }

    [Fact]
    public async Task Prep_me_for_my_next_meeting_answers_with_the_command_center_brief()
    {
        var response = await fixture.Requests.CommandAsync(Alex.SlackUserId!, "prep me for my next meeting", Slack.ResponseUrl("prep"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        var blocks = body["blocks"]!.ToJsonString();
        Assert.Contains("Here's your brief for the next meeting", body["text"]!.GetValue<string>());
        // The demo calendar is in the rep's local time from today, so which meeting is next depends on when the test runs.
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        var next = await db.CalendarEvents.AsNoTracking()
            .Where(e => e.UserId == Alex.Id && e.DealId != null && e.EndTime > DateTimeOffset.UtcNow).OrderBy(e => e.StartTime).FirstAsync();
        Assert.Contains(JsonEncodedText.Encode("Brief: " + next.Title).ToString(), blocks);
        Assert.Contains("Talking points", blocks);
        Assert.Contains(JsonEncodedText.Encode(next.Attendees.Single(a => !a.Self).Name!).ToString(), blocks);

        var tools = await db.ToolExecutions.AsNoTracking().Where(t => t.UserId == Alex.Id).ToListAsync();
        Assert.Contains(tools, t => t.Tool == CopilotTools.ExecuteAction && t.Arguments.Contains("seq-next-meeting-command-center") && t.Outcome == ToolOutcome.Ok);
    }

    [Fact]
    public async Task Execute_action_never_sends_without_a_confirmed_pending_action_even_when_asked_not_to_simulate()
    {
        await using var scope = fixture.App.Services.CreateAsyncScope();
        scope.ServiceProvider.GetRequiredService<TenantContext>().Enter(Alex.OrgId, Alex.Id);
        scope.ServiceProvider.GetRequiredService<CopilotSession>().Start(Alex);
        var tools = scope.ServiceProvider.GetRequiredService<CopilotTools>();
        var contact = await tools.CallAsync(CopilotTools.ResolveEntity, new KernelArguments { ["name"] = "Sarah Chen", ["entity_type"] = "contact" }, default);
        var before = await EmailsAsync();

        var result = await tools.CallAsync(CopilotTools.ExecuteAction, new KernelArguments
        {
            ["action"] = "send_email", ["is_simulation"] = false,
            ["params"] = new JsonObject { ["contact_id"] = contact["candidates"]![0]!["id"]!.GetValue<string>(), ["subject"] = "Now", ["body"] = "Sent without asking?" },
        }, default);

        Assert.Equal("preview", result["status"]!.GetValue<string>());
        Assert.True(result["requires_confirmation"]!.GetValue<bool>());
        Assert.Equal(before, await EmailsAsync());
    }

    [Fact]
    public async Task Conversations_are_private_to_their_rep_even_from_the_org_owner()
    {
        await fixture.Requests.CommandAsync(Tom.SlackUserId!, "what's overdue?");
        await fixture.Requests.CommandAsync(Alex.SlackUserId!, "pipeline summary");
        Assert.Equal(UserRole.Owner, Alex.Role);

        var alexSees = await TestData.AsAsync(fixture.App.Services, Alex, db => db.ConversationMessages.AsNoTracking().Select(m => m.UserId).Distinct().ToListAsync());
        var tomSees = await TestData.AsAsync(fixture.App.Services, Tom, db => db.ConversationMessages.AsNoTracking().Select(m => m.UserId).Distinct().ToListAsync());
        Assert.Equal([Alex.Id], alexSees);
        Assert.Equal([Tom.Id], tomSees);
        Assert.Empty(await TestData.AsAsync(fixture.App.Services, Alex, db => db.ToolExecutions.Where(t => t.UserId == Tom.Id).ToListAsync()));
        // The owner sees usage counts per rep, never the words.
        var usage = await TestData.AsAsync(fixture.App.Services, Alex, db => db.CopilotUsage.AsNoTracking().ToListAsync());
        Assert.Contains(usage, u => u.UserId == Tom.Id && u.Requests >= 1);
    }

    sealed record Button(string Text, string ActionId, string? Value, string BlockId);

    /// <summary>A message the app sent: by chat.postMessage or to a response_url.</summary>
    sealed record Sent(string Channel, string Text, string Blocks);

    static List<Button> Buttons(Sent post) => [.. JsonNode.Parse(post.Blocks)!.AsArray().OfType<JsonObject>()
        .Where(b => b["type"]!.GetValue<string>() == "actions")
        .SelectMany(b => b["elements"]!.AsArray().OfType<JsonObject>().Select(e => new Button(e["text"]!["text"]!.GetValue<string>(),
            e["action_id"]!.GetValue<string>(), e["value"]?.GetValue<string>(), b["block_id"]!.GetValue<string>())))];

    async Task<Sent> PostedAsync(Func<Sent, bool> match, string what)
    {
        IEnumerable<Sent> All() =>
        [
            .. Slack.CallsOf("chat.postMessage").Select(c => new Sent(c.Args["channel"], c.Args["text"], c.Args.GetValueOrDefault("blocks") ?? "[]")),
            .. Slack.ResponseUrlPosts.Select(p => new Sent("(response_url)", p.Body["text"]?.GetValue<string>() ?? "", p.Body["blocks"]?.ToJsonString() ?? "[]")),
        ];
        await FakeSlack.WaitUntilAsync(() => All().Any(match), what);
        return All().Last(match);
    }

    async Task ClickAsync(AppUser rep, Sent message, Button button, string responseId)
    {
        var click = fixture.Requests.Interaction("block_actions", rep.SlackUserId!);
        click["container"] = new JsonObject { ["type"] = "message", ["channel_id"] = message.Channel, ["message_ts"] = "1700000000.000001" };
        click["channel"] = new JsonObject { ["id"] = message.Channel };
        click["message"] = new JsonObject { ["text"] = message.Text, ["blocks"] = JsonNode.Parse(message.Blocks) };
        click["response_url"] = Slack.ResponseUrl(responseId);
        click["actions"] = new JsonArray(new JsonObject
        {
            ["type"] = "button", ["action_id"] = button.ActionId, ["block_id"] = button.BlockId, ["value"] = button.Value,
            ["text"] = new JsonObject { ["type"] = "plain_text", ["text"] = button.Text },
        });
        Assert.Equal(HttpStatusCode.OK, (await fixture.Requests.InteractionAsync(click)).StatusCode);
    }

    async Task<int> EmailsAsync()
    {
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        return await db.OutboundEmails.CountAsync();
    }
}
