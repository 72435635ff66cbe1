using Use60.Admin;

namespace Use60.Privacy;

/// <summary>Contact data quality: validation runs in every DbContext (Data/DataFeature.cs); this adds its admin page.</summary>
public static class ContactQualityFeature
{
    public static IServiceCollection AddContactQuality(this IServiceCollection services) =>
        services.AddSingleton(new AdminNavItem("Data quality", Pages.DataQualityModel.PagePath, 62));
}
