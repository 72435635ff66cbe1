using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Use60.Data;
using Use60.Orgs;
using Use60.Security;
using Use60.Slack;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>The app in single-workspace mode against a fake Slack on 127.0.0.1, with an org of an owner and a member.</summary>
public sealed class SlackAppFixture : IAsyncLifetime
{
    public FakeSlack Slack { get; private set; } = null!;
    public TestDatabase Database { get; private set; } = null!;
    public Use60App App { get; private set; } = null!;
    public TestData.TestOrg Org { get; private set; } = null!;
    public SlackRequests Requests { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Slack = await FakeSlack.StartAsync();
        Database = await TestDatabase.CreateAsync();
        App = new Use60App(Database, new Dictionary<string, string?>
        {
            ["Slack:SigningSecret"] = SlackRequests.Secret,
            ["Slack:BotToken"] = Slack.BotToken,
            ["Slack:ApiUrl"] = Slack.ApiUrl,
        }, configureServices: services => services.AddSlackListeners(slack => slack
            .Command("/sixty", "slow", "(test) answers after 3.5 s", async request =>
            {
                await Task.Delay(TimeSpan.FromSeconds(3.5));
                request.Reply(new SlackMessage("slow answer " + request.Text));
            })
            .Command("/sixty", "boom", "(test) fails", _ => throw new InvalidOperationException("secret detail of a failure"))));
        Org = await TestData.CreateOrgAsync(App.Services, "Slackton", UserRole.Owner, UserRole.Member);
        Slack.TeamId = Org.Org.SlackTeamId!;
        Requests = new SlackRequests(App.Client(), SlackRequests.Secret, Slack.TeamId);
    }

    public async Task DisposeAsync()
    {
        await App.DisposeAsync();
        await Database.DisposeAsync();
        await Slack.DisposeAsync();
    }
}

public sealed class SlackInboundTests(SlackAppFixture fixture) : IClassFixture<SlackAppFixture>
{
    FakeSlack Slack => fixture.Slack;
    SlackRequests Requests => fixture.Requests;

    [Fact]
    public void Slacks_documented_example_signature_verifies_only_at_its_time_with_its_body_and_secret()
    {
        const string secret = "8f742231b10e8888abcd99yyyzzz85a5", timestamp = "1531420618";
        const string body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar" +
                            "&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com" +
                            "%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN" +
                            "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        const string expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        var bytes = Encoding.UTF8.GetBytes(body);
        var clock = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(1531420618));
        var signature = new SlackSignature(clock);

        Assert.Equal(expected, SlackSignature.Sign(secret, timestamp, bytes));
        Assert.Equal(SignatureCheck.Valid, signature.Verify(secret, timestamp, expected, bytes));

        var changed = (byte[])bytes.Clone();
        changed[^1] ^= 1;
        Assert.Equal(SignatureCheck.BadSignature, signature.Verify(secret, timestamp, expected, changed));
        Assert.Equal(SignatureCheck.BadSignature, signature.Verify("8f742231b10e8888abcd99yyyzzz85a6", timestamp, expected, bytes));
        Assert.Equal(SignatureCheck.MissingHeaders, signature.Verify(secret, null, expected, bytes));
        Assert.Equal(SignatureCheck.MissingHeaders, signature.Verify(secret, timestamp, "", bytes));

