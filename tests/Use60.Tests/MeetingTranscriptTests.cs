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
