using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.SemanticKernel;
using Use60.Copilot;
using Use60.Crm;
using Use60.Data;
using Use60.Orgs;
using Use60.Recordings;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

public sealed class MeetingTranscriptFixture : IAsyncLifetime
{
    public TestDatabase Database { get; private set; } = null!;
    public Use60App App { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Database = await TestDatabase.CreateAsync();
        App = new Use60App(Database);
    }

    public async Task DisposeAsync()
    {
        await App.DisposeAsync();
        await Database.DisposeAsync();
    }
}

/// <summary>The one step every transcription path ends in, and the copilot's search over what was said.</summary>
public sealed class MeetingTranscriptTests(MeetingTranscriptFixture fixture) : IClassFixture<MeetingTranscriptFixture>
{
    static readonly DateTimeOffset Start = DateTimeOffset.Parse("2026-11-20T15:00:00Z");

    static TranscriptArrival Arrival(AppUser rep, string sourceRef, string title, params (string Speaker, string Text)[] lines) =>
        new(rep.OrgId, rep.Id, MeetingSource.Notetaker, sourceRef, "meetingbaas", title, Start, Start.AddMinutes(30), null, null,
            [.. lines.Select((l, i) => new TranscriptSegment { Speaker = l.Speaker, Start = i * 10, End = i * 10 + 9, Text = l.Text })]);

    [Fact]
    public async Task A_transcript_lands_on_one_meeting_however_often_and_however_concurrently_it_is_delivered()
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Deliveries", UserRole.Owner);
        var transcripts = fixture.App.Service<MeetingTranscripts>();
        var arrival = Arrival(org[0], "bot-" + Guid.NewGuid().ToString("N"), "TechCorp — Pricing review",
            ("Sarah Chen", "Our budget is fixed for this quarter."), ("  ", "  "), ("", "Can you do annual pricing?"));

