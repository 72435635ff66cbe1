using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Use60.Calendar;
using Use60.Crm;
using Use60.Data;
using Use60.Hosting;
using Use60.Orgs;
using Use60.Privacy;
using Use60.Slack;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>
/// Contact PII and integration secrets at rest: sealed under each org's data key, wrapped by the master key. Each test has its own
/// database (they change keys); apps on the same database stand for restarts and replicas with other configuration.
/// </summary>
public sealed class PiiEncryptionTests : IAsyncLifetime
{
    static readonly string OldKey = Convert.ToBase64String(Enumerable.Range(100, 32).Select(i => (byte)i).ToArray());
    static readonly string NewKey = Convert.ToBase64String(Enumerable.Range(150, 32).Select(i => (byte)i).ToArray());

    TestDatabase database = null!;
    readonly List<Use60App> apps = [];

    public async Task InitializeAsync() => database = await TestDatabase.CreateAsync();

    public async Task DisposeAsync()
    {
        foreach (var app in apps) await app.DisposeAsync();
        await database.DisposeAsync();
    }

    Use60App App(string? masterKey = null, string? previous = null)
    {
        var app = new Use60App(database, new Dictionary<string, string?>
        {
            ["Privacy:MasterKey"] = masterKey ?? OldKey, ["Privacy:PreviousMasterKey"] = previous,
        });
        apps.Add(app);
        return app;
    }

    sealed record Seeded(TestData.TestOrg Org, Guid ContactId, string Email, string Phone, string LinkedinUrl, string BotToken, string RefreshToken);

    /// <summary>An org with a contact (email, phone, LinkedIn URL), an installed Slack workspace and a rep's Google Calendar connection.</summary>
    static async Task<Seeded> SeedAsync(Use60App app, string name)
    {
        var org = await TestData.CreateOrgAsync(app.Services, name, UserRole.Owner);
        var slug = name.ToLowerInvariant();
        var (email, phone, linkedin) = ($"dana.{slug}@buyer-{slug}.example", $"+4420794600{name.Length:00}", $"https://linkedin.com/in/dana-{slug}-x7");
        var (botToken, refreshToken) = ($"xoxb-{slug}-1234567890-secret", $"1//refresh-{slug}-token-abcdef");
        var contactId = await TestData.AsAsync(app.Services, org[0], async db =>
        {
            var contact = new Contact { OrgId = org.Id, UserId = org[0].Id, FirstName = "Dana", LastName = name, Email = email, Phone = phone, LinkedinUrl = linkedin };
            db.Contacts.Add(contact);
            var secrets = app.Service<SecretBox>();
            db.CalendarConnections.Add(new CalendarConnection
            {
                OrgId = org.Id, UserId = org[0].Id,
                RefreshTokenEncrypted = await secrets.SealAsync(org.Id, GoogleCalendarAuth.TokenPurpose, org[0].Id.ToString(), refreshToken, default),
            });
            await db.SaveChangesAsync();
            return contact.Id;
        });
        await using (var system = app.Service<SystemDb>().Open("test: a Slack installation"))
        {
            system.SlackInstallations.Add(new SlackInstallation
            {
                OrgId = org.Id, TeamId = org.Org.SlackTeamId!, TeamName = name,
                BotTokenEncrypted = await app.Service<SecretBox>().SealAsync(org.Id, SlackWorkspaces.TokenPurpose, org.Org.SlackTeamId!, botToken, default),
            });
            await system.SaveChangesAsync();
        }
        return new Seeded(org, contactId, email, phone, linkedin, botToken, refreshToken);
    }

    static Task<Contact> ContactAsync(Use60App app, Seeded seeded) =>
        TestData.AsAsync(app.Services, seeded.Org[0], db => db.Contacts.AsNoTracking().SingleAsync(c => c.Id == seeded.ContactId));