        clock.Advance(TimeSpan.FromMinutes(4.9));
        Assert.Equal(SignatureCheck.Valid, signature.Verify(secret, timestamp, expected, bytes));
        clock.Advance(TimeSpan.FromMinutes(1.1));
        Assert.Equal(SignatureCheck.StaleTimestamp, signature.Verify(secret, timestamp, expected, bytes));
    }

    [Fact]
    public async Task Unsigned_forged_stale_and_oversized_requests_are_refused_without_detail_and_audited()
    {
        var before = await AuditCountAsync();
        var calls = Slack.Calls.Count;
        var client = fixture.App.Client();
        var form = new FormUrlEncodedContent(new Dictionary<string, string> { ["command"] = "/sixty", ["text"] = "help" });

        var unsigned = await client.PostAsync("slack/commands", form);
        var forged = await Requests.PostAsync("slack/commands", form, signAs: "not-the-signing-secret-at-all!!");
        var stale = await Requests.PostAsync("slack/commands", form, at: DateTimeOffset.UtcNow.AddMinutes(-6));
        var huge = await Requests.PostAsync("slack/events", new ByteArrayContent(new byte[SlackFeature.MaxBodyBytes + 1]));

        foreach (var response in new[] { unsigned, forged, stale })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("", await response.Content.ReadAsStringAsync());
        }
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, huge.StatusCode);
        Assert.Equal(before + 4, await AuditCountAsync());
        Assert.Equal(calls, Slack.Calls.Count);
    }

    [Fact]
    public async Task Url_verification_answers_the_challenge()
    {
        var response = await Requests.EventAsync(new JsonObject { ["type"] = "url_verification", ["challenge"] = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", ["token"] = "x" });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", JsonNode.Parse(await response.Content.ReadAsStringAsync())!["challenge"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_signed_sixty_help_is_answered_well_inside_three_seconds_with_every_subcommand()
    {
        var watch = Stopwatch.StartNew();
        var response = await Requests.CommandAsync(fixture.Org[1].SlackUserId!, "help");
        watch.Stop();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), $"acknowledged after {watch.Elapsed}");
        var answer = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("ephemeral", answer["response_type"]!.GetValue<string>());
        var text = answer["text"]!.GetValue<string>();
        foreach (var subcommand in fixture.App.Service<SlackListeners>().SubcommandsOf("/sixty"))
            Assert.Contains($"/sixty {subcommand.Name}", text);
        Assert.Contains("settings", text);
        Assert.Contains("login", text);
    }

    [Fact]
    public async Task A_slow_command_says_working_on_it_at_once_and_delivers_through_the_response_url()
    {
        var watch = Stopwatch.StartNew();
        var response = await Requests.CommandAsync(fixture.Org[1].SlackUserId!, "slow pipeline", Slack.ResponseUrl("slow-1"));
        watch.Stop();

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), $"acknowledged after {watch.Elapsed}");
        Assert.Contains("Working on it", JsonNode.Parse(await response.Content.ReadAsStringAsync())!["text"]!.GetValue<string>());
        await FakeSlack.WaitUntilAsync(() => Slack.ResponseUrlPosts.Any(p => p.Id == "slow-1"), "the slow answer at the response_url");
        var posted = Slack.ResponseUrlPosts.Single(p => p.Id == "slow-1").Body;
        Assert.Equal("slow answer pipeline", posted["text"]!.GetValue<string>());
        Assert.Equal("ephemeral", posted["response_type"]!.GetValue<string>());
    }

    [Fact]
    public async Task An_event_delivered_three_times_gets_one_reply_even_when_slack_retries_after_a_timely_ack()
    {
        var member = fixture.Org[1];
        var envelope = Requests.DirectMessage("Ev0TRIPLE01", member.SlackUserId!, "hello?");
        var first = await Requests.EventAsync(envelope);
        var second = await Requests.EventAsync(envelope, retryNum: 1, retryReason: "http_timeout");
        var third = await Requests.EventAsync(envelope, retryNum: 2, retryReason: "http_timeout");
        Assert.All([first, second, third], r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));

        var channel = "D" + member.SlackUserId;
        bool IsReply(FakeSlack.Call c) => c.Args["channel"] == channel && c.Args["text"].Contains("I'm not sure what you mean");
        await FakeSlack.WaitUntilAsync(() => Slack.CallsOf("chat.postMessage").Any(IsReply), "the reply to the DM");
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        await FakeSlack.WaitUntilAsync(() => db.SlackInbox.AsNoTracking().Single(i => i.DedupeKey == "event:Ev0TRIPLE01").ProcessedAt is not null, "processed");
        await fixture.App.Service<OutboxDispatcher>().DispatchDueAsync(CancellationToken.None);
        var item = await db.SlackInbox.AsNoTracking().SingleAsync(i => i.DedupeKey == "event:Ev0TRIPLE01");
        Assert.Equal(3, item.Deliveries);
        Assert.Equal(1, item.Attempts);
        Assert.Single(Slack.CallsOf("chat.postMessage"), IsReply);
        Assert.Equal(1, await db.SlackOutbox.CountAsync(m => m.Source == $"inbox {item.Id}"));
    }

    [Fact]
    public async Task A_failing_listener_gets_the_user_an_apology_with_a_reference_and_no_detail()
    {
        var response = await Requests.CommandAsync(fixture.Org[1].SlackUserId!, "boom");
        var text = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["text"]!.GetValue<string>();
        Assert.Contains("something went wrong", text);
        Assert.Contains("reference", text);
        Assert.DoesNotContain("secret detail", text);
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        var failed = await db.SlackInbox.AsNoTracking().Where(i => i.Outcome == InboxOutcome.Failed).ToListAsync();
        Assert.Contains(failed, i => i.Error!.Contains("secret detail"));
    }

    [Fact]
    public async Task Free_text_after_sixty_goes_to_the_copilot_and_unknown_buttons_get_a_helpful_answer_not_silence()
    {
        var response = await Requests.CommandAsync(fixture.Org[1].SlackUserId!, "frobnicate now");
        var text = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["text"]!.GetValue<string>();
        // Free text after /sixty is a question for the copilot, which says what it can do when it does not understand.
        Assert.Contains("I'm not sure what you mean", text);
        Assert.Contains("/sixty help", text);

        var click = Requests.Interaction("block_actions", fixture.Org[1].SlackUserId!);
        click["response_url"] = Slack.ResponseUrl("unknown-button");
        click["actions"] = new JsonArray(new JsonObject { ["action_id"] = "no_such_button", ["block_id"] = "b", ["value"] = "1" });
        Assert.Equal(HttpStatusCode.OK, (await Requests.InteractionAsync(click)).StatusCode);
        await FakeSlack.WaitUntilAsync(() => Slack.ResponseUrlPosts.Any(p => p.Id == "unknown-button"), "the answer to an unknown button");
        Assert.Contains("no longer does anything", Slack.ResponseUrlPosts.Single(p => p.Id == "unknown-button").Body["text"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_new_user_of_a_known_org_is_created_from_users_info_on_first_contact()
    {
        Slack.Users["U0NEWBIE01"] = new JsonObject
        {
            ["id"] = "U0NEWBIE01", ["name"] = "newbie", ["tz"] = "Asia/Tokyo",
            ["profile"] = new JsonObject { ["real_name"] = "Nao Newbie", ["email"] = "nao@slackton.example" },
        };
        var response = await Requests.CommandAsync("U0NEWBIE01", "help");
        Assert.Contains("Here is what I can do", await response.Content.ReadAsStringAsync());

        await using var db = fixture.App.Service<SystemDb>().Open("test");
        var user = await db.Users.AsNoTracking().SingleAsync(u => u.SlackUserId == "U0NEWBIE01");
        Assert.Equal(("Nao Newbie", "nao@slackton.example", "Asia/Tokyo", UserRole.Member, fixture.Org.Id),
            (user.Name, user.Email, user.TimeZone, user.Role, user.OrgId));
    }

    [Fact]
    public async Task A_workspace_that_never_installed_the_app_is_pointed_to_the_install_link()
    {
        var stranger = new SlackRequests(fixture.App.Client(), SlackRequests.Secret, "T0STRANGER1");
        var response = await stranger.CommandAsync("U0STRANGER", "help");
        var text = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["text"]!.GetValue<string>();
        Assert.Contains("isn't set up for this Slack workspace", text);
        Assert.Contains("/slack/install", text);
    }

    [Fact]
    public async Task Sixty_login_sends_an_owner_a_one_time_link_by_dm_and_politely_refuses_a_member()
    {
        var member = await Requests.CommandAsync(fixture.Org[1].SlackUserId!, "login");
        Assert.Contains("only owners, admins and viewers", await member.Content.ReadAsStringAsync());

        var owner = fixture.Org[0];
        var response = await Requests.CommandAsync(owner.SlackUserId!, "login");
        Assert.Contains("sent you a sign-in link", await response.Content.ReadAsStringAsync());
        var dm = "D" + owner.SlackUserId;
        await FakeSlack.WaitUntilAsync(() => Slack.CallsOf("chat.postMessage").Any(c => c.Args["channel"] == dm), "the DM with the link");
        var message = Slack.CallsOf("chat.postMessage").Single(c => c.Args["channel"] == dm);
        Assert.Matches(@"http://127\.0\.0\.1:5175/admin/login\?token=[A-Za-z0-9_-]{43}", message.Args["text"]);
        Assert.Equal(Slack.BotToken, message.Token);
        Assert.Contains(Slack.CallsOf("conversations.open"), c => c.Args["users"] == owner.SlackUserId);
    }

    [Fact]
    public async Task Sixty_settings_opens_a_modal_validates_in_it_and_saves_the_reps_preferences()
    {
        var rep = fixture.Org[1];
        var response = await Requests.CommandAsync(rep.SlackUserId!, "settings");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var open = Assert.Single(Slack.CallsOf("views.open"), c => c.Args["view"].Contains(rep.TimeZone.Replace('_', ' ')));
        var view = JsonNode.Parse(open.Args["view"])!;
        Assert.Equal("user_settings", view["callback_id"]!.GetValue<string>());
        // A rep who never chose follows the team's default time, and the menu says which it is.
        var digestMenu = view["blocks"]!.AsArray().Single(b => b!["block_id"]?.GetValue<string>() == "digest_time")!["element"]!;
        Assert.Equal(("org_default", "Team default (09:00)"),
            (digestMenu["initial_option"]!["value"]!.GetValue<string>(), digestMenu["initial_option"]!["text"]!["text"]!.GetValue<string>()));

        var options = await Requests.InteractionAsync(new JsonObject
        {
            ["type"] = "block_suggestion", ["action_id"] = "time_zone", ["value"] = "paris", ["team"] = new JsonObject { ["id"] = Slack.TeamId },
            ["user"] = new JsonObject { ["id"] = rep.SlackUserId },
        }, "slack/options");
        var offered = JsonNode.Parse(await options.Content.ReadAsStringAsync())!["options"]!.AsArray();
        Assert.Contains(offered, o => o!["value"]!.GetValue<string>() == "Europe/Paris");

        var bad = Submission(rep, zone: "Mars/Olympus_Mons", snooze: "abc", digestTime: "04:15");
        var errors = JsonNode.Parse(await (await Requests.InteractionAsync(bad)).Content.ReadAsStringAsync())!;
        Assert.Equal("errors", errors["response_action"]!.GetValue<string>());
        Assert.NotNull(errors["errors"]!["tz"]);
        Assert.NotNull(errors["errors"]!["snooze"]);
        Assert.NotNull(errors["errors"]!["digest_time"]);

        var good = await Requests.InteractionAsync(Submission(rep, zone: "Europe/Paris", snooze: "3"));
        Assert.Equal(HttpStatusCode.OK, good.StatusCode);
        Assert.Equal("", await good.Content.ReadAsStringAsync());
        var saved = await TestData.AsAsync(fixture.App.Services, rep, db => db.UserPreferences.AsNoTracking().SingleAsync());
        Assert.False(saved.DailyDigest);
        Assert.True(saved.MeetingBriefs);
        Assert.Equal(["friday"], saved.QuietDays);
        Assert.Equal(new TimeOnly(7, 30), saved.DigestTime);
        Assert.InRange(saved.SnoozedUntil!.Value, DateTimeOffset.UtcNow.AddDays(2.9), DateTimeOffset.UtcNow.AddDays(3.1));
        Assert.Equal("Europe/Paris", await TestData.AsAsync(fixture.App.Services, rep, db => db.Users.Where(u => u.Id == rep.Id).Select(u => u.TimeZone).SingleAsync()));
        await FakeSlack.WaitUntilAsync(() => Slack.CallsOf("chat.postMessage").Any(c => c.Args["text"].Contains("Settings saved")), "the confirmation");

        // Back to the team's default: the rep follows the org again.
        Assert.Equal(HttpStatusCode.OK, (await Requests.InteractionAsync(Submission(rep, zone: "Europe/Paris", snooze: "", digestTime: "org_default"))).StatusCode);
        Assert.Null((await TestData.AsAsync(fixture.App.Services, rep, db => db.UserPreferences.AsNoTracking().SingleAsync())).DigestTime);
    }

    [Fact]
    public async Task Callbacks_left_behind_by_a_crash_after_the_ack_are_finished_once_by_the_poller_when_their_lease_expires()
    {
        // What a process killed right after its acknowledgements leaves in the inbox: a row never handed to a worker, and a row whose
        // worker died holding it (its lease has run out). A third is still held by a live worker and must be left alone until its lease ends.
        var member = fixture.Org[1];
        var now = DateTimeOffset.UtcNow;
        var neverHandedOver = await StoreAsync("Ev0CRASH001", attempts: 0, lockedUntil: null, receivedAt: now.AddMinutes(-1));
        var workerDied = await StoreAsync("Ev0CRASH002", attempts: 1, lockedUntil: now.AddSeconds(-1), receivedAt: now.AddMinutes(-6));
        var stillHeld = await StoreAsync("Ev0CRASH003", attempts: 1, lockedUntil: now.AddMinutes(5), receivedAt: now.AddSeconds(-5));
        var worker = fixture.App.Service<SlackInboxWorker>();

        await worker.PollAsync(CancellationToken.None);
        await FakeSlack.WaitUntilAsync(() => RepliesSent(neverHandedOver) == 1 && RepliesSent(workerDied) == 1, "replies to the two orphaned callbacks");
        await worker.PollAsync(CancellationToken.None);
        await fixture.App.Service<OutboxDispatcher>().DispatchDueAsync(CancellationToken.None);

        Assert.Equal((InboxOutcome.Handled, 1), await OutcomeAsync(neverHandedOver));
        Assert.Equal((InboxOutcome.Handled, 2), await OutcomeAsync(workerDied));
        Assert.Equal(((InboxOutcome?)null, 1), await OutcomeAsync(stillHeld));
        Assert.Equal(0, RepliesSent(stillHeld));

        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
            await db.SlackInbox.Where(i => i.Id == stillHeld).ExecuteUpdateAsync(s => s.SetProperty(i => i.LockedUntil, DateTimeOffset.UtcNow.AddSeconds(-1)));
        await worker.PollAsync(CancellationToken.None);
        await FakeSlack.WaitUntilAsync(() => RepliesSent(stillHeld) == 1, "the reply once the live worker's lease ran out");
        Assert.Equal((InboxOutcome.Handled, 2), await OutcomeAsync(stillHeld));
        Assert.Equal([1, 1, 1], new[] { neverHandedOver, workerDied, stillHeld }.Select(RepliesSent));

        async Task<long> StoreAsync(string eventId, int attempts, DateTimeOffset? lockedUntil, DateTimeOffset receivedAt)
        {
            await using var db = fixture.App.Service<SystemDb>().Open("test");
            var item = new InboxItem
            {
                DedupeKey = "event:" + eventId, Kind = InboxKind.Event, TeamId = Slack.TeamId,
                Payload = Requests.DirectMessage(eventId, member.SlackUserId!, "are you there?").ToJsonString(),
                ReceivedAt = receivedAt, Attempts = attempts, LockedUntil = lockedUntil,
            };
            db.SlackInbox.Add(item);
            await db.SaveChangesAsync();
            return item.Id;
        }

        int RepliesSent(long inboxId)
        {
            using var db = fixture.App.Service<SystemDb>().Open("test");
            return db.SlackOutbox.Count(m => m.Source == $"inbox {inboxId}" && m.Status == OutboxStatus.Sent);
        }

        async Task<(InboxOutcome?, int)> OutcomeAsync(long inboxId)
        {
            await using var db = fixture.App.Service<SystemDb>().Open("test");
            var item = await db.SlackInbox.AsNoTracking().SingleAsync(i => i.Id == inboxId);
            return (item.Outcome, item.Attempts);
        }
    }

    JsonObject Submission(AppUser rep, string zone, string snooze, string digestTime = "07:30")
    {
        var payload = Requests.Interaction("view_submission", rep.SlackUserId!);
        payload["view"] = new JsonObject
        {
            ["id"] = "V0FAKE", ["callback_id"] = "user_settings",
            ["state"] = new JsonObject
            {
                ["values"] = new JsonObject
                {
                    ["tz"] = new JsonObject { ["time_zone"] = new JsonObject { ["type"] = "external_select", ["selected_option"] = new JsonObject { ["value"] = zone } } },
                    ["proactive"] = new JsonObject
                    {
                        ["proactive"] = new JsonObject
                        {
                            ["type"] = "checkboxes",
                            ["selected_options"] = new JsonArray(new JsonObject { ["value"] = "meeting_briefs" }, new JsonObject { ["value"] = "deal_alerts" }),
                        },
                    },
                    ["quiet"] = new JsonObject
                    {
                        ["quiet_days"] = new JsonObject { ["type"] = "checkboxes", ["selected_options"] = new JsonArray(new JsonObject { ["value"] = "friday" }) },
                    },
                    ["snooze"] = new JsonObject { ["snooze_days"] = new JsonObject { ["type"] = "plain_text_input", ["value"] = snooze } },
                    ["digest_time"] = new JsonObject
                    {
                        ["digest_time"] = new JsonObject { ["type"] = "static_select", ["selected_option"] = new JsonObject { ["value"] = digestTime } },
                    },
                },
            },
        };
        return payload;
    }

    async Task<int> AuditCountAsync()
    {
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        return await db.SecurityAuditLog.CountAsync(e => e.EventType == AuditEvents.SlackRequestRejected);
    }
}