        var results = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => transcripts.StoreAsync(arrival, default)));
        Assert.Single(results.Select(r => r.MeetingId).Distinct());
        Assert.Single(results, r => r.IsFirst);
        Assert.False((await transcripts.StoreAsync(arrival, default)).IsFirst);

        var meeting = await TestData.AsAsync(fixture.App.Services, org[0], db => db.Meetings.AsNoTracking().SingleAsync(m => m.SourceRef == arrival.SourceRef));
        Assert.Equal(MeetingSource.Notetaker, meeting.SourceType);
        Assert.Equal("meetingbaas", meeting.TranscriptProvider);
        // Blank segments are dropped; a nameless speaker is named.
        Assert.Equal(["Sarah Chen", "Speaker"], meeting.Transcript!.Select(s => s.Speaker));
        Assert.Equal("Sarah Chen: Our budget is fixed for this quarter.\nSpeaker: Can you do annual pricing?", meeting.TranscriptText);
    }

    [Fact]
    public async Task The_copilot_finds_what_was_said_by_meaning_of_the_words_only_in_meetings_the_rep_may_see()
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Searchers", UserRole.Owner, UserRole.Member);
        var other = await TestData.CreateOrgAsync(fixture.App.Services, "Elsewhere", UserRole.Owner);
        var transcripts = fixture.App.Service<MeetingTranscripts>();
        await transcripts.StoreAsync(Arrival(org[0], "bot-a-" + Guid.NewGuid().ToString("N"), "TechCorp — Pilot review",
            ("Sarah Chen", "The price per seat is what worries finance."), ("Alex Morgan", "We can offer annual billing.")), default);
        await transcripts.StoreAsync(Arrival(org[0], "bot-b-" + Guid.NewGuid().ToString("N"), "Globex — Discovery",
            ("Hank Scorpio", "Security review first, then we talk pricing.")), default);
        await transcripts.StoreAsync(Arrival(other[0], "bot-c-" + Guid.NewGuid().ToString("N"), "TechCorp — Their own call",
            ("Someone", "TechCorp pricing is secret here.")), default);

        // "pricing" finds "price" (English stemming); the question's own words are not searched for.
        var hits = await SearchAsync(org[0], "what did TechCorp say about pricing?");
        var hit = Assert.Single(hits);
        Assert.Equal("TechCorp — Pilot review", (string)hit!["title"]!);
        Assert.Contains("*price*", (string)hit["snippet"]!);
        Assert.Equal(2, (await SearchAsync(org[0], "pricing")).Count);
        Assert.Empty(await SearchAsync(org[0], "kubernetes"));

        // A colleague sees them while the org shares meetings, and not once it stops; another org never does.
        Assert.Equal(2, (await SearchAsync(org[1], "pricing")).Count);
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
            await db.OrgSettings.Where(s => s.OrgId == org.Id).ExecuteUpdateAsync(s => s.SetProperty(o => o.EnableMeetingSharing, false));
        Assert.Empty(await SearchAsync(org[1], "pricing"));
        Assert.Single(await SearchAsync(other[0], "pricing"));
    }

    static readonly (string Speaker, string Text)[] PricingCall =
    [
        ("Sarah Chen", "Thanks for making the time. Our budget for this quarter is fixed at forty thousand."),
        ("Alex Morgan", "Understood. The pilot price per seat comes down with an annual contract."),
        ("Sarah Chen", "Security review is our main concern before procurement signs anything."),
        ("Alex Morgan", "We agreed to start the pilot with two warehouses in January."),
        ("Alex Morgan", "I'll send the security questionnaire answers by Friday."),
        ("Sarah Chen", "Can you share a reference customer in logistics?"),
        ("Sarah Chen", "Great, talk soon."),
    ];

    [Fact]
    public void Notes_pick_the_decisions_the_commitments_and_what_the_deal_turns_on()
    {
        var notes = MeetingNotes.Extract([.. PricingCall.Select((l, i) => new TranscriptSegment { Speaker = l.Speaker, Start = i * 10, End = i * 10 + 9, Text = l.Text })]);
        Assert.Equal(["We agreed to start the pilot with two warehouses in January."], notes.Decisions);
        Assert.Equal([new ActionItem("Send the security questionnaire answers by Friday", "Alex Morgan"),
            new ActionItem("Share a reference customer in logistics", "Sarah Chen")], notes.ActionItems);
        Assert.Contains("budget", notes.Summary);
        Assert.Contains("Security review", notes.Summary);
        Assert.DoesNotContain("talk soon", notes.Summary);
        Assert.Equal(MeetingNotesResult.Empty, MeetingNotes.Extract([]));
    }

    [Fact]
    public async Task A_first_transcript_brings_the_rep_one_follow_up_pack_with_the_notes_and_previews_to_confirm()
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Packs", UserRole.Owner);
        var rep = org[0];
        var dealId = await TestData.AsAsync(fixture.App.Services, rep, async db =>
        {
            var contact = new Contact { OrgId = rep.OrgId, UserId = rep.Id, FirstName = "Sarah", LastName = "Chen", Email = "sarah@techcorp.example" };
            var deal = new Deal { OrgId = rep.OrgId, UserId = rep.Id, Name = "TechCorp pilot", PrimaryContactId = contact.Id, Amount = 40_000 };
            db.AddRange(contact, deal);
            await db.SaveChangesAsync();
            return deal.Id;
        });
        var arrival = Arrival(rep, "bot-pack-" + Guid.NewGuid().ToString("N"), "TechCorp — Pilot planning", PricingCall) with { DealId = dealId };
        var transcripts = fixture.App.Service<MeetingTranscripts>();
        // Delivered three times, two of them at once: one pack.
        await Task.WhenAll(transcripts.StoreAsync(arrival, default), transcripts.StoreAsync(arrival, default));
        await transcripts.StoreAsync(arrival, default);

        await using var db = fixture.App.Service<SystemDb>().Open("test");
        var dm = Assert.Single(await db.SlackOutbox.AsNoTracking().Where(m => m.UserId == rep.Id && m.Source.StartsWith("follow-up pack")).ToListAsync());
        var blocks = JsonNode.Parse(dm.Message)!["blocks"]!.ToJsonString();
        Assert.Contains("Follow-ups: TechCorp — Pilot planning", System.Text.RegularExpressions.Regex.Unescape(blocks));
        Assert.Contains("*Decisions*", blocks);
        Assert.Contains("Send the security questionnaire answers by Friday", blocks);
        var previews = await db.PendingActions.AsNoTracking().Where(p => p.UserId == rep.Id).ToListAsync();
        Assert.Equal(["create_task", "create_task", "create_task", "send_email"], previews.Select(p => p.Action).Order());
        Assert.All(previews, p => Assert.Contains(p.Id.ToString(), blocks));   // each with its Confirm and Cancel
        Assert.Contains(previews, p => p.Action == "send_email" && p.Preview.Contains("A quick recap") && p.Preview.Contains("Next steps"));
        var delivery = await db.ProactiveDeliveries.AsNoTracking().SingleAsync(d => d.UserId == rep.Id && d.Workflow == Proactive.Workflow.FollowUpPack);
        Assert.All(previews, p => Assert.Equal(delivery.Id, p.ProactiveDeliveryId));
        // Nothing was sent or created: they wait for Confirm.
        Assert.False(await db.Tasks.AnyAsync(t => t.UserId == rep.Id));
    }

    async Task<JsonArray> SearchAsync(AppUser rep, string query)
    {
        await using var scope = fixture.App.Services.CreateAsyncScope();
        scope.ServiceProvider.GetRequiredService<TenantContext>().Enter(rep.OrgId, rep.Id);
        var user = await scope.ServiceProvider.GetRequiredService<Use60Db>().Users.AsNoTracking().SingleAsync(u => u.Id == rep.Id);
        scope.ServiceProvider.GetRequiredService<CopilotSession>().Start(user);
        var result = await scope.ServiceProvider.GetRequiredService<CopilotTools>().CallAsync(CopilotTools.ExecuteAction,
            new KernelArguments { ["action"] = "search_meetings", ["params"] = new JsonObject { ["query"] = query } }, default);
        return result["meetings"]!.AsArray();
    }
}
