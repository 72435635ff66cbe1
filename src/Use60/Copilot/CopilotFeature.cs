using Use60.Admin;
using Use60.Hosting;
using Use60.Slack;

namespace Use60.Copilot;

public static class CopilotFeature
{
    public static IServiceCollection AddCopilot(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddValidatedOptions<LlmOptions>(configuration);
        services.AddValidatedOptions<CopilotOptions>(configuration);
        // One set per Slack callback or page request: the session is the rep the tools work for.
        services.AddScoped<CopilotSession>();
        services.AddScoped<SkillCatalog>();
        services.AddScoped<SkillOverrides>();
        services.AddScoped<EntityResolver>();
        services.AddScoped<PendingActions>();
        services.AddScoped<CopilotActions>();
        services.AddScoped<ToolTelemetry>();
        services.AddScoped<CopilotTools>();
        services.AddScoped<OfflinePlanner>();
        services.AddScoped<Persona>();
        services.AddScoped<CopilotLimits>();
        services.AddScoped<LlmPlanner>();
        services.AddScoped<CopilotChat>();
        services.AddSingleton<CopilotLab>();
        services.AddSingleton<Mailer>();
        services.AddSingleton(new AdminNavItem("Mail sandbox", "/admin/mail", 85));
        services.AddSingleton(new AdminNavItem("Copilot usage", "/admin/copilot-usage", 86));
        services.AddSingleton(new AdminNavItem("Copilot Lab", Pages.LabModel.PagePath, 87));
        services.AddSingleton(new AdminNavItem("Skills", Pages.SkillsModel.PagePath, 88));
        return services.AddSlackListeners(CopilotSlack.Register);
    }
}
