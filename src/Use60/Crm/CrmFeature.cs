using Use60.Hosting;

namespace Use60.Crm;

public static class CrmFeature
{
    public static IServiceCollection AddCrm(this IServiceCollection services, IConfiguration configuration) =>
        services.AddValidatedOptions<SmtpOptions>(configuration).AddScoped<CrmQueries>();
}
