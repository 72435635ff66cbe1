using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Use60.Data;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

[Collection(SchedulerCollection.Name)]
public sealed class MigrationAndHealthTests
{
    static readonly long AdvisoryLockKey = 0x75_73_65_36_30_6d_69_67;

    static Task<long> AppliedAsync(TestDatabase database) =>
        TestDatabase.ScalarAsync<long>(database.SuperuserConnectionString, "SELECT count(*) FROM schema_migrations");

    [Fact]
    public async Task Migrating_an_empty_database_applies_every_migration_once_and_again_changes_nothing()
    {
        await using var database = await TestDatabase.CreateAsync(migrate: false);
        var first = await database.MigrateAsync();
        Assert.Equal(Migrator.All.Count, first.Applied.Count);
        var second = await database.MigrateAsync();
        Assert.Empty(second.Applied);
        Assert.Equal(Migrator.All.Count, second.AlreadyApplied);
        Assert.Equal(Migrator.All.Count, await AppliedAsync(database));
        // The tables are the owner's, not the app's.
        Assert.Equal("use60_owner", await TestDatabase.ScalarAsync<string>(database.SuperuserConnectionString,
            "SELECT tableowner::text FROM pg_tables WHERE tablename = 'deals'"));
    }

    [Fact]
    public async Task Two_migrators_starting_together_on_an_empty_database_apply_each_migration_exactly_once()
    {
        await using var database = await TestDatabase.CreateAsync(migrate: false);
        // Hold the migrations' lock so that both migrators are certainly waiting at the same moment.
        await using var holder = new NpgsqlConnection(database.SuperuserConnectionString);
        await holder.OpenAsync();
        await using (var take = new NpgsqlCommand($"SELECT pg_advisory_lock({AdvisoryLockKey})", holder)) await take.ExecuteNonQueryAsync();

        var replicas = new[] { database.MigrateAsync(), database.MigrateAsync() };
        await WaitUntilAsync(async () => await TestDatabase.ScalarAsync<long>(database.SuperuserConnectionString,
            $"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = '{database.Name}')") == 2);
        await using (var release = new NpgsqlCommand($"SELECT pg_advisory_unlock({AdvisoryLockKey})", holder)) await release.ExecuteNonQueryAsync();

        var reports = await Task.WhenAll(replicas);
        Assert.Equal([0, Migrator.All.Count], reports.Select(r => r.Applied.Count).Order());
        Assert.Equal(Migrator.All.Count, await AppliedAsync(database));
    }

    [Fact]
    public async Task Two_app_processes_running_migrate_at_once_both_succeed_and_migrate_once()
    {
        await using var database = await TestDatabase.CreateAsync(migrate: false);
        var environment = AppProcess.EnvironmentFor(database);
        var results = await Task.WhenAll(AppProcess.RunAsync(environment, "migrate"), AppProcess.RunAsync(environment, "migrate"));
        Assert.All(results, r => Assert.True(r.ExitCode == 0, r.Output));
        var all = string.Join(", ", Migrator.All.Select(m => $"{m.Version:0000}_{m.Name}"));
        Assert.Single(results, r => r.Output.Contains($"Applied {Migrator.All.Count} migration(s): {all}."));
        Assert.Single(results, r => r.Output.Contains("Database is up to date"));
        Assert.Equal(Migrator.All.Count, await AppliedAsync(database));
    }

    [Fact]
    public async Task An_applied_migration_edited_afterwards_stops_the_migrator_with_an_explanation()
    {
        await using var database = await TestDatabase.CreateAsync();
        await TestDatabase.ExecuteAsync(database.OwnerConnectionString, "UPDATE schema_migrations SET checksum = 'deadbeefdeadbeef' WHERE version = 1");
        var error = await Assert.ThrowsAsync<StartupException>(() => database.MigrateAsync());
        Assert.Contains("0001 initial was changed after it was applied", error.Message);
        Assert.Contains("new numbered migration", error.Message);
    }

