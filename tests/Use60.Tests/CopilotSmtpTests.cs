using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.SemanticKernel;
using Use60.Copilot;
using Use60.Crm;
using Use60.Data;
using Use60.Orgs;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

public sealed class CopilotSmtpTests
{
    [Fact]
    public async Task With_smtp_url_set_a_confirmed_email_goes_through_the_relay_once_and_never_before_confirm()
    {
        await using var smtp = new FakeSmtp();
        await using var database = await TestDatabase.CreateAsync();
        await using var app = new Use60App(database, new Dictionary<string, string?>
        {
            ["Smtp:Url"] = $"smtp://rep%40acme.example:s3cret-pass@127.0.0.1:{smtp.Port}",
        });
        var org = await TestData.CreateOrgAsync(app.Services, "Relay Co", UserRole.Owner);
        var rep = org[0];
        var contactId = await TestData.AsAsync(app.Services, rep, async db =>
        {
            var contact = new Contact { OrgId = rep.OrgId, UserId = rep.Id, FirstName = "Dana", LastName = "Buyer", Email = "dana@buyer.example" };
            db.Contacts.Add(contact);
            await db.SaveChangesAsync();
            return contact.Id;
        });

        await using var scope = app.Services.CreateAsyncScope();
        scope.ServiceProvider.GetRequiredService<TenantContext>().Enter(rep.OrgId, rep.Id);
        scope.ServiceProvider.GetRequiredService<CopilotSession>().Start(rep);
        var preview = await scope.ServiceProvider.GetRequiredService<CopilotTools>().CallAsync(CopilotTools.ExecuteAction, new KernelArguments
        {
            ["action"] = "send_email",
            ["params"] = new JsonObject { ["contact_id"] = contactId.ToString(), ["subject"] = "Our proposal", ["body"] = "Hi Dana,\n\nAttached as discussed." },
        }, default);
        Assert.Empty(smtp.Messages);

        var outcome = await scope.ServiceProvider.GetRequiredService<CopilotChat>().DecideAsync(rep, Guid.Parse((string)preview["pending_action_id"]!), true, default);

        Assert.True(outcome.Done, outcome.Text);
        var mail = Assert.Single(smtp.Messages);
        Assert.Equal(("rep@acme.example", "s3cret-pass", rep.Email), (mail.User, mail.Password, mail.From));
        Assert.Equal(["dana@buyer.example"], mail.To);
        Assert.Contains("Subject: Our proposal", mail.Data);
        Assert.Contains("Attached as discussed.", mail.Data);
        await using var db = app.Service<SystemDb>().Open("test");
        var stored = await db.OutboundEmails.AsNoTracking().SingleAsync();
        Assert.Equal(EmailDelivery.Smtp, stored.Delivery);

        var again = await scope.ServiceProvider.GetRequiredService<CopilotChat>().DecideAsync(rep, Guid.Parse((string)preview["pending_action_id"]!), true, default);
        Assert.False(again.Done);
        Assert.Single(smtp.Messages);
    }

    [Fact]
    public void The_persona_knows_the_company_the_rep_by_name_and_today_in_the_reps_own_time_zone()
    {
        var rep = new AppUser { OrgId = Guid.NewGuid(), Name = "Priya Sharma", Email = "priya@acme.example", TimeZone = "Asia/Kolkata", Role = UserRole.Member };
        var profile = new OrgProfile
        {
            CompanyName = "Acme Robotics", BrandVoice = "Plain-spoken.", PainPoints = ["Not enough pickers"],
            Competitors = [new CompetitorInfo { Name = "WidgetCo", Positioning = "Months to install." }],
        };
        // 20:00 UTC on 23 November is 01:30 on the 24th in Kolkata (+5:30).
        var persona = Persona.Compile(profile, rep, new DateTimeOffset(2026, 11, 23, 20, 0, 0, TimeSpan.Zero));

        Assert.Contains("Acme Robotics's AI sales teammate", persona);
        Assert.Contains("call them Priya", persona);
        Assert.Contains("Today is Tuesday 24 November 2026, 01:30", persona);
        Assert.Contains("WidgetCo: Months to install.", persona);
        Assert.Contains("Voice: Plain-spoken.", persona);
    }
}
