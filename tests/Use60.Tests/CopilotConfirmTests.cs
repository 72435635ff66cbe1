using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.SemanticKernel;
using Use60.Copilot;
using Use60.Data;
using Use60.Orgs;
using Use60.Slack;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>Preview → confirm, skills and sequences, in-process against the demo org (the Slack round trip is in CopilotSlackTests).</summary>
public sealed class CopilotConfirmTests(CopilotAppFixture fixture) : IClassFixture<CopilotAppFixture>
{
    AppUser Priya => fixture.Reps[2];
    AppUser Tom => fixture.Reps[1];

    [Fact]
    public async Task Two_confirms_at_once_execute_the_action_exactly_once()
    {
        var action = await PreviewTaskAsync(Priya, "Call the warehouse team");

        // Two replicas (or a double click) handle the same Confirm at the same moment.
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => Task.Run(() => InScopeAsync(Priya, (chat, _) => chat.DecideAsync(Priya, action, true, default)))));

        Assert.Single(outcomes, o => o.Done);
        Assert.Single(outcomes, o => !o.Done && (o.Text.Contains("already") || o.Text.Contains("being done")));
        Assert.Equal(1, await TasksTitledAsync(Priya, "Call the warehouse team"));
    }

    [Fact]
    public async Task A_confirm_after_cancel_or_expiry_does_nothing_and_says_why()
    {
        var cancelled = await PreviewTaskAsync(Tom, "Send the deck");
        Assert.True((await InScopeAsync(Tom, (chat, _) => chat.DecideAsync(Tom, cancelled, false, default))).Done);
        var afterCancel = await InScopeAsync(Tom, (chat, _) => chat.DecideAsync(Tom, cancelled, true, default));
        Assert.False(afterCancel.Done);
        Assert.Contains("cancelled", afterCancel.Text);

        var expired = await PreviewTaskAsync(Tom, "Book the venue");
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
            await db.PendingActions.Where(a => a.Id == expired).ExecuteUpdateAsync(s => s.SetProperty(a => a.ExpiresAt, DateTimeOffset.UtcNow.AddMinutes(-1)));
        var afterExpiry = await InScopeAsync(Tom, (chat, _) => chat.DecideAsync(Tom, expired, true, default));
        Assert.False(afterExpiry.Done);
        Assert.Contains("expired", afterExpiry.Text);
        Assert.Equal(0, await TasksTitledAsync(Tom, "Send the deck") + await TasksTitledAsync(Tom, "Book the venue"));
    }

    [Fact]
    public async Task Replying_confirm_in_the_dm_confirms_the_latest_pending_action()
    {
        var rep = Tom; // whose other previews in this class are cancelled or expired, never left pending
        var reminder = await InScopeAsync(rep, (chat, _) => chat.AskAsync(rep, "D" + rep.SlackUserId, "remind me to send the pilot report on Friday", default));
        var preview = Assert.Single(reminder.Previews);
        Assert.Equal("create_task", preview.Action);
        Assert.Equal(0, await TasksTitledAsync(rep, "Send the pilot report"));

        var confirmed = await InScopeAsync(rep, (chat, _) => chat.AskAsync(rep, "D" + rep.SlackUserId, "confirm", default));

        Assert.StartsWith("Task created: Send the pilot report", confirmed.Text);
        Assert.Equal(1, await TasksTitledAsync(rep, "Send the pilot report"));
        var again = await InScopeAsync(rep, (chat, _) => chat.AskAsync(rep, "D" + rep.SlackUserId, "confirm", default));
        Assert.Contains("nothing waiting", again.Text);
    }

    [Fact]
    public async Task The_follow_up_pack_and_the_rescue_plan_render_as_valid_block_kit_with_previews()
    {
        // A short meeting with Sarah Chen that has just ended: "my last meeting" is the latest-starting one that has ended, and no demo
        // meeting (30 minutes or more, on the half hour) can start later than it and be over already, whatever the hour the test runs.
        var rep = fixture.Reps[0];
        await TestData.AsAsync(fixture.App.Services, rep, async db =>
        {
            var sarah = await db.Contacts.SingleAsync(c => c.FirstName == "Sarah" && c.LastName == "Chen");
            var deal = await db.Deals.FirstAsync(d => d.UserId == rep.Id && d.PrimaryContactId == sarah.Id);
            db.CalendarEvents.Add(new Use60.Calendar.CalendarEvent
            {
                OrgId = rep.OrgId, UserId = rep.Id, ExternalId = "test-past-meeting", Title = "TechCorp — pilot debrief", DealId = deal.Id,
                StartTime = DateTimeOffset.UtcNow.AddMinutes(-5), EndTime = DateTimeOffset.UtcNow.AddSeconds(-1),
                Attendees = [new() { Email = rep.Email!, Name = rep.Name, Self = true }, new() { Email = sarah.Email!, Name = "Sarah Chen" }],
            });
            await db.SaveChangesAsync();
        });
        var pack = await InScopeAsync(rep, (chat, _) => chat.AskAsync(rep, "D" + rep.SlackUserId, "follow-ups for my last meeting", default));
        Assert.Contains(pack.Structured, s => (string?)s["type"] == "post_meeting_followup_pack");
        Assert.Contains(pack.Previews, p => p.Action == "create_task");
        Assert.Contains(pack.Previews, p => p.Action == "send_email");
        Assert.Contains("pilot debrief", JsonNode.Parse(pack.Previews.Single(p => p.Action == "send_email").Preview)!["subject"]!.GetValue<string>());
        var packMessage = CopilotBlocks.Answer(pack);
        Assert.Empty(BlockKitLimits.Problems(packMessage));
        Assert.Contains("Follow-ups:", packMessage.ToJson().ToJsonString());

        var rescue = await InScopeAsync(rep, async (_, tools) =>
        {
            var deal = await tools.CallAsync(CopilotTools.ResolveEntity, new KernelArguments { ["name"] = "Picker AMR fleet", ["entity_type"] = "deal" }, default);
            return await tools.CallAsync(CopilotTools.ExecuteAction, new KernelArguments
            {
                ["action"] = "run_sequence",
                ["params"] = new JsonObject { ["sequence_key"] = "seq-deal-rescue-plan", ["inputs"] = new JsonObject { ["deal_id"] = (string)deal["candidates"]![0]!["id"]! } },
            }, default);
        });
        Assert.Equal("deal_rescue_plan", (string?)rescue["type"]);
        Assert.Equal("send_email", (string?)rescue["outputs"]!["send"]!["action"]);
        var rendered = CopilotBlocks.Answer(new CopilotAnswer(1, "Rescue", [rescue], [], null));
        Assert.Empty(BlockKitLimits.Problems(rendered));
        Assert.Contains("Rescue plan", rendered.ToJson().ToJsonString());
        Assert.Contains("WidgetCo", rendered.ToJson().ToJsonString());
    }

    [Fact]
    public async Task An_org_override_replaces_a_built_in_skill_for_that_org_only_with_its_variables_filled_in()
    {
        var rep = fixture.Reps[0];
        await TestData.AsAsync(fixture.App.Services, rep, async db =>
        {
            db.SkillOverrides.Add(new SkillOverride
            {
                OrgId = rep.OrgId, SkillKey = "follow-up-email", UpdatedBy = rep.Id,
                Document = "---\nkey: follow-up-email\nname: House follow-up\ndescription: Our own way of following up.\ncategory: email\n---\n" +
                           "Write as ${rep.first_name} of ${org.company_name}; never mention ${org.unknown_thing}.",
            });
            await db.SaveChangesAsync();
        });
        var listed = await InScopeAsync(rep, (_, tools) => tools.CallAsync(CopilotTools.ListSkills, new KernelArguments { ["category"] = "email" }, default));
        Assert.Contains(listed["skills"]!.AsArray(), s => (string?)s!["name"] == "House follow-up");
        var skill = await InScopeAsync(rep, (_, tools) => tools.CallAsync(CopilotTools.GetSkill, new KernelArguments { ["skill_key"] = "follow-up-email" }, default));
        Assert.Equal("Write as Alex of Acme Robotics; never mention —.", (string?)skill["document"]);

        var other = await TestData.CreateOrgAsync(fixture.App.Services, "Elsewhere Inc", UserRole.Owner);
        var theirs = await InScopeAsync(other[0], (_, tools) => tools.CallAsync(CopilotTools.GetSkill, new KernelArguments { ["skill_key"] = "follow-up-email" }, default));
        Assert.Equal("Follow-up email", (string?)theirs["name"]);
        Assert.Equal(SkillCatalog.BuiltInSkills.Count, (await InScopeAsync(other[0], (_, tools) => tools.CallAsync(CopilotTools.ListSkills, [], default)))["skills"]!.AsArray().Count);
    }

    [Fact]
    public async Task A_sequence_step_with_an_unresolved_variable_fails_with_a_clear_error_naming_step_and_variable()
    {
        var rep = Priya;
        await TestData.AsAsync(fixture.App.Services, fixture.Reps[0], async db =>
        {
            db.SkillOverrides.Add(new SkillOverride
            {
                OrgId = rep.OrgId, SkillKey = "seq-broken", UpdatedBy = fixture.Reps[0].Id,
                Document = "---\nkey: seq-broken\nname: Broken\ndescription: Refers to an output no step makes.\ntype: sequence\nsteps:\n" +
                           "  - id: pipeline\n    action: get_pipeline_summary\n  - id: deal\n    action: get_deal\n    params:\n      deal_id: ${outputs.pipeline.top_deal.id}\n---\n",
            });
            await db.SaveChangesAsync();
        });

        var result = await InScopeAsync(rep, (_, tools) => tools.CallAsync(CopilotTools.ExecuteAction, new KernelArguments
        {
            ["action"] = "run_sequence", ["params"] = new JsonObject { ["sequence_key"] = "seq-broken" },
        }, default));

        Assert.Equal("Step 'deal' of seq-broken could not run: Unknown variable ${outputs.pipeline.top_deal.id}: outputs.pipeline has no 'top_deal'",
            (string?)result["error"]);
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        Assert.Contains(await db.ToolExecutions.AsNoTracking().Where(t => t.UserId == rep.Id).ToListAsync(),
            t => t.Outcome == ToolOutcome.Error && t.Error!.Contains("top_deal"));
    }

    [Fact]
    public void Every_built_in_sequence_names_only_real_actions_and_valid_variables()
    {
        var sequences = SkillCatalog.BuiltInSkills.Where(s => s.IsSequence).ToList();
        Assert.Equal(["seq-deal-rescue-plan", "seq-next-meeting-command-center", "seq-post-meeting-followup-pack"], sequences.Select(s => s.Key).Order(StringComparer.Ordinal));
        foreach (var step in sequences.SelectMany(s => s.Steps))
        {
            Assert.Contains(step.Action, CopilotActions.Names);
            Assert.All(TemplateVariables.References(step.Params), path => Assert.Matches(@"^(inputs|outputs)\.", path));
        }
    }

    async Task<Guid> PreviewTaskAsync(AppUser rep, string title)
    {
        var result = await InScopeAsync(rep, (_, tools) => tools.CallAsync(CopilotTools.ExecuteAction, new KernelArguments
        {
            ["action"] = "create_task", ["params"] = new JsonObject { ["title"] = title, ["due_in_days"] = 2 },
        }, default));
        Assert.Equal("preview", (string?)result["status"]);
        return Guid.Parse((string)result["pending_action_id"]!);
    }

    async Task<T> InScopeAsync<T>(AppUser rep, Func<CopilotChat, CopilotTools, Task<T>> work)
    {
        await using var scope = fixture.App.Services.CreateAsyncScope();
        scope.ServiceProvider.GetRequiredService<TenantContext>().Enter(rep.OrgId, rep.Id);
        scope.ServiceProvider.GetRequiredService<CopilotSession>().Start(rep);
        return await work(scope.ServiceProvider.GetRequiredService<CopilotChat>(), scope.ServiceProvider.GetRequiredService<CopilotTools>());
    }

    async Task<int> TasksTitledAsync(AppUser rep, string title)
    {
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        return await db.Tasks.CountAsync(t => t.UserId == rep.Id && t.Title == title);
    }
}
