using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.SemanticKernel;
using Use60.Copilot;
using Use60.Crm;
using Use60.Data;
using Use60.Orgs;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>resolve_entity and the read actions against the demo org.</summary>
public sealed class CopilotEntityTests(CopilotAppFixture fixture) : IClassFixture<CopilotAppFixture>
{
    AppUser Alex => fixture.Reps[0];

    [Fact]
    public async Task A_first_name_a_nickname_a_surname_and_a_company_each_find_the_right_people()
    {
        await TestData.AsAsync(fixture.App.Services, Alex, async db =>
        {
            db.Contacts.Add(new Contact { OrgId = Alex.OrgId, UserId = Alex.Id, FirstName = "Robert", LastName = "Fox", Title = "COO", Email = "robert.fox@fox.example" });
            await db.SaveChangesAsync();
        });

        var sarah = await ResolveAsync("Sarah", "contact");
        Assert.Equal("ambiguous", (string?)sarah["status"]);
        Assert.Equal(["Sarah Chen", "Sarah Okafor"], Names(sarah).Take(2).Order(StringComparer.Ordinal));

        var bob = await ResolveAsync("Bob", "contact");
        Assert.Equal(("resolved", "Robert Fox"), ((string?)bob["status"], Names(bob)[0]));

        var chen = await ResolveAsync("sarah chen", null);
        Assert.Equal(("resolved", "Sarah Chen", 1.0), ((string?)chen["status"], Names(chen)[0], (double)chen["candidates"]![0]!["confidence"]!));

        var okafor = await ResolveAsync("Okafor", "contact");
        Assert.Equal(("resolved", "Sarah Okafor"), ((string?)okafor["status"], Names(okafor)[0]));

        var company = await ResolveAsync("Northwind Logistics", "company");
        Assert.Equal(("resolved", "Northwind Logistics"), ((string?)company["status"], Names(company)[0]));

        var nobody = await ResolveAsync("Zebulon", null);
        Assert.Equal("not_found", (string?)nobody["status"]);
    }

    [Fact]
    public async Task Meetings_for_a_period_are_real_meetings_only_in_the_reps_own_day()
    {
        var today = await ExecuteAsync("get_meetings_for_period", new JsonObject { ["period"] = "today" });
        var week = await ExecuteAsync("get_meetings_for_period", new JsonObject { ["period"] = "this_week" });
        var bad = await ExecuteAsync("get_meetings_for_period", new JsonObject { ["period"] = "someday" });

        Assert.Equal("meeting_list", (string?)today["type"]);
        var meetings = today["meetings"]!.AsArray();
        Assert.NotEmpty(meetings);
        Assert.All(meetings, m => Assert.True(m!["attendees"]!.AsArray().Count > 1));
        Assert.DoesNotContain(meetings, m => ((string)m!["title"]!).StartsWith("Focus"));
        Assert.True(week["meetings"]!.AsArray().Count >= meetings.Count);
        Assert.Contains("today, tomorrow or this_week", (string?)bad["error"]);
    }

    async Task<JsonObject> ResolveAsync(string name, string? type) =>
        await CallAsync(CopilotTools.ResolveEntity, new KernelArguments { ["name"] = name, ["entity_type"] = type });

    Task<JsonObject> ExecuteAsync(string action, JsonObject parameters) =>
        CallAsync(CopilotTools.ExecuteAction, new KernelArguments { ["action"] = action, ["params"] = parameters });

    async Task<JsonObject> CallAsync(string tool, KernelArguments arguments)
    {
        await using var scope = fixture.App.Services.CreateAsyncScope();
        scope.ServiceProvider.GetRequiredService<TenantContext>().Enter(Alex.OrgId, Alex.Id);
        scope.ServiceProvider.GetRequiredService<CopilotSession>().Start(Alex);
        return await scope.ServiceProvider.GetRequiredService<CopilotTools>().CallAsync(tool, arguments, default);
    }

    static List<string> Names(JsonObject resolved) => [.. resolved["candidates"]!.AsArray().Select(c => (string)c!["name"]!)];
}