    /// <summary>Every value of <paramref name="seeded"/>, read back through <paramref name="app"/>.</summary>
    static async Task AssertReadableAsync(Use60App app, Seeded seeded)
    {
        var contact = await ContactAsync(app, seeded);
        Assert.Equal((seeded.Email, seeded.Phone, seeded.LinkedinUrl), (contact.Email, contact.Phone, contact.LinkedinUrl));
        var secrets = app.Service<SecretBox>();
        await using var db = app.Service<SystemDb>().Open("test: secrets");
        var installation = await db.SlackInstallations.AsNoTracking().SingleAsync(i => i.OrgId == seeded.Org.Id);
        Assert.Equal(seeded.BotToken, await secrets.OpenAsync(seeded.Org.Id, SlackWorkspaces.TokenPurpose, installation.TeamId, installation.BotTokenEncrypted, default));
        var connection = await db.CalendarConnections.AsNoTracking().SingleAsync(c => c.OrgId == seeded.Org.Id);
        Assert.Equal(seeded.RefreshToken,
            await secrets.OpenAsync(seeded.Org.Id, GoogleCalendarAuth.TokenPurpose, connection.UserId.ToString(), connection.RefreshTokenEncrypted, default));
    }

    static async Task<string> RunAsync(Use60App app, string verb, params string[] args)
    {
        var (exitCode, output) = await RunCommandAsync(app, verb, CancellationToken.None, args);
        Assert.True(exitCode == Commands.Ok, output);
        return output;
    }

