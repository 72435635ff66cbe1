using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authorization;
using Microsoft.EntityFrameworkCore;
using Use60.Data;
using Use60.Hosting;
using Use60.Orgs;
using Use60.Slack;

namespace Use60.Admin;

/// <summary>A link in the admin site's navigation; each feature adds its own pages.</summary>
public sealed record AdminNavItem(string Title, string Path, int Order);


public static class AdminFeature
{
    /// <summary>Owners and admins run the admin site; viewers read the pages marked <see cref="ViewersCanSeeAttribute"/>; members get a 403 page.</summary>
    public const string Policy = "admin-site";

    const string OpenAdminSiteAction = "admin_login_open";

    public static IServiceCollection AddAdmin(this IServiceCollection services)
    {
        services.AddRazorPages(pages =>
        {
            pages.RootDirectory = "/";
            // Secure by default: every page needs an owner or admin unless it says [AllowAnonymous] (or [ViewersCanSee], to read).
            pages.Conventions.AuthorizeFolder("/", Policy);
            // A session that still owes its second factor reaches only the pages that collect it.
            pages.Conventions.ConfigureFilter(new SecondFactorFilter());
        }).AddMvcOptions(mvc =>
        {
            // No form here uses jQuery's a[b]=c keys, and their parser throws on a malformed one (a 500 for a bad form, its error page too).
            foreach (var jquery in mvc.ValueProviderFactories.Where(f => f is Microsoft.AspNetCore.Mvc.ModelBinding.JQueryFormValueProviderFactory
                         or Microsoft.AspNetCore.Mvc.ModelBinding.JQueryQueryStringValueProviderFactory).ToList())
                mvc.ValueProviderFactories.Remove(jquery);
        });
        services.AddAntiforgery(o =>
        {
            o.Cookie.Name = "use60_af";
            o.Cookie.HttpOnly = true;
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
        });
        services.AddScoped<AdminCookieEvents>();
        services.AddAuthentication(AdminClaims.Scheme).AddSlackSignIn().AddCookie(AdminClaims.Scheme, cookie =>
        {
            cookie.Cookie.Name = "use60_admin";
            cookie.Cookie.HttpOnly = true;
            cookie.Cookie.SameSite = SameSiteMode.Lax;
            cookie.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            cookie.Cookie.Path = "/admin";
            cookie.ExpireTimeSpan = AdminClaims.IdleTimeout;
            cookie.SlidingExpiration = true;
            cookie.LoginPath = "/admin/signin";
            cookie.AccessDeniedPath = "/admin/forbidden";
            cookie.EventsType = typeof(AdminCookieEvents);
        });
        services.AddAuthorizationBuilder().AddPolicy(Policy, policy => policy
            .AddAuthenticationSchemes(AdminClaims.Scheme)
            .RequireAuthenticatedUser()
            .AddRequirements(new AdminSiteRequirement()));
        services.AddSingleton<IAuthorizationHandler, AdminSiteRequirement>();
        services.AddSingleton<AdminLoginLinks>();
        services.AddScoped<AdminSecondFactor>();
        services.AddSingleton(new AdminNavItem("Overview", "/admin", 0));
        services.AddSingleton<AdminNavigation>();
        services.AddCommand<AdminLinkCommand>();
        services.AddSlackListeners(slack => slack
            .Command(SlackHelp.Sixty, "login", "a one-time link to the admin site (owners, admins; viewers to read)", SendLoginLinkAsync)
            // A link button: the browser opens the link; Slack still reports the click, which needs no answer.
            .Action(OpenAdminSiteAction, _ => Task.CompletedTask));
        return services;
    }

    /// <summary>/sixty login: the link goes by DM, only to those who may use it.</summary>
    static async Task SendLoginLinkAsync(SlackRequest request)
    {
        if (!request.User.CanOpenAdminSite)
        {
            request.Reply(new SlackMessage($"Sorry, only owners, admins and viewers of {request.Org.Name} can open the admin site. " +
                                           "If you need a setting changed, ask one of them."));
            return;
        }
        var link = await request.Service<AdminLoginLinks>().CreateAsync(request.User, "slack", request.Aborted);
        request.Reply(new SlackMessage($"Your admin sign-in link (works once, for {AdminLoginLinks.Lifetime.TotalMinutes:0} minutes): {link}", [
            new SectionBlock($"Here is your one-time link to the *{request.Org.Name}* admin site. It works once, for {AdminLoginLinks.Lifetime.TotalMinutes:0} minutes."),
            new ActionsBlock([new ButtonElement("Open the admin site", OpenAdminSiteAction, Url: link.ToString(), Style: ButtonStyle.Primary)]),
        ]), ReplyTarget.DirectMessage);
        request.Reply(new SlackMessage("I've sent you a sign-in link in our DM."));
    }

