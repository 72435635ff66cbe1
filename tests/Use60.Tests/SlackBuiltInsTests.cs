using System.Net;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Use60.Data;
using Use60.Orgs;
using Use60.Slack;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>The Slack layer's own listeners end to end: "See more" opens the full text in a modal, and the Home tab is published.</summary>
public sealed class SlackBuiltInsTests(SlackAppFixture fixture) : IClassFixture<SlackAppFixture>
{
    FakeSlack Slack => fixture.Slack;
    SlackRequests Requests => fixture.Requests;

    [Fact]
    public async Task See_more_under_a_cut_short_section_opens_the_full_text_in_a_modal_also_for_a_teammate_in_the_channel()
    {
        var paragraphs = Enumerable.Range(1, 7).Select(i => $"Paragraph {i}: " + string.Concat(Enumerable.Repeat($"notes on the renewal, part {i}. ", 30)).TrimEnd());
        var full = string.Join('\n', paragraphs) + "\nThe very end of the long note.";
        Assert.True(full.Length > 2 * BlockKitLimits.MaxSectionTextLength);

        // The owner's message is posted to a channel; the member, who did not send it, clicks "See more" there.
        var (channel, ts, key) = await PostCutShortAsync(fixture.Org[0], "C0DEALROOM", full, "long note");
        var click = SeeMoreClick(Requests, fixture.Org[1].SlackUserId!, channel, ts, key, "see-more-ok");
        Assert.Equal(HttpStatusCode.OK, (await Requests.InteractionAsync(click)).StatusCode);
        var trigger = click["trigger_id"]!.GetValue<string>();
        await FakeSlack.WaitUntilAsync(() => Slack.CallsOf("views.open").Any(c => c.Args["trigger_id"] == trigger), "the modal with the full text");

        var view = JsonNode.Parse(Slack.CallsOf("views.open").Single(c => c.Args["trigger_id"] == trigger).Args["view"])!;
        Assert.Equal("modal", view["type"]!.GetValue<string>());
        var sections = view["blocks"]!.AsArray().Select(b => b!["text"]!["text"]!.GetValue<string>()).ToList();
        Assert.True(sections.Count >= 3);
        Assert.All(sections, s => Assert.True(s.Length <= BlockKitLimits.MaxSectionTextLength));
        Assert.Equal(full, string.Join('\n', sections));
    }

    [Fact]
    public async Task See_more_on_a_message_whose_text_is_gone_or_that_another_org_sent_says_so_instead_of_opening_a_modal()
    {
        var (channel, ts, key) = await PostCutShortAsync(fixture.Org[0], "C0PRIVATE1", "secret plan " + string.Join(' ', Enumerable.Range(1, 700).Select(i => $"step{i}")) + " and the hidden ending", "secret plan");
        var elsewhere = await TestData.CreateOrgAsync(fixture.App.Services, "Elsewhere", UserRole.Owner);
        var stranger = new SlackRequests(fixture.App.Client(), SlackRequests.Secret, elsewhere.Org.SlackTeamId!);
        var opened = Slack.CallsOf("views.open").Count;

        // A user of another workspace sending the right channel, ts and key still reads nothing of this org's.
        await stranger.InteractionAsync(SeeMoreClick(stranger, elsewhere[0].SlackUserId!, channel, ts, key, "see-more-stranger"));
        await Requests.InteractionAsync(SeeMoreClick(Requests, fixture.Org[1].SlackUserId!, channel, "1699999999.000001", "m1", "see-more-gone"));

        string[] ids = ["see-more-gone", "see-more-stranger"];
        await FakeSlack.WaitUntilAsync(() => Slack.ResponseUrlPosts.Count(p => ids.Contains(p.Id)) == 2, "both answers");
        Assert.All(Slack.ResponseUrlPosts.Where(p => ids.Contains(p.Id)), p =>
        {
            Assert.Contains("no longer available", p.Body["text"]!.GetValue<string>());
            Assert.DoesNotContain("secret plan", p.Body.ToJsonString());
        });
        Assert.Equal(opened, Slack.CallsOf("views.open").Count);
    }

