using System.Net;
using System.Text;
using AngleSharp.Html.Dom;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Time.Testing;
using Use60.Admin;
using Use60.Data;
using Use60.Orgs;
using Use60.Orgs.Pages;
using Use60.Security;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

public sealed class SecondFactorFixture : IAsyncLifetime
{
    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 11, 23, 14, 0, 0, TimeSpan.Zero));
    public TestDatabase Database { get; private set; } = null!;
    public Use60App App { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Database = await TestDatabase.CreateAsync();
        App = new Use60App(Database, new Dictionary<string, string?>
        {
            ["Privacy:MasterKey"] = Convert.ToBase64String(Enumerable.Range(40, 32).Select(i => (byte)i).ToArray()),
        }, Clock);
    }

    public async Task DisposeAsync()
    {
        await App.DisposeAsync();
        await Database.DisposeAsync();
    }
}

/// <summary>TOTP for the admin site: RFC 6238's own test vectors, then enrolment, sign-in, replay, recovery codes, lock-out and the owner's rule.</summary>
public sealed class SecondFactorTests(SecondFactorFixture fixture) : IClassFixture<SecondFactorFixture>
{
    [Theory]
    [InlineData(59L, "94287082")]
    [InlineData(1111111109L, "07081804")]
    [InlineData(1111111111L, "14050471")]
    [InlineData(1234567890L, "89005924")]
    [InlineData(2000000000L, "69279037")]
    [InlineData(20000000000L, "65353130")]
    public void Codes_match_the_rfc_6238_test_vectors(long unixSeconds, string expected)
    {
        var secret = Encoding.ASCII.GetBytes("12345678901234567890");
        var step = Totp.StepAt(DateTimeOffset.FromUnixTimeSeconds(unixSeconds));
        Assert.Equal(expected, Totp.Code(secret, step, digits: 8));
        Assert.Equal(expected[2..], Totp.Code(secret, step));
    }

    [Fact]
    public void Base32_is_rfc_4648_without_padding() =>
        Assert.Equal(["", "MY", "MZXQ", "MZXW6", "MZXW6YQ", "MZXW6YTB", "MZXW6YTBOI"],
            new[] { "", "f", "fo", "foo", "foob", "fooba", "foobar" }.Select(s => Totp.Base32(Encoding.ASCII.GetBytes(s))));

    [Fact]
    public async Task Enrol_then_every_sign_in_needs_a_fresh_code_or_a_recovery_code_and_five_wrong_codes_end_the_session()
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Guarded " + Guid.NewGuid().ToString("N")[..6], UserRole.Owner);
        var owner = org[0];
        var browser = await AdminPages.SignedInAsync(fixture.App, owner);
        var setup = await AdminPages.HtmlAsync(await browser.GetAsync("/admin/2fa/setup"));
        Assert.NotNull(setup.QuerySelector("[data-field=qr] svg"));
        var secret = FromBase32(setup.QuerySelector("[data-field=secret]")!.TextContent);
        Assert.Equal(setup.QuerySelector("[data-field=secret]")!.TextContent,
            (await AdminPages.HtmlAsync(await browser.GetAsync("/admin/2fa/setup"))).QuerySelector("[data-field=secret]")!.TextContent); // the same until confirmed

        var wrong = await browser.PostAsync("/admin/2fa/setup", AdminPages.Filled(setup, "main form", ("code", "000000")));
        Assert.Equal(HttpStatusCode.BadRequest, wrong.StatusCode);
        var enrolled = await AdminPages.HtmlAsync(await browser.PostAsync("/admin/2fa/setup", AdminPages.Filled(setup, "main form", ("code", CodeNow(secret)))));
        var recovery = enrolled.QuerySelectorAll("[data-field=recovery-codes] li").Select(li => li.TextContent.Trim()).ToList();
        Assert.Equal(AdminSecondFactor.RecoveryCodes, recovery.Count);
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/admin")).StatusCode);   // this session passed with its first code
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
        {
            var sealedSecret = await db.Database.SqlQuery<byte[]>($"SELECT secret_encrypted AS \"Value\" FROM admin_totp WHERE user_id = {owner.Id}").SingleAsync();
            Assert.False(sealedSecret.AsSpan().IndexOf(secret) >= 0);
        }

        // A new sign-in is held at the code page until it gives a current code; the code already used does not work twice.
        var second = await AdminPages.SignedInAsync(fixture.App, owner);
        Assert.Equal("/admin/2fa", (await second.GetAsync("/admin")).Headers.Location?.OriginalString);
        Assert.Equal("/admin/2fa", (await second.GetAsync(SettingsModel.PagePath)).Headers.Location?.OriginalString);
        var codePage = await AdminPages.HtmlAsync(await second.GetAsync("/admin/2fa"));
        Assert.Equal(HttpStatusCode.BadRequest, (await second.PostAsync("/admin/2fa", AdminPages.Filled(codePage, "main form", ("code", CodeNow(secret))))).StatusCode);
        fixture.Clock.Advance(TimeSpan.FromSeconds(Totp.StepSeconds));
        var passed = await second.PostAsync("/admin/2fa", AdminPages.Filled(codePage, "main form", ("code", CodeNow(secret))));
        Assert.Equal("/admin", passed.Headers.Location?.OriginalString);
        Assert.Equal(HttpStatusCode.OK, (await second.GetAsync(SettingsModel.PagePath)).StatusCode);

