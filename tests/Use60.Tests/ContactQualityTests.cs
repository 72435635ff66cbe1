using System.Net;
using Microsoft.EntityFrameworkCore;
using Use60.Crm;
using Use60.Data;
using Use60.Security;
using Use60.Demo;
using Use60.Orgs;
using Use60.Privacy;
using Use60.Privacy.Pages;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>The normalisers and validators of contact fields, and the data-quality score, without a database.</summary>
public sealed class ContactFieldTests
{
    [Fact]
    public void The_seeds_two_LinkedIn_spellings_become_one_url()
    {
        Assert.Equal("https://linkedin.com/in/john-smith", ContactFields.LinkedIn("https://www.LinkedIn.com/in/john-smith/?utm_source=share").Value);
        Assert.Equal("https://linkedin.com/in/john-smith", ContactFields.LinkedIn("HTTPS://linkedin.com/in/john-smith/").Value);
    }

    [Theory]
    [InlineData("linkedin.com/in/john-smith", "https://linkedin.com/in/john-smith")]
    [InlineData("http://uk.linkedin.com/in/John-Smith-4a5b6c", "https://linkedin.com/in/john-smith-4a5b6c")]
    [InlineData("https://m.linkedin.com/in/john_smith#about", "https://linkedin.com/in/john_smith")]
    [InlineData("  https://www.linkedin.com/in/john-smith/details/experience/  ", "https://linkedin.com/in/john-smith")]
    [InlineData("https://www.linkedin.com/in/j%C3%BCrgen-m%C3%BCller/", "https://linkedin.com/in/j%C3%BCrgen-m%C3%BCller")]
    [InlineData("", null)]
    [InlineData(null, null)]
    public void LinkedIn_profile_urls_are_normalised(string? given, string? stored)
    {
        var result = ContactFields.LinkedIn(given);
        Assert.True(result.IsValid, result.Problem);
        Assert.Equal(stored, result.Value);
    }

    [Theory]
    [InlineData("https://www.linkedin.com/company/acme-robotics/", "company or school page, not a person's profile")]
    [InlineData("https://www.linkedin.com/feed/update/urn:li:activity:7000000000000000000/", "not a person's profile")]
    [InlineData("https://linkedin.com/in/", "not a person's profile")]
    [InlineData("https://linkedin.com/", "not a person's profile")]
    [InlineData("https://twitter.com/in/john-smith", "on linkedin.com")]
    [InlineData("https://linkedin.com.evil.example/in/john-smith", "on linkedin.com")]
    [InlineData("ftp://linkedin.com/in/john-smith", "not a web address")]
    [InlineData("john smith on linkedin", "not a web address")]
    [InlineData("https://linkedin.com/in/jo", "3 to 100 letters")]
    public void A_url_that_is_not_a_LinkedIn_profile_is_rejected_with_a_clear_message(string given, string message)
    {
        var result = ContactFields.LinkedIn(given);
        Assert.False(result.IsValid);
        Assert.Null(result.Value);
        Assert.Contains(message, result.Problem);
        Assert.Contains("https://linkedin.com/in/john-smith", result.Problem);
    }

    [Theory]
    [InlineData("sarah.chen@northwind.example", "sarah.chen@northwind.example")]
    [InlineData("  Sarah.Chen@NorthWind.Example ", "sarah.chen@northwind.example")]
    [InlineData("mailto:o'neil+crm@mail.acme-robotics.co.uk", "o'neil+crm@mail.acme-robotics.co.uk")]
    [InlineData("a@b.xn--p1ai", "a@b.xn--p1ai")]
    public void Emails_are_trimmed_and_lower_cased(string given, string stored) => Assert.Equal(stored, ContactFields.Email(given).Value);

    [Theory]
    [InlineData("jsmith.acme.com", "needs one @")]
    [InlineData("sarah@@acme.com", "needs one @")]
    [InlineData("@acme.com", "needs one @")]
    [InlineData("sarah@", "needs one @")]
    [InlineData("sarah chen@acme.com", "before the @")]
    [InlineData(".sarah@acme.com", "before the @")]
    [InlineData("sarah..chen@acme.com", "before the @")]
    [InlineData("sarah@acme", "domain")]
    [InlineData("sarah@acme.c", "domain")]
    [InlineData("sarah@-acme.com", "domain")]
    [InlineData("sarah@acme..com", "domain")]
    [InlineData("Sarah Chen <sarah@acme.com>", "before the @")]
    public void A_malformed_email_is_rejected_with_a_message_that_does_not_repeat_it(string given, string message)
    {
        var result = ContactFields.Email(given);
        Assert.False(result.IsValid);
        Assert.Contains(message, result.Problem);
        Assert.DoesNotContain(given.Trim(), result.Problem);
    }

