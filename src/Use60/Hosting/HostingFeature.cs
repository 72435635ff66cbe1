using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Unicode;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Use60.Hosting;

public static class HostingFeature
{
    public const string DefaultUrl = "http://127.0.0.1:5175";

    /// <summary>
    /// Listens on loopback port 5175 when nothing says where to listen. Deliberately not an appsettings.json
    /// "Urls" entry: that would outrank ASPNETCORE_URLS (read earlier) and pin a container to loopback.
    /// </summary>
    public static WebApplicationBuilder ListenOnLoopbackUnlessConfigured(this WebApplicationBuilder builder)
    {
        var configuration = builder.Configuration;
        var configured = new[] { "urls", "http_ports", "https_ports" }.Any(key => !string.IsNullOrEmpty(configuration[key]))
                         || configuration.GetSection("Kestrel:Endpoints").GetChildren().Any();
        if (!configured) builder.WebHost.UseUrls(DefaultUrl);
        return builder;
    }

    public static IServiceCollection AddHosting(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddValidatedOptions<Use60Options>(configuration);
        services.TryAddSingleton(TimeProvider.System);
        services.AddProblemDetails();
        return services;
    }

    /// <summary>
    /// The request pipeline every feature shares: request log lines, errors that never show a stack trace
    /// (a friendly page on the admin site, a problem+json body elsewhere), static files, routing, auth.
    /// </summary>
    public static WebApplication UseHosting(this WebApplication app)
    {
        app.UseUse60RequestLogging();
        app.UseWhen(IsAdmin, admin =>
        {
            admin.Use((context, next) =>
            {
                Admin.AdminFeature.AddSecurityHeaders(context.Response.Headers);
                return next(context);
            });
            admin.UseExceptionHandler("/admin/error");
            admin.UseStatusCodePagesWithReExecute("/admin/error", "?status={0}");
        });
        app.UseWhen(context => !IsAdmin(context), api => api.UseExceptionHandler());
        app.UseStaticFiles();
        app.UseRouting();
        app.UseAuthentication();
        app.UseAuthorization();
        return app;
    }

    static bool IsAdmin(HttpContext context) => context.Request.Path.StartsWithSegments("/admin");
}

public static class RequestBodies
{
    /// <summary>Longer than any id a provider sends (Slack's event and trigger ids, Svix message ids, job ids): refused, since they are keys of unique indexes.</summary>
    public const int MaxIdLength = 255;

    static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// A signed body as a JSON object, or a <see cref="JsonException"/> saying why not: it must be UTF-8, and every string in it text that
    /// PostgreSQL can store (no NUL, no lone surrogate written as an escape). System.Text.Json checks a string's bytes only when it is
    /// read, so everything is read here, once, instead of failing later in whatever reads it first.
    /// </summary>
    public static JsonObject ParseJsonObject(ReadOnlySpan<byte> body)
    {
        if (!Utf8.IsValid(body)) throw new JsonException("The body is not UTF-8.");
        var node = JsonNode.Parse(body) as JsonObject ?? throw new JsonException("The body is not a JSON object.");
        try
        {
            CheckStrings(node);
        }
        catch (InvalidOperationException e)
        {
            throw new JsonException("The body has a string that is not valid text.", e);
        }
        return node;
    }

    static void CheckStrings(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (key, child) in obj)
                {
                    CheckText(key);
                    CheckStrings(child);
                }
                break;
            case JsonArray array:
                foreach (var child in array) CheckStrings(child);
                break;
            case JsonValue value when value.GetValueKind() == JsonValueKind.String:
                CheckText(value.GetValue<string>());
                break;
        }
    }

    /// <summary>Throws a <see cref="JsonException"/> for text PostgreSQL refuses: a NUL, or a lone UTF-16 surrogate.</summary>
    public static void CheckText(string text)
    {
        if (text.Contains('\0')) throw new JsonException("The body has a NUL character in a string.");
        try
        {
            StrictUtf8.GetByteCount(text);
        }
        catch (EncoderFallbackException e)
        {
            throw new JsonException("The body has a string with a lone surrogate.", e);
        }
    }

    /// <summary>The raw body of a request from a peer that signs it (Slack, MeetingBaaS), or null when it is over <paramref name="maxBytes"/>.</summary>
    public static async Task<byte[]?> ReadBoundedAsync(HttpRequest request, int maxBytes)
    {
        if (request.ContentLength > maxBytes) return null;
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, request.HttpContext.RequestAborted)) > 0)
        {
            if (buffer.Length + read > maxBytes) return null;
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }
}