    [Fact]
    public async Task Opening_the_home_tab_publishes_a_greeting_and_every_subcommand_and_the_messages_tab_publishes_nothing()
    {
        var owner = fixture.Org[0];
        var member = fixture.Org[1];
        await Requests.EventAsync(AppHomeOpened("Ev0HOMEMSG1", owner.SlackUserId!, "messages"));
        await Requests.EventAsync(AppHomeOpened("Ev0HOMETAB1", member.SlackUserId!, "home"));

        await FakeSlack.WaitUntilAsync(() => Slack.CallsOf("views.publish").Any(c => c.Args["user_id"] == member.SlackUserId), "the Home tab");
        var publish = Slack.CallsOf("views.publish").Single(c => c.Args["user_id"] == member.SlackUserId);
        Assert.Equal(Slack.BotToken, publish.Token);
        var view = JsonNode.Parse(publish.Args["view"])!;
        Assert.Equal("home", view["type"]!.GetValue<string>());
        var text = view["blocks"]!.ToJsonString();
        Assert.Contains($"Hi {member.Name.Split(' ')[0]}", text);
        foreach (var subcommand in fixture.App.Service<SlackListeners>().SubcommandsOf(SlackHelp.Sixty))
            Assert.Contains($"/sixty {subcommand.Name}", text);

        await using var db = fixture.App.Service<SystemDb>().Open("test");
        await FakeSlack.WaitUntilAsync(() => db.SlackInbox.AsNoTracking().Any(i => i.DedupeKey == "event:Ev0HOMEMSG1" && i.ProcessedAt != null),
            "the messages-tab event to be processed");
        Assert.Equal(InboxOutcome.Handled, (await db.SlackInbox.AsNoTracking().SingleAsync(i => i.DedupeKey == "event:Ev0HOMEMSG1")).Outcome);
        Assert.DoesNotContain(Slack.CallsOf("views.publish"), c => c.Args["user_id"] == owner.SlackUserId);
    }

    /// <summary>Posts one section too long for Slack through the outbox; returns where it landed and its "See more" key.</summary>
    async Task<(string Channel, string Ts, string Key)> PostCutShortAsync(AppUser sender, string channel, string text, string fallback)
    {
        var row = await TestData.AsAsync(fixture.App.Services, sender, db => fixture.App.Service<SlackOutbox>().SendAsync(db,
            OutboxDraft.Post(sender.OrgId, sender.Id, channel, null, new SlackMessage(fallback, [new SectionBlock(text)]), "test"),
            CancellationToken.None));
        await FakeSlack.WaitUntilAsync(() => Slack.CallsOf("chat.postMessage").Any(c => c.Args["text"] == fallback), $"'{fallback}' to be posted");
        var post = Slack.CallsOf("chat.postMessage").Single(c => c.Args["text"] == fallback);
        var blocks = JsonNode.Parse(post.Args["blocks"])!.AsArray();
        Assert.True(blocks[0]!["text"]!["text"]!.GetValue<string>().Length <= BlockKitLimits.MaxSectionTextLength);
        Assert.DoesNotContain(text[^20..], post.Args["blocks"]);
        var button = blocks.SelectMany(b => b!["elements"]?.AsArray() ?? []).Single(e => e!["action_id"]!.GetValue<string>() == BlockKitLimits.SeeMoreActionId)!;
        var ts = await TestData.AsAsync(fixture.App.Services, sender, db => db.SlackOutbox.Where(m => m.Id == row.Id).Select(m => m.SlackTs).SingleAsync());
        return (channel, ts!, button["value"]!.GetValue<string>());
    }

    JsonObject SeeMoreClick(SlackRequests requests, string slackUserId, string channel, string ts, string key, string responseId)
    {
        var click = requests.Interaction("block_actions", slackUserId);
        click["container"] = new JsonObject { ["type"] = "message", ["channel_id"] = channel, ["message_ts"] = ts, ["is_ephemeral"] = false };
        click["channel"] = new JsonObject { ["id"] = channel };
        click["response_url"] = Slack.ResponseUrl(responseId);
        click["actions"] = new JsonArray(new JsonObject
        {
            ["type"] = "button", ["action_id"] = BlockKitLimits.SeeMoreActionId, ["block_id"] = "b1", ["value"] = key, ["action_ts"] = "1700000001.000200",
        });
        return click;
    }

    JsonObject AppHomeOpened(string eventId, string slackUserId, string tab) => Requests.Event(eventId, new JsonObject
    {
        ["type"] = "app_home_opened", ["user"] = slackUserId, ["channel"] = "D" + slackUserId, ["tab"] = tab, ["event_ts"] = "1700000000.000300",
    });
}