    [Theory]
    [InlineData("+1 (415) 555-0100", null, "+14155550100")]
    [InlineData("+44 (0)20 7946 0958", null, "+442079460958")]
    [InlineData("0044 20 7946 0958", null, "+442079460958")]
    [InlineData("tel:+49.30.123456", null, "+4930123456")]
    [InlineData("020 7946 0958", "44", "+442079460958")]
    [InlineData("(415) 555-0100", "+1", "+14155550100")]
    [InlineData("(415) 555-0100", null, "4155550100")]
    [InlineData("  ", null, null)]
    public void Phone_numbers_become_digits_with_a_plus_when_the_country_is_known(string given, string? country, string? stored)
    {
        var result = ContactFields.Phone(given, country);
        Assert.True(result.IsValid, result.Problem);
        Assert.Equal(stored, result.Value);
    }

    [Theory]
    [InlineData("+1 415 555 0100 ext. 12", "only digits")]
    [InlineData("call me", "only digits")]
    [InlineData("+1 555 0100", "10 digits after the 1")]
    [InlineData("+0 20 7946 0958", "never starts with 0")]
    [InlineData("+44 20 7946 0958 1234 5678", "7 to 15 digits")]
    [InlineData("12345", "7 to 15 digits")]
    public void A_malformed_phone_number_is_rejected_with_a_clear_message(string given, string message)
    {
        var result = ContactFields.Phone(given);
        Assert.False(result.IsValid);
        Assert.Contains(message, result.Problem);
    }

    [Fact]
    public void The_score_adds_the_points_of_each_field_present_and_valid()
    {
        var company = Guid.NewGuid();
        Assert.Equal(100, ContactQuality.Weights.Sum(w => w.Points));
        Assert.Equal(100, ContactQuality.Assess("Sarah", "Chen", "VP", company, "s@a.com", "+14155550100", "https://linkedin.com/in/sarah-chen").Score);
        var bare = ContactQuality.Assess("Sarah", "", null, null, null, null, null);
        Assert.Equal(0, bare.Score);
        Assert.Equal("email missing, phone missing, LinkedIn missing, full name missing, job title missing, company missing", bare.Describe());
        // A value stored before validation existed costs its points, and is called invalid rather than missing.
        var legacy = ContactQuality.Assess("Sarah", "Chen", "VP", company, "sarah at acme", "+14155550100", "https://linkedin.com/company/acme");
        Assert.Equal(50, legacy.Score);
        Assert.Equal("email invalid, LinkedIn invalid", legacy.Describe());
    }
}

public sealed class ContactQualityFixture : IAsyncLifetime
{
    public TestDatabase Database { get; private set; } = null!;
    public Use60App App { get; private set; } = null!;
    public DemoSeedReport Demo { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Database = await TestDatabase.CreateAsync();
        App = new Use60App(Database);
        Demo = await App.Service<DemoSeeder>().SeedAsync(CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await App.DisposeAsync();
        await Database.DisposeAsync();
    }
}

/// <summary>Validation on every EF write of a contact, the score it stores, the SQL that scores older rows, and the admin page.</summary>
public sealed class ContactQualityTests(ContactQualityFixture fixture) : IClassFixture<ContactQualityFixture>
{
    Task<TestData.TestOrg> NewOrgAsync(string name) =>
        TestData.CreateOrgAsync(fixture.App.Services, $"{name} {Guid.NewGuid().ToString("N")[..6]}", UserRole.Owner, UserRole.Admin, UserRole.Viewer);

