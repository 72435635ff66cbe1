using Microsoft.Extensions.Options;
using Use60.Hosting;
using Use60.Slack;

namespace Use60.Privacy;

/// <summary>Keys and PII sealing, retention, erasure and access requests, exports, and their commands and admin page.</summary>
public static class PrivacyFeature
{
    public static IServiceCollection AddPrivacy(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddValidatedOptions<MasterKeyOptions>(configuration)
            .AddSingleton<IValidateOptions<MasterKeyOptions>, MasterKeyRequiredInProduction>()
            .AddSingleton<MasterKeys>()
            .AddSingleton<OrgKeyring>()
            .AddSingleton<SecretBox>()
            .AddSingleton<PiiMaintenance>()
            .AddHostedService<PiiStartup>()
            .AddTransient<ContactDeletion>().AddTransient<PrivacyRetention>().AddTransient<PrivacyRequests>()
            .AddTransient<PrivacyExports>().AddSingleton<IExportKick, ExportKick>()
            .AddSingleton(new Admin.AdminNavItem("Privacy", Pages.PrivacyModel.PagePath, 55));
        services.AddSlackListeners(ExportSlack.Register);
        services.AddCommand<RotateMasterKeyCommand>();
        services.AddCommand<ReencryptCommand>();
        return services;
    }
}
