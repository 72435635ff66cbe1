using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Use60.Hosting;

public static class Health
{
    public const string LivePath = "/healthz";
    public const string ReadyPath = "/readyz";
    public const string ReadyTag = "ready";

    public static bool IsProbe(PathString path) => path == LivePath || path == ReadyPath;

    /// <summary>/healthz: the process answers. /readyz: every check tagged "ready" passes (the database is reachable and migrated).</summary>
    public static WebApplication MapHealth(this WebApplication app)
    {
        app.MapHealthChecks(LivePath, new HealthCheckOptions { Predicate = _ => false, ResponseWriter = WriteAsync });
        app.MapHealthChecks(ReadyPath, new HealthCheckOptions { Predicate = c => c.Tags.Contains(ReadyTag), ResponseWriter = WriteAsync });
        return app;
    }

    static Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        context.Response.Headers.CacheControl = "no-store";
        // Descriptions are written by our checks for operators; exceptions stay in the log, never in the response.
        return context.Response.WriteAsync(JsonSerializer.Serialize(new
        {
            status = report.Status.ToString().ToLowerInvariant(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new
            {
                status = e.Value.Status.ToString().ToLowerInvariant(),
                description = e.Value.Description,
            }),
        }));
    }
}