    [Fact]
    public async Task A_contact_is_stored_normalised_with_its_score_and_a_bad_value_is_refused_with_nothing_stored()
    {
        var org = await NewOrgAsync("Writes");
        var owner = org[0];
        var id = await TestData.AsAsync(fixture.App.Services, owner, async db =>
        {
            var contact = new Contact
            {
                OrgId = owner.OrgId, UserId = owner.Id, FirstName = "John", LastName = "Smith", Email = " John.Smith@Example.COM ",
                Phone = "+1 (415) 555-0100", LinkedinUrl = "https://www.LinkedIn.com/in/john-smith/?utm_source=share",
            };
            db.Contacts.Add(contact);
            await db.SaveChangesAsync();
            return contact.Id;
        });
        var stored = await ContactAsync(owner, id);
        Assert.Equal(("john.smith@example.com", "+14155550100", "https://linkedin.com/in/john-smith"), (stored.Email, stored.Phone, stored.LinkedinUrl));
        Assert.Equal(80, stored.DataQualityScore); // no title (10), no company (10)

        // A change that makes a field invalid is refused, naming the field; the row keeps what it had.
        var refused = await Assert.ThrowsAsync<ContactFieldException>(() => TestData.AsAsync(fixture.App.Services, owner, async db =>
        {
            var contact = await db.Contacts.SingleAsync(c => c.Id == id);
            (contact.Title, contact.LinkedinUrl) = ("CTO", "https://www.linkedin.com/company/example/");
            await db.SaveChangesAsync();
        }));
        Assert.Equal(ContactFields.LinkedInField, refused.Field);
        Assert.Contains("not a person's profile", refused.Message);
        Assert.Equal(("https://linkedin.com/in/john-smith", (string?)null), ((await ContactAsync(owner, id)).LinkedinUrl, (await ContactAsync(owner, id)).Title));

        await Assert.ThrowsAsync<ContactFieldException>(() => TestData.AsAsync(fixture.App.Services, owner, async db =>
        {
            db.Contacts.Add(new Contact { OrgId = owner.OrgId, UserId = owner.Id, FirstName = "Bad", Email = "bad at example" });
            await db.SaveChangesAsync();
        }));
        await TestData.AsAsync(fixture.App.Services, owner, async db => Assert.False(await db.Contacts.AnyAsync(c => c.FirstName == "Bad")));

        // Filling the gaps raises the score.
        await TestData.AsAsync(fixture.App.Services, owner, async db =>
        {
            var contact = await db.Contacts.SingleAsync(c => c.Id == id);
            contact.Title = "CTO";
            await db.SaveChangesAsync();
        });
        Assert.Equal(90, (await ContactAsync(owner, id)).DataQualityScore);
    }

    [Fact]
    public async Task A_row_stored_before_validation_is_scored_by_the_migration_and_can_still_be_edited()
    {
        var org = await NewOrgAsync("Legacy");
        var owner = org[0];
        var id = Guid.NewGuid();
        await using (var db = fixture.App.Service<SystemDb>().Open("test: a contact from before validation"))
        {
            await db.Database.ExecuteSqlAsync($"""
                INSERT INTO contacts (id, org_id, user_id, first_name, last_name, title, unsealed_email, unsealed_phone, unsealed_linkedin_url)
                VALUES ({id}, {owner.OrgId}, {owner.Id}, 'Old', 'Row', 'Buyer', 'old row at example', '555 0100', 'HTTPS://linkedin.com/in/old-row/')
                """);
            // What migration 0022 ran over the rows from before encryption (0021 moved their plaintext to unsealed_*).
            await db.Database.ExecuteSqlAsync($"""
                UPDATE contacts SET data_quality_score = contact_data_quality_score(first_name, last_name, title, company_id, unsealed_email, unsealed_phone,
                                                                                    unsealed_linkedin_url)
                WHERE id = {id}
                """);
        }
        // What the app does at start: such rows are sealed, their plaintext cleared.
        await fixture.App.Service<PiiMaintenance>().SealPassAsync(default);
        var before = await ContactAsync(owner, id);
        Assert.Equal(ContactQuality.Assess(before.FirstName, before.LastName, before.Title, before.CompanyId, before.Email, before.Phone, before.LinkedinUrl).Score,
            before.DataQualityScore);
        Assert.Equal(60, before.DataQualityScore); // phone 20 (7 digits, no country) + LinkedIn 20 + name 10 + title 10; the email is invalid
        // Changing something else does not trip over the old email; the LinkedIn URL is not rewritten until it is itself changed.
        await TestData.AsAsync(fixture.App.Services, owner, async db =>
        {
            var contact = await db.Contacts.SingleAsync(c => c.Id == id);
            contact.Title = "Head of Buying";
            await db.SaveChangesAsync();
        });
        var after = await ContactAsync(owner, id);
        Assert.Equal(("old row at example", "HTTPS://linkedin.com/in/old-row/", "Head of Buying", 60),
            (after.Email, after.LinkedinUrl, after.Title, after.DataQualityScore));
    }

