using System.Buffers;
using System.Text.RegularExpressions;
using Serilog;
using Serilog.Events;
using Serilog.Formatting;
using Serilog.Core;
using Serilog.Formatting.Display;
using Serilog.Templates;

namespace Use60.Hosting;

[ConfigSection("Log")]
public sealed class LogOptions : IValidatedOptions
{
    [EnvironmentVariable("LOG_FORMAT", "text (readable lines, the default) or json (one JSON object per line, for log collectors).")]
    public string Format { get; set; } = "text";

    [EnvironmentVariable("LOG_LEVEL", "Minimum level: Debug, Information (default), Warning or Error. Debug also shows health-probe requests.")]
    public string Level { get; set; } = "Information";

    public LogEventLevel MinimumLevel => Enum.TryParse<LogEventLevel>(Level, ignoreCase: true, out var level) ? level : LogEventLevel.Information;

    public IEnumerable<string> Validate()
    {
        if (Format is not ("text" or "json"))
            yield return $"LOG_FORMAT must be text or json, not '{Format}'.";
        if (!Enum.TryParse<LogEventLevel>(Level, ignoreCase: true, out _))
            yield return $"LOG_LEVEL must be one of Verbose, Debug, Information, Warning, Error, Fatal, not '{Level}'.";
    }
}

public static class Use60Logging
{
    const string TextTemplate = "[{Timestamp:HH:mm:ss} {Level:u3}] {SourceContext}: {Message:lj}{NewLine}{Exception}";

    /// <summary>Serilog for the whole app: readable lines by default, JSON lines with LOG_FORMAT=json, secrets redacted.</summary>
    public static WebApplicationBuilder AddUse60Logging(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<LogOptions>(builder.Configuration);
        // Read from the finished container, so settings added after Program.cs (tests, hosts) are seen.
        builder.Services.AddSerilog((services, logger) =>
        {
            var configuration = services.GetRequiredService<IConfiguration>();
            var options = configuration.GetSection(ValidatedOptions.SectionOf<LogOptions>()).Get<LogOptions>() ?? new LogOptions();
            var redactor = new SecretRedactor(EnvironmentVariables.SecretValues(configuration));
            logger.MinimumLevel.Is(options.MinimumLevel)
                .MinimumLevel.Override("Microsoft.AspNetCore", LogEventLevel.Warning)
                .MinimumLevel.Override("Microsoft.EntityFrameworkCore", LogEventLevel.Warning)
                .MinimumLevel.Override("Microsoft.Extensions.Http", LogEventLevel.Warning)
                .MinimumLevel.Override("Microsoft.Hosting.Lifetime", LogEventLevel.Information)
                // A failed start is reported once, by Commands.RunOrCommandAsync: plainly when it is a
                // configuration problem, with its stack trace when it is a bug; not a second time here.
                .MinimumLevel.Override("Microsoft.Extensions.Hosting.Internal.Host", LogEventLevel.Fatal)
                .Enrich.FromLogContext()
                .Enrich.With(new RedactingEnricher(redactor))
                .WriteTo.Console(new RedactingFormatter(CreateFormatter(options.Format), redactor));
        });
        return builder;
    }

    /// <summary>JSON lines in the compact (CLEF) shape log collectors read, with the message rendered as plain text.</summary>
    static ITextFormatter CreateFormatter(string format) => format == "json"
        ? new ExpressionTemplate("{ {@t: UtcDateTime(@t), @l: @l, @m: @m, @mt: @mt, @x: @x, @tr: @tr, @sp: @sp, ..@p} }\n")
        : new MessageTemplateTextFormatter(TextTemplate);

    /// <summary>One line per HTTP request with its status and duration; query strings (sign-in tokens) are never logged, nor download tokens (<see cref="SecretRedactor"/>).</summary>
    public static WebApplication UseUse60RequestLogging(this WebApplication app)
    {
        app.UseSerilogRequestLogging(options =>
        {
            options.MessageTemplate = "HTTP {RequestMethod} {RequestPath} responded {StatusCode} in {Elapsed:0.0} ms";
            options.GetLevel = (context, _, exception) =>
                exception is not null || context.Response.StatusCode >= 500 ? LogEventLevel.Error
                : Health.IsProbe(context.Request.Path) && context.Response.StatusCode < 400 ? LogEventLevel.Debug
                : LogEventLevel.Information;
        });
        return app;
    }
}