        // A recovery code works once.
        var third = await AdminPages.SignedInAsync(fixture.App, owner);
        codePage = await AdminPages.HtmlAsync(await third.GetAsync("/admin/2fa"));
        Assert.Equal("/admin", (await third.PostAsync("/admin/2fa", AdminPages.Filled(codePage, "main form", ("code", recovery[0].ToUpperInvariant())))).Headers.Location?.OriginalString);
        var fourth = await AdminPages.SignedInAsync(fixture.App, owner);
        codePage = await AdminPages.HtmlAsync(await fourth.GetAsync("/admin/2fa"));
        Assert.Equal(HttpStatusCode.BadRequest, (await fourth.PostAsync("/admin/2fa", AdminPages.Filled(codePage, "main form", ("code", recovery[0])))).StatusCode);

        // Five wrong codes in all end the session.
        HttpResponseMessage last = null!;
        for (var i = 0; i < AdminSecondFactor.MaxWrongCodes - 1; i++)
            last = await fourth.PostAsync("/admin/2fa", AdminPages.Filled(codePage, "main form", ("code", "123456")));
        Assert.Equal("/admin/signin?ended=codes", last.Headers.Location?.OriginalString);
        Assert.Equal(HttpStatusCode.Redirect, (await fourth.GetAsync("/admin")).StatusCode);
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
        {
            Assert.Contains(await db.SecurityAuditLog.AsNoTracking().Where(a => a.UserId == owner.Id && a.EventType == AuditEvents.SecondFactorFailed).ToListAsync(),
                a => a.Severity == AuditSeverity.High);
            Assert.Equal(1, await db.SecurityAuditLog.CountAsync(a => a.UserId == owner.Id && a.EventType == AuditEvents.SecondFactorEnrolled));
            Assert.Equal(2, await db.SecurityAuditLog.CountAsync(a => a.UserId == owner.Id && a.EventType == AuditEvents.SecondFactorPassed));
        }
    }

    [Fact]
    public async Task An_owner_who_uses_a_second_factor_can_require_it_and_then_an_admin_must_enrol_before_anything_else()
    {
        var org = await TestData.CreateOrgAsync(fixture.App.Services, "Strict " + Guid.NewGuid().ToString("N")[..6], UserRole.Owner, UserRole.Admin);
        var (owner, admin) = (org[0], org[1]);
        var browser = await AdminPages.SignedInAsync(fixture.App, owner);
        var settings = await AdminPages.HtmlAsync(await browser.GetAsync(SettingsModel.PagePath));
        await browser.PostAsync(SettingsModel.PagePath + "?handler=SecondFactor", AdminPages.Filled(settings, "form[action*=SecondFactor]", ("require", "true")));
        Assert.Contains("Set up your own", (await AdminPages.HtmlAsync(await browser.GetAsync(SettingsModel.PagePath))).QuerySelector("[data-field=notice]")!.TextContent);

        var setup = await AdminPages.HtmlAsync(await browser.GetAsync("/admin/2fa/setup"));
        var secret = FromBase32(setup.QuerySelector("[data-field=secret]")!.TextContent);
        await browser.PostAsync("/admin/2fa/setup", AdminPages.Filled(setup, "main form", ("code", CodeNow(secret))));
        settings = await AdminPages.HtmlAsync(await browser.GetAsync(SettingsModel.PagePath));
        await browser.PostAsync(SettingsModel.PagePath + "?handler=SecondFactor", AdminPages.Filled(settings, "form[action*=SecondFactor]", ("require", "true")));
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
            Assert.True(await db.OrgSettings.Where(s => s.OrgId == org.Id).Select(s => s.RequireAdminSecondFactor).SingleAsync());

        var asAdmin = await AdminPages.SignedInAsync(fixture.App, admin);
        Assert.Equal("/admin/2fa/setup", (await asAdmin.GetAsync(TeamModel.PagePath)).Headers.Location?.OriginalString);
        var adminSetup = await AdminPages.HtmlAsync(await asAdmin.GetAsync("/admin/2fa/setup"));
        Assert.NotNull(adminSetup.QuerySelector("[data-field=required]"));
        var adminSecret = FromBase32(adminSetup.QuerySelector("[data-field=secret]")!.TextContent);
        await asAdmin.PostAsync("/admin/2fa/setup", AdminPages.Filled(adminSetup, "main form", ("code", CodeNow(adminSecret))));
        Assert.Equal(HttpStatusCode.OK, (await asAdmin.GetAsync(TeamModel.PagePath)).StatusCode);
    }

    string CodeNow(byte[] secret) => Totp.Code(secret, Totp.StepAt(fixture.Clock.GetUtcNow()));


    /// <summary>The key as a person would type it into an authenticator app.</summary>
    static byte[] FromBase32(string text)
    {
        const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        var bytes = new List<byte>();
        int buffer = 0, bits = 0;
        foreach (var c in text.Trim())
        {
            buffer = (buffer << 5) | Alphabet.IndexOf(c);
            bits += 5;
            if (bits >= 8)
            {
                bytes.Add((byte)(buffer >> (bits - 8)));
                bits -= 8;
            }
        }
        return [.. bytes];
    }
}