    [Fact]
    public async Task The_migrations_sql_scores_values_as_the_app_does()
    {
        string?[] emails = ["sarah.chen@northwind.example", " Sarah.Chen@NorthWind.Example ", "mailto:o'neil+crm@mail.acme.co.uk", "sarah.chen", "sarah@@acme.com",
            "sarah chen@acme.com", ".sarah@acme.com", "sarah..chen@acme.com", "sarah@acme", "sarah@acme.c", "sarah@-acme.com", "a@b.xn--p1ai", null, ""];
        string?[] phones = ["+1 (415) 555-0100", "+44 (0)20 7946 0958", "0044 20 7946 0958", "tel:+49.30.123456", "(415) 555-0100", "+1 415 555 0100 ext. 12",
            "call me", "+1 555 0100", "+0 20 7946 0958", "+44 20 7946 0958 1234 5678", "12345", "555 0100", null];
        string?[] urls = ["https://www.LinkedIn.com/in/john-smith/?utm_source=share", "HTTPS://linkedin.com/in/john-smith/", "linkedin.com/in/john-smith",
            "http://uk.linkedin.com/in/John-Smith-4a5b6c", "https://m.linkedin.com/in/john_smith#about", "https://www.linkedin.com/in/j%C3%BCrgen-m%C3%BCller/",
            "https://www.linkedin.com/company/acme-robotics/", "https://linkedin.com/in/", "https://twitter.com/in/john-smith",
            "https://linkedin.com.evil.example/in/john-smith", "ftp://linkedin.com/in/john-smith", "john smith on linkedin", "https://linkedin.com/in/jo", null];
        await using var db = fixture.App.Service<SystemDb>().Open("test: the migration's scoring functions");
        foreach (var email in emails)
            Assert.True(ContactQuality.Assess("A", "B", null, null, email, null, null).Score
                        == await ScoreAsync(db, email, null, null), $"email {email ?? "null"}");
        foreach (var phone in phones)
            Assert.True(ContactQuality.Assess("A", "B", null, null, null, phone, null).Score
                        == await ScoreAsync(db, null, phone, null), $"phone {phone ?? "null"}");
        foreach (var url in urls)
            Assert.True(ContactQuality.Assess("A", "B", null, null, null, null, url).Score
                        == await ScoreAsync(db, null, null, url), $"LinkedIn {url ?? "null"}");
    }

    [Fact]
    public async Task The_demo_contacts_are_valid_and_the_page_shows_the_demo_orgs_average()
    {
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        var contacts = await db.Contacts.AsNoTracking().Where(c => c.OrgId == fixture.Demo.OrgId).ToListAsync();
        Assert.Equal(DemoData.Contacts.Length, contacts.Count);
        foreach (var c in contacts)
        {
            var assessment = ContactQuality.Assess(c.FirstName, c.LastName, c.Title, c.CompanyId, c.Email, c.Phone, c.LinkedinUrl);
            Assert.DoesNotContain(assessment.Gaps, g => g.Gap == ContactQuality.Gap.Invalid);
            Assert.Equal(assessment.Score, c.DataQualityScore);
        }
        var average = contacts.Average(c => c.DataQualityScore);
        Assert.InRange(average, 60, 99.9); // some demo contacts lack a phone or a LinkedIn profile, as real ones do

        var owner = await db.Users.AsNoTracking().SingleAsync(u => u.OrgId == fixture.Demo.OrgId && u.Role == UserRole.Owner);
        var browser = await AdminPages.SignedInAsync(fixture.App, owner);
        var page = await AdminPages.PageAsync(browser, DataQualityModel.PagePath);
        Assert.Equal(ContactQuality.Format(average), page.QuerySelector("[data-field=average]")!.TextContent.Trim());
        Assert.Equal($"over {contacts.Count} contacts", page.QuerySelector("[data-field=contacts]")!.TextContent.Trim());
        Assert.Equal(contacts.Count, page.QuerySelectorAll("table.quality-distribution [data-field=count]").Sum(c => int.Parse(c.TextContent)));
        Assert.Contains(page.QuerySelectorAll("nav[aria-label='Admin sections'] a"), a => a.GetAttribute("href") == DataQualityModel.PagePath);

        // The lowest first, each with what it lacks, by first name and initial: no address, number or URL on the page.
        var lowest = page.QuerySelectorAll("table.quality-lowest tbody tr");
        Assert.Equal(contacts.Count(c => c.DataQualityScore < 100), lowest.Length);
        var worst = contacts.OrderBy(c => c.DataQualityScore).ThenBy(c => c.FirstName).ThenBy(c => c.LastName).ThenBy(c => c.Id).First();
        Assert.Equal(DataQualityModel.ShortName(worst.FirstName, worst.LastName), lowest[0].QuerySelector("[data-field=name]")!.TextContent);
        Assert.Contains("missing", lowest[0].QuerySelector("[data-field=gaps]")!.TextContent);
        var html = page.DocumentElement.OuterHtml;
        Assert.All(contacts, c => Assert.DoesNotContain(c.Email!, html));
        Assert.All(contacts.Where(c => c.Phone is not null), c => Assert.DoesNotContain(c.Phone!, html));
        Assert.All(contacts.Where(c => c.LinkedinUrl is not null), c => Assert.DoesNotContain(c.LinkedinUrl!, html));
    }

