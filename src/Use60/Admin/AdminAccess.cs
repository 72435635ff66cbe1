using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Routing.Patterns;
using System.Security.Claims;
using Use60.Data;
using Use60.Orgs;

namespace Use60.Admin;

/// <summary>A page a viewer may read. Viewers (the seeds' read-only role) see these pages and change nothing anywhere.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class ViewersCanSeeAttribute : Attribute;

/// <summary>Who may use the admin site: owners and admins everything; viewers reading (GET) the pages marked for them.</summary>
sealed class AdminSiteRequirement : AuthorizationHandler<AdminSiteRequirement>, IAuthorizationRequirement
{
    static readonly string Owner = SnakeCase.ValueOf(UserRole.Owner), Admin = SnakeCase.ValueOf(UserRole.Admin),
        Viewer = SnakeCase.ValueOf(UserRole.Viewer);

    public static bool Administers(ClaimsPrincipal user) => user.IsInRole(Owner) || user.IsInRole(Admin);

    public static bool IsViewer(ClaimsPrincipal user) => user.IsInRole(Viewer);

    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, AdminSiteRequirement requirement)
    {
        if (Administers(context.User)
            || (IsViewer(context.User) && context.Resource is HttpContext http
                && (HttpMethods.IsGet(http.Request.Method) || HttpMethods.IsHead(http.Request.Method))
                && http.GetEndpoint()?.Metadata.GetMetadata<ViewersCanSeeAttribute>() is not null))
            context.Succeed(requirement);
        return Task.CompletedTask;
    }
}

/// <summary>The navigation: every <see cref="AdminNavItem"/> a feature registered, in order; a viewer sees only the pages open to them.</summary>
public sealed class AdminNavigation(IEnumerable<AdminNavItem> items, EndpointDataSource endpoints)
{
    public IReadOnlyList<AdminNavItem> Items { get; } = [.. items.OrderBy(i => i.Order)];

    IReadOnlySet<string>? viewerPaths;

    public IReadOnlyList<AdminNavItem> For(ClaimsPrincipal user) =>
        AdminSiteRequirement.Administers(user) ? Items
        : AdminSiteRequirement.IsViewer(user) ? [.. Items.Where(i => ViewerPaths.Contains(i.Path))]
        : [];

    IReadOnlySet<string> ViewerPaths => viewerPaths ??= endpoints.Endpoints.OfType<RouteEndpoint>()
        .Where(e => e.Metadata.GetMetadata<ViewersCanSeeAttribute>() is not null)
        .Select(e => "/" + e.RoutePattern.RawText?.Trim('/'))
        .ToHashSet(StringComparer.OrdinalIgnoreCase);
}
