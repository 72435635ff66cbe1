using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Use60.Hosting;

public static class HostingFeature
{
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
