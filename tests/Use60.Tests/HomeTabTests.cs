using System.Text.Json.Nodes;
using Use60.Orgs;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>The App Home tab on the demo data: the rep's day and their settings, over signed Slack events and a fake Slack.</summary>
public sealed class HomeTabTests(CopilotAppFixture fixture) : IClassFixture<CopilotAppFixture>
{
    [Fact]
    public async Task The_home_tab_shows_the_reps_day_and_settings_and_its_button_opens_the_settings_modal()
    {
        var alex = fixture.Reps[0];
        await fixture.Requests.EventAsync(fixture.Requests.Event("Ev0HOMEDAY01", new JsonObject
        {
            ["type"] = "app_home_opened", ["user"] = alex.SlackUserId, ["channel"] = "D" + alex.SlackUserId, ["tab"] = "home", ["event_ts"] = "1700000000.000400",
        }));
        await FakeSlack.WaitUntilAsync(() => fixture.Slack.CallsOf("views.publish").Any(c => c.Args["user_id"] == alex.SlackUserId), "the Home tab");
        var view = JsonNode.Parse(fixture.Slack.CallsOf("views.publish").Last(c => c.Args["user_id"] == alex.SlackUserId).Args["view"])!;
        var text = string.Join('\n', view["blocks"]!.AsArray().SelectMany(b => new[] { (string?)b!["text"]?["text"] }
            .Concat(b["fields"]?.AsArray().Select(f => (string?)f!["text"]) ?? [])).OfType<string>());

        Assert.Contains("Hi Alex, here's your", text);
        Assert.Contains("Pilot review", text);            // today's real meeting
        Assert.DoesNotContain("Focus: pipeline", text);   // a solo block is not a meeting
        Assert.Contains("*Overdue tasks*", text);
        Assert.Contains("*Weighted*", text);
        Assert.Contains("Pipeline summary: at 09:00", text);
        Assert.Contains("/sixty settings", text);

        var click = fixture.Requests.Interaction("block_actions", alex.SlackUserId!);
        click["view"] = new JsonObject { ["type"] = "home", ["id"] = "VHOME" };
        click["actions"] = new JsonArray(new JsonObject { ["type"] = "button", ["action_id"] = SettingsModal.OpenAction, ["block_id"] = "b" });
        await fixture.Requests.InteractionAsync(click);
        var trigger = (string)click["trigger_id"]!;
        await FakeSlack.WaitUntilAsync(() => fixture.Slack.CallsOf("views.open").Any(c => c.Args["trigger_id"] == trigger), "the settings modal");
        Assert.Contains(SettingsModal.CallbackId, fixture.Slack.CallsOf("views.open").Single(c => c.Args["trigger_id"] == trigger).Args["view"]);
    }
}