    [Fact]
    public async Task The_page_lists_an_invalid_stored_value_and_viewers_are_refused()
    {
        var org = await NewOrgAsync("Page");
        var (owner, admin, viewer) = (org[0], org[1], org[2]);
        await TestData.AsAsync(fixture.App.Services, owner, async db =>
        {
            db.Contacts.Add(new Contact { OrgId = owner.OrgId, UserId = owner.Id, FirstName = "Full", LastName = "Marks", Title = "CEO",
                Email = "full@marks.example", Phone = "+442079460958", LinkedinUrl = "linkedin.com/in/full-marks" });
            db.Contacts.Add(new Contact { OrgId = owner.OrgId, UserId = owner.Id, FirstName = "Half", LastName = "Done", Email = "half@done.example" });
            await db.SaveChangesAsync();
        });
        await using (var db = fixture.App.Service<SystemDb>().Open("test: a contact from before validation"))
            await db.Database.ExecuteSqlAsync($"""
                INSERT INTO contacts (org_id, user_id, first_name, last_name, unsealed_email, data_quality_score)
                VALUES ({owner.OrgId}, {owner.Id}, 'Legacy', 'Person', 'not an email', 10)
                """);
        await fixture.App.Service<PiiMaintenance>().SealPassAsync(default);   // what the app does at start to rows from before encryption

        var page = await AdminPages.PageAsync(await AdminPages.SignedInAsync(fixture.App, admin), DataQualityModel.PagePath);
        // 90 (no company) + 40 (email, name) + 10 (name) over 3.
        Assert.Equal("47/100", page.QuerySelector("[data-field=average]")!.TextContent.Trim());
        Assert.Equal("0", page.QuerySelector("[data-field=complete]")!.TextContent.Trim());
        var rows = page.QuerySelectorAll("table.quality-lowest tbody tr");
        Assert.Equal(["Legacy P.", "Half D.", "Full M."], rows.Select(r => r.QuerySelector("[data-field=name]")!.TextContent));
        Assert.Equal("email invalid, phone missing, LinkedIn missing, job title missing, company missing", rows[0].QuerySelector("[data-field=gaps]")!.TextContent);
        Assert.Equal("company missing", rows[2].QuerySelector("[data-field=gaps]")!.TextContent);
        Assert.Equal(org[0].Name, rows[0].QuerySelector("[data-field=owner]")!.TextContent);
        Assert.DoesNotContain("not an email", page.DocumentElement.OuterHtml);
        // Opening the contacts' PII to say what is wrong with it is a read the audit log (and the security monitor) sees.
        await using (var db = fixture.App.Service<SystemDb>().Open("test"))
        {
            var read = await db.SecurityAuditLog.AsNoTracking().Where(a => a.OrgId == org.Id && a.EventType == AuditEvents.ContactsRead).SingleAsync();
            Assert.Equal((admin.Id, """{"via":"admin:data-quality","contacts":3}"""), (read.UserId, read.Details.Replace(" ", "")));
        }

        var asViewer = await AdminPages.SignedInAsync(fixture.App, viewer);
        Assert.Equal("/admin/forbidden", (await asViewer.GetAsync(DataQualityModel.PagePath)).Headers.Location?.AbsolutePath);
        Assert.Equal(HttpStatusCode.OK, (await (await AdminPages.SignedInAsync(fixture.App, owner)).GetAsync(DataQualityModel.PagePath)).StatusCode);
    }

    async Task<Contact> ContactAsync(AppUser user, Guid id) =>
        await TestData.AsAsync(fixture.App.Services, user, db => db.Contacts.AsNoTracking().SingleAsync(c => c.Id == id));

    static async Task<int> ScoreAsync(Use60Db db, string? email, string? phone, string? url) =>
        (await db.Database.SqlQuery<int>($"""
            SELECT contact_data_quality_score('A', 'B', NULL, NULL, {email}::text, {phone}::text, {url}::text) AS "Value"
            """).ToListAsync()).Single();
}
