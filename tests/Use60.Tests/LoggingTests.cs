using System.Text.Json;
using Serilog.Events;
using Serilog.Formatting.Compact;
using Serilog.Formatting.Display;
using Serilog.Parsing;
using Use60.Hosting;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

public sealed class LoggingTests
{
    const string BotToken = "xoxb-1111111111-2222222222-TopSecretBotToken";
    const string SigningSecret = "8f742231b10e8888abcd99yyyzzz85a5";
    const string OpenAiKey = "sk-test-OpenAiKeyThatMustNeverBeLogged";
    const string ExportToken = "ExportDownloadTokenThatIsACredential42";

    static LogEvent Event(string template, Exception? exception = null, params LogEventProperty[] properties) =>
        new(DateTimeOffset.UtcNow, LogEventLevel.Warning, exception, new MessageTemplateParser().Parse(template), properties);

    /// <summary>Through the same enricher and formatter as the app's logger.</summary>
    static string Render(Serilog.Formatting.ITextFormatter inner, IEnumerable<string> secrets, LogEvent logEvent)
    {
        var redactor = new SecretRedactor(secrets);
        new RedactingEnricher(redactor).Enrich(logEvent, null!);
        using var output = new StringWriter();
        new RedactingFormatter(inner, redactor).Format(logEvent, output);
        return output.ToString();
    }

    [Fact]
    public void Configured_secrets_and_slack_shaped_tokens_are_redacted_from_message_properties_and_exceptions()
    {
        var logEvent = Event("Calling Slack with {Token} for {Team}", new InvalidOperationException($"bad key {OpenAiKey}"),
            new LogEventProperty("Token", new ScalarValue(BotToken)),
            new LogEventProperty("Team", new ScalarValue("T0DEMO00001 using xoxp-9999999999-user-token-from-oauth")));
        foreach (var formatter in new Serilog.Formatting.ITextFormatter[] { new MessageTemplateTextFormatter("{Message:lj} {Exception}"), new RenderedCompactJsonFormatter() })
        {
            var line = Render(formatter, [BotToken, OpenAiKey], logEvent);
            Assert.DoesNotContain(BotToken, line);
            Assert.DoesNotContain(OpenAiKey, line);
            Assert.DoesNotContain("user-token-from-oauth", line);
            Assert.Contains("T0DEMO00001", line);
            Assert.Contains(SecretRedactor.Mask, line);
        }
    }

    [Fact]
    public void A_secret_with_quotes_is_redacted_from_json_lines_too()
    {
        const string quoted = "pa\"ss\\word-123";
        var line = Render(new RenderedCompactJsonFormatter(), [quoted], Event("{Value}", null, new LogEventProperty("Value", new ScalarValue(quoted))));
        Assert.DoesNotContain("word-123", line);
        Assert.Contains(SecretRedactor.Mask, line);
    }

    [Fact]
    public void Short_values_are_not_treated_as_secrets_and_ordinary_text_is_untouched()
    {
        var line = Render(new MessageTemplateTextFormatter("{Message:lj}"), ["abc", "xoxb-short"], Event("abc is the xoxbox of the day"));
        Assert.Equal("abc is the xoxbox of the day", line);
    }

    [Fact]
    public async Task The_running_app_writes_one_json_line_per_request_with_status_and_duration_and_never_a_secret()
    {
        await using var database = await TestDatabase.CreateAsync();
        var environment = AppProcess.EnvironmentFor(database);
        environment["SLACK_BOT_TOKEN"] = BotToken;
        environment["SLACK_SIGNING_SECRET"] = SigningSecret;
        environment["OPENAI_API_KEY"] = OpenAiKey;
        environment["LOG_FORMAT"] = "json";
        environment["LOG_LEVEL"] = "Debug";
        environment["USE60_MASTER_KEY"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)); // as deployed: no dev-key warning
        var password = new Npgsql.NpgsqlConnectionStringBuilder(database.AppConnectionString).Password!;

        // A real sign-in link, so that a page with a form (and its antiforgery token) is visited too.
        await TestDatabase.ExecuteAsync(database.OwnerConnectionString, """
            SET app.system = 'on';
            INSERT INTO orgs (id, name) VALUES ('00000000-0000-0000-0000-00000000000a', 'Logs Inc');
            INSERT INTO users (org_id, name, email, role) VALUES ('00000000-0000-0000-0000-00000000000a', 'Lee', 'lee@logs.example', 'owner');
            """);
        var link = await AppProcess.RunAsync(environment, "admin-link", "lee@logs.example");
        var linkPath = new Uri(link.Output.Split('\n').Single(l => l.StartsWith("Admin sign-in: "))["Admin sign-in: ".Length..].Trim()).PathAndQuery;