    public static WebApplication MapAdmin(this WebApplication app)
    {
        SlackSignIn.RemoveUnlessConfigured(app.Services);
        app.MapGet("/", () => Results.Redirect("/admin")).ExcludeFromDescription();
        app.MapGet(SlackSignIn.StartPath, async (IAuthenticationSchemeProvider schemes) => await schemes.GetSchemeAsync(SlackSignIn.Scheme) is null
            ? Results.Redirect("/admin/signin") : SlackSignIn.Start()).ExcludeFromDescription();
        app.MapRazorPages();
        return app;
    }

    /// <summary>No framing, no sniffing, no referrer (sign-in links carry a token), only our own scripts and styles.</summary>
    public static void AddSecurityHeaders(IHeaderDictionary headers)
    {
        headers.ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
                                        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'";
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers["Referrer-Policy"] = "no-referrer";
        // What antiforgery itself requires on pages with forms (otherwise it overrides them and logs a warning).
        headers.CacheControl = "no-cache, no-store";
        headers.Pragma = "no-cache";
    }
}

/// <summary>dotnet run --project src/Use60 -- admin-link EMAIL [--org SLACK_TEAM_ID]</summary>
sealed class AdminLinkCommand(SystemDb system, AdminLoginLinks links) : ICommand
{
    public string Name => "admin-link";
    public string Usage => "admin-link EMAIL [--org TEAM_ID]";
    public string Summary => "print a one-time admin sign-in link (10 minutes, usable once)";

    public async Task<int> RunAsync(CommandContext context)
    {
        var args = context.Args.ToList();
        string? org = null;
        var orgFlag = args.IndexOf("--org");
        if (orgFlag >= 0)
        {
            if (orgFlag + 1 >= args.Count) return Fail(context, "--org needs a Slack team id (T...) or an org id.");
            org = args[orgFlag + 1];
            args.RemoveRange(orgFlag, 2);
        }
        if (args.Count != 1 || !args[0].Contains('@')) return Fail(context, $"Usage: {Usage}");
        var email = args[0].Trim().ToLowerInvariant();

        await using var db = system.Open("find a user for an admin sign-in link");
        var matches = await (from u in db.Users.AsNoTracking()
                             join o in db.Orgs.AsNoTracking() on u.OrgId equals o.Id
                             where u.Email != null && u.Email.ToLower() == email
                             select new { User = u, Org = o }).ToListAsync(context.CancellationToken);
        if (org is not null)
            matches = matches.Where(m => m.Org.SlackTeamId == org || m.Org.Id.ToString() == org).ToList();
        switch (matches.Count)
        {
            case 0:
                return Fail(context, $"No user with the email {email}{(org is null ? "" : $" in org {org}")}. " +
                                     "People join when they first talk to use60 in Slack; `seed-demo` creates the demo org's reps.");
            case > 1:
                context.Error.WriteLine($"{email} belongs to several orgs; choose one with --org:");
                foreach (var m in matches) context.Error.WriteLine($"  --org {m.Org.SlackTeamId ?? m.Org.Id.ToString()}   {m.Org.Name}");
                return Commands.BadUsage;
        }

        var (user, holderOrg) = (matches[0].User, matches[0].Org);
        var url = await links.CreateAsync(user, "cli", context.CancellationToken);
        context.Out.WriteLine($"Admin sign-in: {url}");
        context.Error.WriteLine($"For {user.Name} ({SnakeCase.ValueOf(user.Role)} of {holderOrg.Name}); " +
                                $"valid for {AdminLoginLinks.Lifetime.TotalMinutes:0} minutes, usable once.");
        if (!user.CanOpenAdminSite)
            context.Error.WriteLine($"Note: {user.Name} is a {SnakeCase.ValueOf(user.Role)}; the admin pages will refuse them " +
                                    "until an owner makes them an admin (or a viewer, to read).");
        return Commands.Ok;
    }

    static int Fail(CommandContext context, string message)
    {
        context.Error.WriteLine(message);
        return Commands.BadUsage;
    }
}