/// <summary>
/// Finds secrets in rendered log text: every configured secret value, anything shaped like a Slack token (workspaces installed
/// through OAuth bring tokens that are not in the configuration), and the token in an export's download link.
/// </summary>
public sealed partial class SecretRedactor
{
    public const string Mask = "[REDACTED]";
    readonly string[] secrets;
    readonly SearchValues<string>? search;

    public SecretRedactor(IEnumerable<string> secrets)
    {
        // Very short values would mask ordinary words; no real secret is that short.
        // JSON lines escape quotes and backslashes, so the escaped spelling is searched for too.
        this.secrets = secrets.Where(s => s.Length >= 6)
            .SelectMany(s => new[] { s, s.Replace("\\", "\\\\").Replace("\"", "\\\"") })
            .Distinct().OrderByDescending(s => s.Length).ToArray();
        search = this.secrets.Length > 0 ? SearchValues.Create(this.secrets, StringComparison.Ordinal) : null;
    }

    public string Redact(string text)
    {
        if (search is not null && text.AsSpan().IndexOfAny(search) >= 0)
            foreach (var secret in secrets) text = text.Replace(secret, Mask, StringComparison.Ordinal);
        if (text.Contains(Privacy.PrivacyExports.DownloadPath, StringComparison.OrdinalIgnoreCase))
            text = DownloadLink().Replace(text, "${path}" + Mask);
        return text.Contains("xox", StringComparison.Ordinal) || text.Contains("xapp-", StringComparison.Ordinal)
            ? SlackToken().Replace(text, Mask)
            : text;
    }

    /// <summary>An export's one-time download link (<see cref="Privacy.PrivacyExports.DownloadPath"/>): the path's last segment is the credential.</summary>
    [GeneratedRegex(@"(?<path>" + Privacy.PrivacyExports.DownloadPath + @")[^/?#\s""]+", RegexOptions.IgnoreCase)]
    private static partial Regex DownloadLink();

    [GeneratedRegex(@"\b(?:xox[abposre]|xapp)-[0-9A-Za-z-]{8,}")]
    private static partial Regex SlackToken();
}

/// <summary>Redacts property values on the event itself, before any formatter quotes or escapes them.</summary>
public sealed class RedactingEnricher(SecretRedactor redactor) : ILogEventEnricher
{
    public void Enrich(LogEvent logEvent, ILogEventPropertyFactory propertyFactory)
    {
        foreach (var (name, value) in logEvent.Properties.ToList())
            if (Redact(value) is { } redacted) logEvent.AddOrUpdateProperty(new LogEventProperty(name, redacted));
    }

    /// <summary>The value with secrets masked, or null when it held none.</summary>
    LogEventPropertyValue? Redact(LogEventPropertyValue value)
    {
        switch (value)
        {
            case ScalarValue { Value: string text } when redactor.Redact(text) is var clean && clean != text:
                return new ScalarValue(clean);
            case SequenceValue sequence when sequence.Elements.Select(Redact).ToList() is var elements && elements.Any(e => e is not null):
                return new SequenceValue(sequence.Elements.Zip(elements, (old, redacted) => redacted ?? old));
            case StructureValue structure when structure.Properties.Select(p => Redact(p.Value)).ToList() is var values && values.Any(v => v is not null):
                return new StructureValue(structure.Properties.Zip(values, (p, redacted) => new LogEventProperty(p.Name, redacted ?? p.Value)), structure.TypeTag);
            case DictionaryValue dictionary when dictionary.Elements.Select(e => Redact(e.Value)).ToList() is var entries && entries.Any(e => e is not null):
                return new DictionaryValue(dictionary.Elements.Zip(entries, (e, redacted) => new KeyValuePair<ScalarValue, LogEventPropertyValue>(e.Key, redacted ?? e.Value)));
            default:
                return null;
        }
    }
}

/// <summary>Renders with the inner formatter, then redacts the whole line: template text and exceptions included.</summary>
public sealed class RedactingFormatter(ITextFormatter inner, SecretRedactor redactor) : ITextFormatter
{
    public void Format(LogEvent logEvent, TextWriter output)
    {
        using var buffer = new StringWriter();
        inner.Format(logEvent, buffer);
        output.Write(redactor.Redact(buffer.ToString()));
    }
}
