using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Microsoft.SemanticKernel;
using Use60.Copilot;
using Use60.Crm;
using Use60.Data;
using Use60.Proactive;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

public sealed class WinLossTests(DigestFixture fixture) : IClassFixture<DigestFixture>
{
    [Fact]
    public async Task A_deal_closed_after_the_channel_is_set_is_posted_there_once_and_older_closes_are_not_replayed()
    {
        var alex = fixture.Reps[0];
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
            await db.OrgSettings.Where(s => s.OrgId == alex.OrgId)
                .ExecuteUpdateAsync(s => s.SetProperty(x => x.WinLossChannel, "C0WINLOSS").SetProperty(x => x.UpdatedAt, DigestFixture.Start));
        Assert.Empty(await WinLossAt(DigestFixture.Start.AddMinutes(1)).DueAsync(default)); // the demo's closed deals are history

        fixture.Clock.Advance(TimeSpan.FromMinutes(1));
        Guid dealId;
        await using (var scope = fixture.App.Services.CreateAsyncScope())
        {
            scope.ServiceProvider.GetRequiredService<TenantContext>().Enter(alex.OrgId, alex.Id);
            scope.ServiceProvider.GetRequiredService<CopilotSession>().Start(alex);
            var db = scope.ServiceProvider.GetRequiredService<Use60Db>();
            dealId = await db.Deals.Where(d => d.UserId == alex.Id && d.Stage == DealStage.Negotiation).Select(d => d.Id).FirstAsync();
            var preview = await scope.ServiceProvider.GetRequiredService<CopilotTools>().CallAsync(CopilotTools.ExecuteAction, new KernelArguments
            {
                ["action"] = "update_deal_stage", ["params"] = new JsonObject { ["deal_id"] = dealId.ToString(), ["stage"] = "closed_won" },
            }, default);
            Assert.True((await scope.ServiceProvider.GetRequiredService<CopilotChat>()
                .DecideAsync(alex, Guid.Parse((string)preview["pending_action_id"]!), true, default)).Done);
        }

        var later = DigestFixture.Start.AddMinutes(6);
        Assert.Equal([dealId], (await WinLossAt(later).DueAsync(default)).Select(d => d.DealId));
        await WinLossAt(later).RunAsync(default);
        await WinLossAt(later.AddMinutes(5)).RunAsync(default);

        await using var check = fixture.App.Service<SystemDb>().Open("test");
        var post = Assert.Single(await check.SlackOutbox.AsNoTracking().Where(m => m.Source.StartsWith("win/loss")).ToListAsync());
        Assert.Equal("C0WINLOSS", post.Channel);
        Assert.StartsWith("Won: ", (string)JsonNode.Parse(post.Message)!["text"]!);
        Assert.Contains(alex.Name, post.Message);
    }

    WinLoss WinLossAt(DateTimeOffset instant) =>
        ActivatorUtilities.CreateInstance<WinLoss>(fixture.App.Services, (TimeProvider)new FakeTimeProvider(instant));
}