        var (app, url) = await AppProcess.ServeAsync(environment);
        await using (app)
        {
            using var client = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { BaseAddress = url };
            Assert.Equal(200, (int)(await client.GetAsync("/healthz")).StatusCode);
            Assert.Equal(302, (int)(await client.GetAsync("/admin")).StatusCode);
            // Secrets where a careless client might put them: the path, the query, a header.
            await client.GetAsync($"/admin/{BotToken}");
            await client.GetAsync($"/admin/login?token={OpenAiKey}");
            Assert.Contains("__RequestVerificationToken", await client.GetStringAsync(linkPath));
            var request = new HttpRequestMessage(HttpMethod.Get, "/admin/signin");
            request.Headers.UserAgent.ParseAdd("curl/8.0");
            request.Headers.Add("X-Slack-Signature", "v0=" + SigningSecret);
            await client.SendAsync(request);
            // An export's one-time download link: the token is the credential (an unknown one is a 410 page, still logged).
            Assert.Equal(410, (int)(await client.GetAsync($"/exports/{ExportToken}")).StatusCode);
        }
        var output = app.Output;
        Assert.DoesNotContain(ExportToken, output);

        foreach (var secret in new[] { BotToken, SigningSecret, OpenAiKey, password })
            Assert.DoesNotContain(secret, output);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var events = lines.Select(line => JsonDocument.Parse(line).RootElement).ToList(); // every line is JSON
        var requests = events.Where(e => e.TryGetProperty("StatusCode", out _) && e.TryGetProperty("Elapsed", out _)).ToList();
        var admin = requests.Single(e => e.GetProperty("RequestPath").GetString() == "/admin");
        Assert.Equal(302, admin.GetProperty("StatusCode").GetInt32());
        Assert.True(admin.GetProperty("Elapsed").GetDouble() > 0);
        Assert.Equal("HTTP GET /admin responded 302 in " + admin.GetProperty("Elapsed").GetDouble().ToString("0.0") + " ms",
            admin.GetProperty("@m").GetString());
        Assert.Equal("Debug", requests.Single(e => e.GetProperty("RequestPath").GetString() == "/healthz").GetProperty("@l").GetString());
        Assert.Contains(requests, e => e.GetProperty("RequestPath").GetString() == $"/admin/{SecretRedactor.Mask}");
        Assert.Equal(7, requests.Count);
        Assert.Contains(requests, e => e.GetProperty("RequestPath").GetString() == $"/exports/{SecretRedactor.Mask}");
        // Nothing the app does on an ordinary visit deserves a warning. (Stopping can cut short a scheduler query, which Quartz
        // reports as a failed rollback of a cancelled operation: that is the stop, not the visit.)
        var stopping = events.FindIndex(e => e.GetProperty("@m").GetString() == "Application is shutting down...");
        Assert.DoesNotContain(events.Take(stopping < 0 ? events.Count : stopping), e => e.GetProperty("@l").GetString() is "Warning" or "Error"
            && !e.GetProperty("@m").GetString()!.Contains("XML encryptor")); // data-protection keys are kept in the database unencrypted
        Assert.DoesNotContain(events.Skip(stopping < 0 ? events.Count : stopping), e => e.GetProperty("@l").GetString() is "Warning" or "Error"
            && !(e.TryGetProperty("@x", out var x) && x.GetString()!.StartsWith("System.OperationCanceledException")));
        Assert.DoesNotContain(events, e => e.GetProperty("@m").GetString()!.Contains("token="));
    }

    [Fact]
    public async Task Readable_lines_by_default_and_a_failed_start_does_not_print_the_database_password()
    {
        const string password = "VerySecretDbPassword123";
        var (exitCode, output) = await AppProcess.RunAsync(new Dictionary<string, string?>
        {
            ["DATABASE_URL"] = $"postgres://use60_app:{password}@127.0.0.1:1/use60",
            ["DATABASE_OWNER_URL"] = $"postgres://use60_owner:{password}x@127.0.0.1:1/use60",
            ["Database__StartupTimeoutSeconds"] = "1",
        }, "--urls", "http://127.0.0.1:0");
        Assert.Equal(1, exitCode);
        Assert.DoesNotContain(password, output);
        Assert.Contains("Cannot reach PostgreSQL at 127.0.0.1:1/use60", output);
        Assert.Matches(@"\[\d\d:\d\d:\d\d WRN\] Use60\.Data\.DatabaseStartup: Waiting for PostgreSQL at 127\.0\.0\.1:1/use60", output);
    }
}