    static async Task<(int ExitCode, string Output)> RunCommandAsync(Use60App app, string verb, CancellationToken cancellationToken, params string[] args)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var command = scope.ServiceProvider.GetServices<ICommand>().Single(c => c.Name == verb);
        var output = new StringWriter();
        var exitCode = await command.RunAsync(new CommandContext(args, output, output, cancellationToken));
        return (exitCode, output.ToString());
    }

    [Fact]
    public async Task A_pg_dump_of_the_database_holds_no_seeded_email_phone_linkedin_url_bot_token_or_refresh_token()
    {
        var app = App();
        var seeded = await SeedAsync(app, "Dumped");
        await AssertReadableAsync(app, seeded);

        var pgDump = Path.Combine(Environment.GetEnvironmentVariable("PG_BIN") ?? "/usr/lib/postgresql/15/bin", "pg_dump");
        var connection = new Npgsql.NpgsqlConnectionStringBuilder(database.SuperuserConnectionString);
        var start = new ProcessStartInfo(pgDump)
        {
            ArgumentList = { "--no-password", "-h", connection.Host!, "-p", connection.Port.ToString(), "-U", connection.Username!, connection.Database! },
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        start.Environment["PGPASSWORD"] = connection.Password;
        using var process = Process.Start(start)!;
        var dumpTask = process.StandardOutput.ReadToEndAsync();
        var errors = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        var dump = await dumpTask;
        Assert.True(process.ExitCode == 0, errors);

        Assert.Contains("Dana", dump);              // the dump has the contact row…
        Assert.Contains("COPY public.org_keys", dump);
        foreach (var plaintext in new[] { seeded.Email, seeded.Phone, seeded.LinkedinUrl, seeded.BotToken, seeded.RefreshToken })
            Assert.DoesNotContain(plaintext, dump, StringComparison.OrdinalIgnoreCase); // …but none of these, in any case
        Assert.DoesNotContain("buyer-dumped", dump, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_ciphertext_copied_to_another_orgs_row_fails_to_decrypt_with_a_clear_error_that_holds_no_plaintext()
    {
        var app = App();
        var a = await SeedAsync(app, "Alpha");
        var b = await SeedAsync(app, "Bravo");
        await TestDatabase.ExecuteAsync(database.SuperuserConnectionString, $"""
            UPDATE contacts SET email_sealed = (SELECT email_sealed FROM contacts WHERE id = '{a.ContactId}') WHERE id = '{b.ContactId}';
            UPDATE slack_installations SET bot_token_encrypted = (SELECT bot_token_encrypted FROM slack_installations WHERE org_id = '{a.Org.Id}')
            WHERE org_id = '{b.Org.Id}';
            """);

        var read = await Assert.ThrowsAnyAsync<Exception>(() => ContactAsync(app, b));
        var error = FindCryptographic(read);
        Assert.Contains("contact.email", error.Message);
        Assert.Contains($"org {b.Org.Id}", error.Message);
        Assert.Contains("copied", error.Message);
        Assert.DoesNotContain(a.Email, error.ToString());

        await using var db = app.Service<SystemDb>().Open("test");
        var installation = await db.SlackInstallations.AsNoTracking().SingleAsync(i => i.OrgId == b.Org.Id);
        var secret = await Assert.ThrowsAnyAsync<CryptographicException>(() =>
            app.Service<SecretBox>().OpenAsync(b.Org.Id, SlackWorkspaces.TokenPurpose, installation.TeamId, installation.BotTokenEncrypted, default));
        Assert.Contains($"org {b.Org.Id}", secret.Message);
        Assert.DoesNotContain(a.BotToken, secret.ToString());

        // Within one org, a value is bound to its field and row too: an email pasted in as a phone number does not open either.
        await TestDatabase.ExecuteAsync(database.SuperuserConnectionString,
            $"UPDATE contacts SET phone_sealed = email_sealed WHERE id = '{a.ContactId}'");
        Assert.Contains("contact.phone", FindCryptographic(await Assert.ThrowsAnyAsync<Exception>(() => ContactAsync(app, a))).Message);
    }

    static CryptographicException FindCryptographic(Exception e)
    {
        for (var inner = e; inner is not null; inner = inner.InnerException)
            if (inner is CryptographicException found) return found;
        throw new Xunit.Sdk.XunitException($"No CryptographicException in {e}");
    }

    [Fact]
    public async Task A_contact_is_found_by_email_through_the_blind_index_and_a_meeting_brief_still_matches_an_attendee_to_them()
    {
        var app = App();
        var seeded = await SeedAsync(app, "Lookup");
        var rep = seeded.Org[0];
        var found = await TestData.AsAsync(app.Services, rep, async db =>
        {
            var keys = await app.Service<OrgKeyring>().ForAsync(rep.OrgId, default);
            var hash = keys.BlindIndex("  " + seeded.Email.ToUpperInvariant() + " ");
            return await db.Contacts.AsNoTracking().Where(c => c.EmailHash == hash).Select(c => c.Id).ToListAsync();
        });
        Assert.Equal([seeded.ContactId], found);
        var stored = await TestDatabase.ScalarAsync<string>(database.SuperuserConnectionString,
            $"SELECT indexdef FROM pg_indexes WHERE indexname = 'contacts_email_hash'");
        Assert.Contains("email_hash", stored);

        // A calendar invite spelling the address differently still finds the contact: the brief's statement matches by the same hash.
        var start = DateTimeOffset.UtcNow.AddHours(1);
        await TestData.AsAsync(app.Services, rep, async db =>
        {
            db.CalendarEvents.Add(new CalendarEvent
            {
                OrgId = rep.OrgId, UserId = rep.Id, ExternalId = "pii-brief", Title = "Pricing call", StartTime = start, EndTime = start.AddMinutes(30),
                Attendees = [new Attendee { Email = rep.Email!, Self = true }, new Attendee { Email = seeded.Email.ToUpperInvariant(), Name = "D." }],
            });
            await db.SaveChangesAsync();
        });
        var meeting = await TestData.AsAsync(app.Services, rep, async db =>
        {
            var queries = new CrmQueries(db);
            return Assert.Single(await queries.MeetingsAsync(rep.Id, start.AddMinutes(-1), start.AddMinutes(1), default));
        });
        var dana = Assert.Single(meeting.Attendees, p => !p.IsRep && p.ContactId is not null);
        Assert.Equal((seeded.ContactId, "Dana Lookup", seeded.Email), (dana.ContactId!.Value, dana.Name, dana.Email));
    }

    [Fact]
    public async Task Rotating_the_master_key_rewraps_every_org_key_without_touching_rows_and_leaves_every_value_readable_with_only_the_new_key()
    {
        var before = App(OldKey);
        var seeded = new[] { await SeedAsync(before, "Rotor"), await SeedAsync(before, "Stator") };
        var rowsBefore = await TestDatabase.ScalarAsync<string>(database.SuperuserConnectionString,
            "SELECT string_agg(encode(email_sealed, 'hex') || encode(phone_sealed, 'hex'), ',' ORDER BY id) FROM contacts");
        Assert.NotNull(rowsBefore);
        await before.DisposeAsync();
        apps.Remove(before);

        // Without a previous key there is nothing to rotate from: the command says how to rotate, and changes nothing.
        var (refused, howTo) = await RunCommandAsync(App(OldKey), "rotate-master-key", default);
        Assert.Equal(Commands.Failed, refused);
        Assert.Contains("USE60_PREVIOUS_MASTER_KEY", howTo);

        // Mid-rotation (both keys configured) everything stays readable; the command rewraps, and a second run finds nothing left.
        var rotating = App(NewKey, previous: OldKey);
        foreach (var org in seeded) await AssertReadableAsync(rotating, org);
        var output = await RunAsync(rotating, "rotate-master-key");
        Assert.Contains("org keys: 4/4 rewrapped", output);
        Assert.Contains("remove USE60_PREVIOUS_MASTER_KEY", output);
        Assert.Contains("Rewrapping 0 org key(s)", await RunAsync(rotating, "rotate-master-key"));

        var newId = rotating.Service<MasterKeys>().Current.Id;
        Assert.Equal(0L, await TestDatabase.ScalarAsync<long>(database.SuperuserConnectionString,
            $"SELECT count(*) FROM org_keys WHERE master_key_id <> '{newId}'"));
        Assert.Equal(rowsBefore, await TestDatabase.ScalarAsync<string>(database.SuperuserConnectionString,
            "SELECT string_agg(encode(email_sealed, 'hex') || encode(phone_sealed, 'hex'), ',' ORDER BY id) FROM contacts"));

        var after = App(NewKey);
        foreach (var org in seeded) await AssertReadableAsync(after, org);

        // The old key alone no longer opens anything, and says why.
        var stale = App(OldKey);
        var error = FindCryptographic(await Assert.ThrowsAnyAsync<Exception>(() => ContactAsync(stale, seeded[0])));
        Assert.Contains(newId, error.Message);
    }

    [Fact]
    public async Task Reencrypt_moves_an_orgs_rows_to_a_fresh_data_key_in_batches_resumes_after_an_interruption_and_prints_progress()
    {
        var app = App();
        var seeded = await SeedAsync(app, "Mover");
        var other = await SeedAsync(app, "Bystander");
        var rep = seeded.Org[0];
        await TestData.AsAsync(app.Services, rep, async db =>
        {
            for (var i = 0; i < 6; i++)
                db.Contacts.Add(new Contact { OrgId = rep.OrgId, UserId = rep.Id, FirstName = $"Extra{i}", Email = $"extra{i}@mover.example", Phone = $"+1415555010{i}" });
            await db.SaveChangesAsync();
        });
        var otherRowsBefore = await TestDatabase.ScalarAsync<string>(database.SuperuserConnectionString,
            $"SELECT encode(email_sealed, 'hex') FROM contacts WHERE org_id = '{other.Org.Id}'");

        // Interrupted after its first batch of 3 (as by Ctrl-C or a crash): those rows are under key 2, the rest still under key 1.
        using var stop = new CancellationTokenSource();
        var progress = new StopAfterFirstBatch(stop);
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var command = scope.ServiceProvider.GetServices<ICommand>().Single(c => c.Name == "reencrypt");
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
                command.RunAsync(new CommandContext(["--org", rep.OrgId.ToString(), "--batch-size", "3", "--no-wait"], progress, progress, stop.Token)));
        }
        Assert.Contains("Made data key 2", progress.Text);
        Assert.Contains("contacts: 7 to move to data key 2, 3 per batch", progress.Text);
        Assert.Contains("contacts: 3/7 on data key 2", progress.Text);
        Assert.Equal("1:4,2:3", await KeysOfRowsAsync(rep.OrgId));
        await AssertReadableAsync(App(), seeded);   // a replica that just started reads rows under either key

        var resumed = await RunAsync(app, "reencrypt", "--org", rep.OrgId.ToString(), "--batch-size", "3", "--no-wait");
        Assert.Contains("Resuming: 4 contact(s)", resumed);
        Assert.DoesNotContain("Made data key", resumed);
        Assert.Contains("contacts: 3/4 on data key 2", resumed);
        Assert.Contains("contacts: 4/4 on data key 2", resumed);
        Assert.Contains("secrets: 2 resealed under data key 2", resumed);
        Assert.Equal("2:7", await KeysOfRowsAsync(rep.OrgId));
        Assert.Equal(2L, await TestDatabase.ScalarAsync<long>(database.SuperuserConnectionString,
            $"SELECT count(*) FROM org_keys WHERE org_id = '{rep.OrgId}' AND purpose = 'data'"));
        Assert.Equal(1L, await TestDatabase.ScalarAsync<long>(database.SuperuserConnectionString,
            $"SELECT count(*) FROM org_keys WHERE org_id = '{rep.OrgId}' AND retired_at IS NOT NULL"));
        await AssertReadableAsync(App(), seeded);
        await AssertReadableAsync(App(), other);
        Assert.Equal(otherRowsBefore, await TestDatabase.ScalarAsync<string>(database.SuperuserConnectionString,
            $"SELECT encode(email_sealed, 'hex') FROM contacts WHERE org_id = '{other.Org.Id}'"));

        // Run again with nothing left over: another fresh key, and everything moves to it.
        Assert.Contains("Made data key 3", await RunAsync(app, "reencrypt", "--org", rep.OrgId.ToString(), "--no-wait"));
        Assert.Equal("3:7", await KeysOfRowsAsync(rep.OrgId));
        Assert.Equal(Commands.BadUsage, (await RunCommandAsync(app, "reencrypt", default, "--org", "nope")).ExitCode);
    }

    [Fact]
    public async Task A_new_data_key_seals_only_once_every_replica_has_read_it_so_none_meets_a_value_under_a_key_it_lacks()
    {
        var app = App();
        var orgId = (await SeedAsync(app, "Racer")).Org.Id;
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        OrgKeyring Replica() => new(app.Service<Use60DataSources>(), app.Service<MasterKeys>(), clock);
        var (a, b, maintainer) = (Replica(), Replica(), Replica());
        const string field = "email", email = "dana@racer.example";

        var bKeys = await b.ForAsync(orgId, default);   // replica B has read key 1
        clock.Advance(TimeSpan.FromSeconds(10));
        var made = await maintainer.AddDataKeyAsync(orgId, default);   // reencrypt makes key 2
        Assert.Equal((2, 1), (made.NewestKeyId, made.CurrentKeyId));

        // Replica A reads the keys after that: it has key 2 but still seals with key 1, which B opens.
        clock.Advance(TimeSpan.FromSeconds(10));
        var aKeys = await a.ForAsync(orgId, default);
        Assert.Equal((2, 1), (aKeys.NewestKeyId, aKeys.CurrentKeyId));
        Assert.Equal(email, bKeys.Open(field, null, aKeys.Seal(field, null, email)));

        // Once key 2 is older than the freshness period it seals; by then B's snapshot is stale, so B reads the keys again before it reads a row.
        clock.Advance(OrgKeyring.Freshness);
        aKeys = await a.ForAsync(orgId, default);
        Assert.Equal(2, aKeys.CurrentKeyId);
        var underKey2 = aKeys.Seal(field, null, email);
        Assert.Throws<CryptographicException>(() => bKeys.Open(field, null, underKey2));   // what a snapshot without key 2 would meet
        Assert.Equal(email, (await b.GetAsync(orgId, create: false, default))!.Open(field, null, underKey2));

        // "No keys yet" is not remembered: another replica may make them at any moment.
        var keyless = await TestData.CreateOrgAsync(app.Services, "Keyless " + Guid.NewGuid().ToString("N")[..6], UserRole.Owner);
        Assert.Null(await b.GetAsync(keyless.Id, create: false, default));
        await a.ForAsync(keyless.Id, default);
        Assert.NotNull(await b.GetAsync(keyless.Id, create: false, default));
    }

    Task<string?> KeysOfRowsAsync(Guid orgId) => TestDatabase.ScalarAsync<string>(database.SuperuserConnectionString, $"""
        SELECT string_agg(k || ':' || n, ',' ORDER BY k) FROM (SELECT pii_key_id AS k, count(*) AS n FROM contacts WHERE org_id = '{orgId}' GROUP BY 1) x
        """);

    /// <summary>The command's output; cancels once the first batch's progress line is written.</summary>
    sealed class StopAfterFirstBatch(CancellationTokenSource stop) : StringWriter
    {
        public string Text => ToString();

        public override void WriteLine(string? value)
        {
            base.WriteLine(value);
            if (value?.Contains(" on data key ") == true) stop.Cancel();
        }
    }

    [Fact]
    public async Task Contacts_stored_in_plaintext_before_the_migration_are_sealed_at_start_and_their_plaintext_cleared()
    {
        var app = App();
        var seeded = await SeedAsync(app, "Legacy");
        var legacyId = Guid.NewGuid();
        await TestDatabase.ExecuteAsync(database.SuperuserConnectionString, $"""
            INSERT INTO contacts (id, org_id, user_id, first_name, last_name, unsealed_email, unsealed_phone, unsealed_linkedin_url)
            VALUES ('{legacyId}', '{seeded.Org.Id}', '{seeded.Org[0].Id}', 'Old', 'Row', 'old.row@legacy.example', '+15550199', 'https://linkedin.com/in/old-row');
            UPDATE calendar_events SET attendee_email_hashes = NULL;
            """);

        var report = await app.Service<PiiMaintenance>().SealPassAsync(default);   // what every start runs
        Assert.Equal(1, report.Contacts);
        Assert.Equal(0L, await TestDatabase.ScalarAsync<long>(database.SuperuserConnectionString,
            "SELECT count(*) FROM contacts WHERE unsealed_email IS NOT NULL OR unsealed_phone IS NOT NULL OR unsealed_linkedin_url IS NOT NULL"));
        var legacy = await TestData.AsAsync(app.Services, seeded.Org[0], db => db.Contacts.AsNoTracking().SingleAsync(c => c.Id == legacyId));
        Assert.Equal(("old.row@legacy.example", "+15550199", "https://linkedin.com/in/old-row"), (legacy.Email, legacy.Phone, legacy.LinkedinUrl));
        Assert.Equal(0, (await app.Service<PiiMaintenance>().SealPassAsync(default)).Contacts);
    }

    [Fact]
    public void Production_refuses_to_start_without_a_master_key_and_says_how_to_make_one()
    {
        static IEnumerable<string> Failures(string environment, string? key)
        {
            var services = new ServiceCollection();
            services.AddSingleton<Microsoft.Extensions.Hosting.IHostEnvironment>(new Microsoft.Extensions.Hosting.Internal.HostingEnvironment { EnvironmentName = environment });
            services.AddPrivacy(new ConfigurationBuilder()
                .AddInMemoryCollection(new Dictionary<string, string?> { ["Privacy:MasterKey"] = key }).Build());
            try
            {
                _ = services.BuildServiceProvider().GetRequiredService<IOptions<MasterKeyOptions>>().Value;
                return [];
            }
            catch (OptionsValidationException e)
            {
                return e.Failures;
            }
        }

        var failure = Assert.Single(Failures("Production", null));
        Assert.Contains("USE60_MASTER_KEY is not set", failure);
        Assert.Contains("openssl rand -base64 32", failure);
        Assert.Empty(Failures("Production", NewKey));
        Assert.Empty(Failures("Development", null));
    }
}
