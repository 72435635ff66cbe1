using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Npgsql;
using Use60.Calendar;
using Use60.Copilot;
using Use60.Crm;
using Use60.Data;
using Use60.Hosting;
using Use60.Privacy;
using Use60.Recordings;
using Use60.Slack;

namespace Use60.Tests;

public sealed class ConfigurationTests
{
    static IConfiguration Configure(Dictionary<string, string?> environment, Dictionary<string, string?>? appSettings = null) =>
        new ConfigurationBuilder()
            .AddInMemoryCollection(appSettings ?? [])
            .AddConventionalEnvironmentVariables(name => environment.GetValueOrDefault(name))
            .Build();

    static List<string> Problems<T>(Dictionary<string, string?> environment) where T : class, IValidatedOptions, new()
    {
        try
        {
            ValidatedOptions.Read<T>(Configure(environment));
            return [];
        }
        catch (OptionsValidationException e)
        {
            return e.Failures.ToList();
        }
    }

    [Fact]
    public void Every_conventional_variable_the_issue_names_is_read_and_mapped_to_its_feature()
    {
        var expected = new Dictionary<string, string>
        {
            ["DATABASE_URL"] = "Database:Url", ["SLACK_SIGNING_SECRET"] = "Slack:SigningSecret", ["SLACK_BOT_TOKEN"] = "Slack:BotToken",
            ["SLACK_APP_TOKEN"] = "Slack:AppToken", ["SLACK_CLIENT_ID"] = "Slack:ClientId", ["SLACK_CLIENT_SECRET"] = "Slack:ClientSecret",
            ["OPENAI_API_KEY"] = "OpenAI:ApiKey", ["OPENAI_BASE_URL"] = "OpenAI:BaseUrl", ["OPENAI_MODEL"] = "OpenAI:Model",
            ["GOOGLE_CLIENT_ID"] = "Google:ClientId", ["GOOGLE_CLIENT_SECRET"] = "Google:ClientSecret", ["AWS_REGION"] = "S3:Region",
            ["AWS_S3_BUCKET"] = "S3:Bucket", ["AWS_ENDPOINT_URL"] = "S3:EndpointUrl", ["MEETINGBAAS_API_KEY"] = "MeetingBaas:ApiKey",
            ["MEETINGBAAS_WEBHOOK_SECRET"] = "MeetingBaas:WebhookSecret", ["USE60_MASTER_KEY"] = "Privacy:MasterKey",
            ["SLACK_API_URL"] = "Slack:ApiUrl", ["SMTP_URL"] = "Smtp:Url", ["GLADIA_API_KEY"] = "Gladia:ApiKey", ["GLADIA_API_URL"] = "Gladia:ApiUrl",
        };
        var all = EnvironmentVariables.All.ToDictionary(v => v.Name, v => v.ConfigKey);
        foreach (var (name, key) in expected) Assert.Equal(key, all.GetValueOrDefault(name));
        Assert.Equal(all.Count, all.Keys.Distinct().Count());
        Assert.All(new[] { "SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "OPENAI_API_KEY", "USE60_MASTER_KEY", "DATABASE_URL", "SMTP_URL", "GLADIA_API_KEY" },
            name => Assert.True(EnvironmentVariables.All.Single(v => v.Name == name).Secret, $"{name} must be a secret"));
        Assert.All(EnvironmentVariables.All, v => Assert.False(string.IsNullOrWhiteSpace(v.Description), v.Name));
    }

    [Fact]
    public void A_conventional_variable_overrides_appsettings_and_binds_its_options()
    {
        var configuration = Configure(
            new() { ["SLACK_BOT_TOKEN"] = "xoxb-from-env", ["SLACK_SIGNING_SECRET"] = "0123456789abcdef0123456789abcdef", ["OPENAI_MODEL"] = "llama3.1" },
            new() { ["Slack:BotToken"] = "xoxb-from-appsettings", ["Slack:ApiUrl"] = "http://127.0.0.1:9/api/" });
        var slack = ValidatedOptions.Read<SlackOptions>(configuration);
        Assert.Equal("xoxb-from-env", slack.BotToken);
        Assert.Equal("http://127.0.0.1:9/api/", slack.ApiUrl);
        Assert.Equal("llama3.1", ValidatedOptions.Read<LlmOptions>(configuration).Model);
        Assert.Equal(LlmOptions.DefaultBaseUrl, ValidatedOptions.Read<LlmOptions>(configuration).BaseUrl);
    }

    [Theory]
    [InlineData("postgres://use60_app:p%40ss%3Aword@db.example.com:6543/use60?sslmode=require", "db.example.com", 6543, "use60", "use60_app", "p@ss:word")]
    [InlineData("postgresql://app@localhost/sales", "localhost", 5432, "sales", "app", null)]
    [InlineData("Host=127.0.0.1;Port=5433;Database=use60;Username=use60_app;Password=secret", "127.0.0.1", 5433, "use60", "use60_app", "secret")]
    public void Database_url_accepts_a_postgres_url_or_an_npgsql_connection_string(string url, string host, int port, string database,
        string user, string? password)
    {
        Assert.True(DatabaseUrl.TryParse(url, out var builder, out var error), error);
        Assert.Equal((host, port, database, user, password), (builder.Host, builder.Port, builder.Database, builder.Username, builder.Password));
        if (url.Contains("sslmode")) Assert.Equal(SslMode.Require, builder.SslMode);
    }

    [Theory]
    [InlineData("postgres://user:pw@host:5432/", "names no database")]
    [InlineData("postgres://user:pw@host/db?nonsense=1", "query parameter 'nonsense'")]
    [InlineData("just some text", "is neither a postgres:// URL nor a valid Npgsql connection string")]
    [InlineData("Database=use60;Username=x", "has no Host")]
    public void A_malformed_database_url_is_explained_without_echoing_it(string url, string expected)
    {
        Assert.False(DatabaseUrl.TryParse(url, out _, out var error));
        Assert.Contains(expected, error);
        var problems = Problems<DatabaseOptions>(new() { ["DATABASE_URL"] = url, ["DATABASE_OWNER_URL"] = "postgres://owner:pw@h/db" });
        var problem = Assert.Single(problems);
        Assert.StartsWith("DATABASE_URL ", problem);
        Assert.DoesNotContain("pw@", problem);
    }

    [Fact]
    public void The_database_settings_say_what_is_missing_and_refuse_one_role_for_both()
    {
        Assert.Equal(
        [
            "DATABASE_URL is not set. Set it to a PostgreSQL URL like postgres://use60_app:PASSWORD@127.0.0.1:5432/use60 or an Npgsql connection string (scripts/dev.sh sets it for a local database).",
            "DATABASE_OWNER_URL is not set. Set it to a PostgreSQL URL like postgres://use60_owner:PASSWORD@127.0.0.1:5432/use60 or an Npgsql connection string (scripts/dev.sh sets it for a local database).",
        ], Problems<DatabaseOptions>([]));
        var same = Problems<DatabaseOptions>(new() { ["DATABASE_URL"] = "postgres://me:a@h/db", ["DATABASE_OWNER_URL"] = "postgres://me:b@h/db" });
        Assert.Contains("both log in as 'me'", Assert.Single(same));
    }

    [Fact]
    public void Integration_settings_are_checked_for_the_mistakes_people_make()
    {
        Assert.Contains(Problems<SlackOptions>(new() { ["SLACK_BOT_TOKEN"] = "xoxp-user-token" }), p => p.Contains("must be a bot token starting with xoxb-"));
        Assert.Contains(Problems<SlackOptions>(new() { ["SLACK_APP_TOKEN"] = "xoxb-1" }), p => p.Contains("SLACK_APP_TOKEN must be an app-level token starting with xapp-"));
        Assert.Contains("SLACK_CLIENT_ID is set but SLACK_CLIENT_SECRET is not: Slack OAuth needs both.",
            Problems<SlackOptions>(new() { ["SLACK_CLIENT_ID"] = "123.456" }));
        Assert.Contains(Problems<SlackOptions>(new() { ["SLACK_BOT_TOKEN"] = "xoxb-1" }), p => p.StartsWith("SLACK_SIGNING_SECRET is required to receive Slack's requests"));
        Assert.Empty(Problems<SlackOptions>(new() { ["SLACK_BOT_TOKEN"] = "xoxb-1", ["SLACK_APP_TOKEN"] = "xapp-1" }));
        Assert.Contains(Problems<SlackOptions>(new() { ["SLACK_API_URL"] = "slack.com/api" }), p => p.StartsWith("SLACK_API_URL must be an absolute http(s) URL"));
        Assert.Equal(["GOOGLE_CLIENT_SECRET is set but GOOGLE_CLIENT_ID is not: Google Calendar sync needs both."],
            Problems<GoogleOptions>(new() { ["GOOGLE_CLIENT_SECRET"] = "s" }));
        Assert.Contains(Problems<S3Options>(new() { ["AWS_S3_BUCKET"] = "My_Bucket" }), p => p.StartsWith("AWS_S3_BUCKET must be a bucket name"));
        Assert.Contains(Problems<S3Options>(new() { ["AWS_S3_BUCKET"] = "recordings" }), p => p.StartsWith("AWS_S3_BUCKET is set but AWS_REGION is not"));
        Assert.Contains(Problems<MeetingBaasOptions>(new() { ["MEETINGBAAS_API_KEY"] = "k" }), p => p.Contains("MEETINGBAAS_WEBHOOK_SECRET is not"));
        Assert.Equal([$"GLADIA_API_URL must be an absolute http(s) URL such as {GladiaOptions.DefaultApiUrl}."],
            Problems<GladiaOptions>(new() { ["GLADIA_API_URL"] = "api.gladia.io" }));
        // Gladia's callbacks are checked with a token derived from the master key.
        var gladia = new GladiaOptions { ApiKey = "k" };
        Assert.Contains("USE60_MASTER_KEY is required with GLADIA_API_KEY",
            new GladiaNeedsMasterKey(Options.Create(new MasterKeyOptions())).Validate(null, gladia).FailureMessage);
        Assert.True(new GladiaNeedsMasterKey(Options.Create(new MasterKeyOptions { MasterKey = Convert.ToBase64String(new byte[32]) })).Validate(null, gladia).Succeeded);
        Assert.Equal([$"USE60_MASTER_KEY must be exactly 32 random bytes, base64-encoded (44 characters); {MasterKeyOptions.HowToMakeOne}."],
            Problems<MasterKeyOptions>(new() { ["USE60_MASTER_KEY"] = Convert.ToBase64String(new byte[16]) }));
        Assert.Empty(Problems<MasterKeyOptions>(new() { ["USE60_MASTER_KEY"] = Convert.ToBase64String(new byte[32]) }));
        Assert.Contains(Problems<SmtpOptions>(new() { ["SMTP_URL"] = "mail.example.com:587" }), p => p.StartsWith("SMTP_URL must look like smtp://"));
        Assert.Contains(Problems<LogOptions>(new() { ["LOG_FORMAT"] = "xml" }), p => p == "LOG_FORMAT must be text or json, not 'xml'.");
        Assert.Contains(Problems<Use60Options>(new() { ["PUBLIC_URL"] = "use60.example.com" }), p => p.StartsWith("PUBLIC_URL must be an absolute http(s) URL"));
    }

    [Fact]
    public void With_nothing_but_the_database_set_every_feature_starts_on_its_defaults()
    {
        Assert.Empty(Problems<SlackOptions>([]));
        Assert.Empty(Problems<LlmOptions>([]));
        Assert.Empty(Problems<GoogleOptions>([]));
        Assert.Empty(Problems<S3Options>([]));
        Assert.Empty(Problems<MeetingBaasOptions>([]));
        Assert.Empty(Problems<GladiaOptions>([]));
        Assert.Empty(Problems<MasterKeyOptions>([]));
        Assert.Empty(Problems<SmtpOptions>([]));
        Assert.Empty(Problems<LogOptions>([]));
        Assert.Empty(Problems<Use60Options>([]));
    }

    [Fact]
    public void Secret_values_include_the_password_inside_a_database_url()
    {
        var secrets = EnvironmentVariables.SecretValues(Configure(new()
        {
            ["DATABASE_URL"] = "postgres://app:Sup3r%2FSecret@db/use60",
            ["SLACK_BOT_TOKEN"] = "xoxb-123-456-abc",
            ["OPENAI_MODEL"] = "gpt-4o-mini",
        }));
        Assert.Contains("Sup3r/Secret", secrets);
        Assert.Contains("xoxb-123-456-abc", secrets);
        Assert.DoesNotContain("gpt-4o-mini", secrets);
    }
}