    [Fact]
    public async Task The_entity_model_maps_only_columns_that_exist_and_every_required_column_without_a_default()
    {
        await using var database = await TestDatabase.CreateAsync();
        await using var app = new Use60App(database);
        await using var scope = app.Services.CreateAsyncScope();
        var model = scope.ServiceProvider.GetRequiredService<Use60Db>().Model;

        var columns = new Dictionary<string, List<(string Name, bool Nullable, bool HasDefault)>>();
        await using (var connection = new NpgsqlConnection(database.OwnerConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("""
                SELECT table_name, column_name, is_nullable = 'YES', column_default IS NOT NULL OR is_generated = 'ALWAYS' OR is_identity = 'YES'
                FROM information_schema.columns WHERE table_schema = 'public'
                """, connection);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
                (columns.TryGetValue(reader.GetString(0), out var list) ? list : columns[reader.GetString(0)] = [])
                    .Add((reader.GetString(1), reader.GetBoolean(2), reader.GetBoolean(3)));
        }

        var problems = new List<string>();
        foreach (var entity in model.GetEntityTypes().Where(e => !e.IsOwned()))
        {
            var table = entity.GetTableName()!;
            if (!columns.TryGetValue(table, out var tableColumns))
            {
                problems.Add($"{entity.ClrType.Name}: table {table} does not exist");
                continue;
            }
            var store = StoreObjectIdentifier.Table(table);
            var mapped = entity.GetProperties().Select(p => p.GetColumnName(store)!)
                .Concat(entity.GetNavigations().Where(n => n.TargetEntityType.IsMappedToJson()).Select(n => n.TargetEntityType.GetContainerColumnName()!))
                .ToHashSet();
            problems.AddRange(mapped.Where(c => tableColumns.All(t => t.Name != c)).Select(c => $"{entity.ClrType.Name}: {table}.{c} does not exist"));
            problems.AddRange(tableColumns.Where(c => !c.Nullable && !c.HasDefault && !mapped.Contains(c.Name))
                .Select(c => $"{entity.ClrType.Name}: {table}.{c.Name} is required and has no default, but is not mapped"));
        }
        Assert.Empty(problems);
    }

    [Fact]
    public async Task Readiness_is_503_until_the_schema_is_migrated_and_liveness_is_200_throughout()
    {
        await using var database = await TestDatabase.CreateAsync(migrate: false);
        await using var app = new Use60App(database, new Dictionary<string, string?> { ["Database:ApplyMigrationsOnStart"] = "false" });
        using var client = app.Client();

        var notMigrated = await client.GetAsync("/readyz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, notMigrated.StatusCode);
        Assert.Contains("no migrations have been applied", await notMigrated.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode);

        await database.MigrateAsync();
        var ready = await client.GetAsync("/readyz");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        using var body = JsonDocument.Parse(await ready.Content.ReadAsStringAsync());
        Assert.Equal("healthy", body.RootElement.GetProperty("status").GetString());
        Assert.Equal($"reachable, migrated to {Migrator.LatestVersion:0000}", body.RootElement.GetProperty("checks").GetProperty("database").GetProperty("description").GetString());
    }

    [Fact]
    public async Task With_jobs_on_an_unmigrated_database_the_app_still_serves_and_the_scheduler_joins_once_the_schema_is_there()
    {
        await using var database = await TestDatabase.CreateAsync(migrate: false);
        await using var app = new Use60App(database, new Dictionary<string, string?>
        {
            ["Database:ApplyMigrationsOnStart"] = "false", ["Jobs:Enabled"] = "true",
        });
        using var client = app.Client();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.GetAsync("/readyz")).StatusCode);

        await database.MigrateAsync();
        await Infrastructure.FakeSlack.WaitUntilAsync(() => TestDatabase.ScalarAsync<long>(database.OwnerConnectionString,
            "SELECT count(*) FROM qrtz_scheduler_state").Result == 1, "the scheduler to join after its retry", seconds: 30);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/readyz")).StatusCode);
    }

    [Fact]
    public async Task Readiness_turns_503_quickly_while_the_database_is_unreachable_and_back_to_200_after()
    {
        await using var database = await TestDatabase.CreateAsync();
        var port = new NpgsqlConnectionStringBuilder(database.AppConnectionString).Port;
        await using var proxy = new TcpProxy(port);
        var viaProxy = new NpgsqlConnectionStringBuilder(database.AppConnectionString) { Port = proxy.Port, Timeout = 2 }.ConnectionString;
        await using var app = new Use60App(database, new Dictionary<string, string?> { ["Database:Url"] = viaProxy });
        using var client = app.Client();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/readyz")).StatusCode);

        proxy.Cut();
        var clock = Stopwatch.StartNew();
        var down = await client.GetAsync("/readyz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, down.StatusCode);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"readiness took {clock.Elapsed} to answer during the outage");
        var body = await down.Content.ReadAsStringAsync();
        Assert.Contains("unreachable", body);
        Assert.DoesNotContain("Exception", body);
        Assert.DoesNotContain(database.Name, body);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode);

        proxy.Restore();
        await WaitUntilAsync(async () => (await client.GetAsync("/readyz")).StatusCode == HttpStatusCode.OK);
    }

    [Fact]
    public async Task The_app_refuses_to_start_as_a_role_that_row_level_security_would_not_bind_and_says_why()
    {
        await using var database = await TestDatabase.CreateAsync();
        var environment = AppProcess.EnvironmentFor(database);
        environment["DATABASE_URL"] = database.SuperuserConnectionString;
        var (exitCode, output) = await AppProcess.RunAsync(environment, "--urls", "http://127.0.0.1:0");
        Assert.Equal(1, exitCode);
        Assert.Contains("use60 cannot start: DATABASE_URL connects as", output);
        Assert.Contains("which is a superuser: row-level security would not keep tenants apart", output);
        Assert.DoesNotContain("   at ", output); // no stack trace for a problem the operator fixes
        Assert.DoesNotContain("Now listening", output);
    }

    [Fact]
    public async Task A_missing_database_setting_stops_start_up_with_what_to_set()
    {
        var (exitCode, output) = await AppProcess.RunAsync(new Dictionary<string, string?>(), "--urls", "http://127.0.0.1:0");
        Assert.Equal(1, exitCode);
        Assert.Contains("use60 cannot start, its configuration needs attention:", output);
        Assert.Contains("  - DATABASE_URL is not set. Set it to a PostgreSQL URL like postgres://use60_app:PASSWORD@127.0.0.1:5432/use60", output);
        Assert.Contains("  - DATABASE_OWNER_URL is not set.", output);
        Assert.DoesNotContain("   at ", output);
    }

    /// <summary>Waits for a condition the test cannot schedule (another connection's state), up to 30 s.</summary>
    static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = Stopwatch.StartNew();
        while (!await condition())
        {
            if (deadline.Elapsed > TimeSpan.FromSeconds(30)) throw new TimeoutException("condition not met in 30 s");
            await Task.Delay(50);
        }
    }
}
