using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Use60.Orgs;
using Use60.Slack;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>The app with no Slack configured, so every message goes to the local sandbox; test listeners record what a click sends.</summary>
public sealed class SlackSandboxFixture : IAsyncLifetime
{
    public TestDatabase Database { get; private set; } = null!;
    public Use60App App { get; private set; } = null!;
    public TestData.TestOrg Org { get; private set; } = null!;
    public ConcurrentQueue<JsonObject> Clicks { get; } = new();

    public async Task InitializeAsync()
    {
        Database = await TestDatabase.CreateAsync();
        App = new Use60App(Database, configureServices: services => services.AddSlackListeners(slack => slack
            .Command("/sixty", "menu", "(test) a message with a button, a select and an overflow menu", request =>
            {
                request.Reply(new SlackMessage("menu", [
                    new SectionBlock("Move the deal?", Accessory: new StaticSelectElement("pick_stage", "Stage",
                        [new SelectOption("Discovery", "discovery"), new SelectOption("Proposal", "proposal")])) { BlockId = "stage" },
                    new ActionsBlock([
                        new ButtonElement("Open deal", "open_deal", "deal-42"),
                        new OverflowElement("more", [new SelectOption("Snooze a day", "snooze_1"), new SelectOption("Mute", "mute")]),
                    ]) { BlockId = "buttons" },
                ]));
                return Task.CompletedTask;
            })
            .Action("pick_stage", Record).Action("open_deal", Record).Action("more", Record)));
        Org = await TestData.CreateOrgAsync(App.Services, "Sandboxia", UserRole.Owner);
        _ = App.BaseAddress;
    }

    Task Record(SlackRequest request)
    {
        Clicks.Enqueue(request.Payload["actions"]![0]!.AsObject().DeepClone().AsObject());
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await App.DisposeAsync();
        await Database.DisposeAsync();
    }
}

public sealed class SlackSandboxTests(SlackSandboxFixture fixture) : IClassFixture<SlackSandboxFixture>
{
    [Fact]
    public async Task A_click_describes_the_element_as_slack_would_a_button_with_its_value_and_a_select_or_overflow_with_the_picked_option()
    {
        var sandbox = fixture.App.Service<SlackSandbox>();
        var (org, rep) = (fixture.Org.Org, fixture.Org[0]);
        await sandbox.SendAsync(org, rep, "/sixty menu", CancellationToken.None);
        var menu = (await sandbox.ConversationAsync(rep, CancellationToken.None)).Messages.Single(m => m.FromBot && m.Message.Contains("pick_stage"));

        Assert.True(await sandbox.ClickAsync(org, rep, menu.Id, "stage", "pick_stage", "proposal", CancellationToken.None));
        Assert.True(await sandbox.ClickAsync(org, rep, menu.Id, "buttons", "open_deal", "typed-in-by-someone", CancellationToken.None));
        Assert.True(await sandbox.ClickAsync(org, rep, menu.Id, "buttons", "more", "mute", CancellationToken.None));
        // Nothing Slack could send: an option the menu does not have, a button the message does not have, a button of another block.
        Assert.False(await sandbox.ClickAsync(org, rep, menu.Id, "stage", "pick_stage", "closed_won", CancellationToken.None));
        Assert.False(await sandbox.ClickAsync(org, rep, menu.Id, "buttons", "delete_everything", null, CancellationToken.None));
        Assert.False(await sandbox.ClickAsync(org, rep, menu.Id, "stage", "open_deal", null, CancellationToken.None));

        await FakeSlack.WaitUntilAsync(() => fixture.Clicks.Count >= 3, "the three clicks to reach their listeners");
        var clicks = fixture.Clicks.ToDictionary(c => c["action_id"]!.GetValue<string>());
        Assert.Equal(3, clicks.Count);
        Assert.Equal(("static_select", "stage", "proposal", "Proposal"), (Str(clicks["pick_stage"]["type"]), Str(clicks["pick_stage"]["block_id"]),
            Str(clicks["pick_stage"]["selected_option"]?["value"]), Str(clicks["pick_stage"]["selected_option"]?["text"]?["text"])));
        Assert.Equal(("button", "deal-42", "Open deal"), (Str(clicks["open_deal"]["type"]), Str(clicks["open_deal"]["value"]),
            Str(clicks["open_deal"]["text"]?["text"])));
        Assert.Equal(("overflow", "mute"), (Str(clicks["more"]["type"]), Str(clicks["more"]["selected_option"]?["value"])));
        Assert.Null(clicks["more"]["value"]);
    }

    static string? Str(JsonNode? node) => SlackJson.Str(node);
}
