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
