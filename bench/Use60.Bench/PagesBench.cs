using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using AngleSharp.Html.Dom;
using AngleSharp.Html.Parser;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Use60.Admin;
using Use60.Data;
using Use60.Demo;
using Use60.Orgs;
using Use60.Tests.Infrastructure;

namespace Use60.Bench;

/// <summary>One admin page and where the bench found it: the navigation (its title) or the app's routes.</summary>
public sealed record AdminPage(string Path, string? NavTitle);

/// <summary>What one page measured: its status (the first that was not 200, if any), the timings in ms, its size and its database round trips.</summary>
public sealed record PageTiming(AdminPage Page, int Status, double P50, double P95, double Max, long Bytes, long RoundTrips)
{
    public bool Ok => Status == 200 && P95 < PagesBench.TargetMs;
}

/// <summary>
/// scripts/bench.sh pages: the demo org (the app's own <see cref="DemoSeeder"/>) in the Release build of the app, served by Kestrel on
/// 127.0.0.1 with the scheduler off, and an owner signed in through a one-time link exactly as a person does (open it, press Continue).
/// Every admin page is found in the app itself: each <see cref="AdminNavItem"/>, and every Razor page under /admin that needs the
/// admin-site policy, so a page added later is measured without a change here. Each page is requested <see cref="Warmup"/> times, then
/// --requests times (50 by default), one request at a time on a kept-alive connection, timed to the last byte of the body. The app's
/// connections go through a proxy that counts round trips to PostgreSQL. Exits non-zero if a page does not answer 200 or its p95 is not
/// under <see cref="TargetMs"/>.
/// </summary>
public static class PagesBench
{
    public const string Usage = "pages [--requests N] [--out FILE]";
    public const double TargetMs = 200;
    const int Warmup = 5;

    /// <summary>
    /// Pages whose route needs a parameter, as the demo data fills it in: route template → path, e.g.
    /// <c>["/admin/deals/{id}"] = $"/admin/deals/{DemoData.Id("deal:0")}"</c>. A parameterised page missing here stops the bench.
    /// </summary>
    static readonly Dictionary<string, string> ParameterPaths = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Admin-policy pages that a signed-in owner is not meant to see, and why.</summary>
    static readonly Dictionary<string, string> NotForSignedInOwner = new(StringComparer.OrdinalIgnoreCase)
    {
        ["/admin/2fa"] = "asks for the code only while a sign-in still owes its second factor; a signed-in owner is sent on to /admin",
    };

    public static async Task<int> MainAsync(BenchOptions options)
    {
        var requests = options.Number("--requests", 50);
        if (requests < 1)
        {
            Console.Error.WriteLine("--requests must be at least 1");
            return 2;
        }
        var total = Stopwatch.StartNew();
        await using var database = await BenchDatabase.CreateAsync(BenchCluster.FromEnvironment(), "use60_bench_pages", CancellationToken.None);
        await using var proxy = new TcpProxy(database.Port);
        var settings = database.Settings(proxy);
        settings["Jobs:Enabled"] = "false";
        // Two-step sign-in's enrolment page seals its secret with the master key; without one it has nothing to show.
        settings["Privacy:MasterKey"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        await using var app = new BenchApp(settings, kestrel: true);
        var address = app.BaseAddress;

        var seeding = Stopwatch.StartNew();
        var demo = await app.Services.GetRequiredService<DemoSeeder>().SeedAsync(CancellationToken.None);
        var seeded = seeding.Elapsed;
        Console.WriteLine($"pages: the demo org seeded in {seeded.TotalSeconds:0.0} s; the app listens on {address}");

        var (pages, unmeasurable) = Discover(app.Services);
        foreach (var (path, why) in NotForSignedInOwner) Console.WriteLine($"  not measured: {path} ({why})");
        foreach (var route in unmeasurable)
            Console.Error.WriteLine($"  cannot measure {route}: it needs a route parameter; add a demo path for it to PagesBench.ParameterPaths");

        using var browser = await SignedInAsync(app, address, demo.OrgId);
        Console.WriteLine($"  signed in as the demo org's owner; {pages.Count} pages, {Warmup} warm-up and {requests} measured requests each, " +
                          $"one at a time; target p95 under {TargetMs:0} ms");
        var timings = new List<PageTiming>();
        var load = (Before: BenchResults.LoadAverage(), After: (double?)null);
        foreach (var page in pages) timings.Add(await MeasureAsync(browser, proxy, page, requests));
        load.After = BenchResults.LoadAverage();

        Print(timings);
        if (load is ({ } before, { } after))
            Console.WriteLine($"load average {before:0.0} before and {after:0.0} after, on {Environment.ProcessorCount} cores" +
                              (timings.Any(t => !t.Ok) && Math.Max(before, after) > Environment.ProcessorCount
                                  ? ": other work was competing for the CPU; if only timings failed, run again on a quieter machine"
                                  : ""));
        var results = new JsonObject
        {
            ["requests_per_page"] = requests,
            ["warmup_per_page"] = Warmup,
            ["target_p95_ms"] = TargetMs,
            ["pages_measured"] = timings.Count,
            ["all_ok"] = timings.All(t => t.Ok) && unmeasurable.Count == 0,
            ["slowest_p95_ms"] = timings.Max(t => t.P95),
            ["pages"] = new JsonArray([.. timings.Select(t => (JsonNode)new JsonObject
            {
                ["path"] = t.Page.Path,
                ["nav"] = t.Page.NavTitle,
                ["status"] = t.Status,
                ["p50_ms"] = t.P50,
                ["p95_ms"] = t.P95,
                ["max_ms"] = t.Max,
                ["bytes"] = t.Bytes,
                ["db_roundtrips"] = t.RoundTrips,
                ["under_target"] = t.P95 < TargetMs,
            })]),
            ["not_measured"] = new JsonArray([.. NotForSignedInOwner.Select(n => (JsonNode)new JsonObject { ["path"] = n.Key, ["why"] = n.Value })]),
            ["load_average_before"] = load.Before,
            ["load_average_after"] = load.After,
            ["seed_s"] = Math.Round(seeded.TotalSeconds, 2),
            ["total_s"] = Math.Round(total.Elapsed.TotalSeconds, 2),
        };
        await BenchResults.WriteAsync(results, options.Output("pages.json"));

        foreach (var t in timings.Where(t => !t.Ok))
            Console.Error.WriteLine(t.Status != 200 ? $"{t.Page.Path} answered {t.Status}, not 200" : $"{t.Page.Path}: p95 {t.P95} ms is not under {TargetMs:0} ms");
        return timings.All(t => t.Ok) && unmeasurable.Count == 0 ? 0 : 1;
    }

    /// <summary>
    /// The navigation's pages in its order, then every other Razor page under /admin that needs the admin-site policy (not the sign-in
    /// pages, which allow anyone), by path; and the parameterised routes that <see cref="ParameterPaths"/> does not fill in.
    /// </summary>
    static (List<AdminPage> Pages, List<string> Unmeasurable) Discover(IServiceProvider services)
    {
        var pages = services.GetServices<AdminNavItem>().OrderBy(item => item.Order).Select(item => new AdminPage(item.Path, item.Title)).ToList();
        var unmeasurable = new List<string>();
        var routes = services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<PageActionDescriptor>() is not null && e.Metadata.GetMetadata<IAllowAnonymous>() is null &&
                        e.Metadata.GetOrderedMetadata<IAuthorizeData>().Any(a => a.Policy == AdminFeature.Policy))
            .Select(e => (Template: "/" + e.RoutePattern.RawText!.Trim('/'), Required: e.RoutePattern.Parameters.Any(p => !p.IsOptional && p.Default is null)))
            .Where(route => route.Template.StartsWith("/admin", StringComparison.OrdinalIgnoreCase))
            .DistinctBy(route => route.Template, StringComparer.OrdinalIgnoreCase)
            .OrderBy(route => route.Template, StringComparer.Ordinal);
        foreach (var (template, required) in routes)
        {
            var path = !required ? template : ParameterPaths.GetValueOrDefault(template);
            if (path is null) unmeasurable.Add(template);
            else if (!NotForSignedInOwner.ContainsKey(path) && !pages.Any(p => string.Equals(p.Path, path, StringComparison.OrdinalIgnoreCase)))
                pages.Add(new AdminPage(path, null));
        }
        return (pages, unmeasurable);
    }

    /// <summary>A cookie-keeping client signed in as the demo org's owner through a one-time link: opened, then Continue pressed.</summary>
    static async Task<HttpClient> SignedInAsync(BenchApp app, Uri address, Guid orgId)
    {
        AppUser owner;
        await using (var db = app.Services.GetRequiredService<SystemDb>().Open("bench: the demo org's owner"))
            owner = await db.Users.AsNoTracking().Where(u => u.OrgId == orgId && u.Role == UserRole.Owner).OrderBy(u => u.CreatedAt).FirstAsync();
        var link = (await app.Services.GetRequiredService<AdminLoginLinks>().CreateAsync(owner, "cli", CancellationToken.None)).PathAndQuery;

        var browser = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = true }) { BaseAddress = address };
        using var page = await browser.GetAsync(link);
        var form = new HtmlParser().ParseDocument(await page.Content.ReadAsStringAsync()).QuerySelector("main form");
        if (page.StatusCode != HttpStatusCode.OK || form is null)
            throw new InvalidOperationException($"The sign-in link answered {(int)page.StatusCode} with no Continue form.");
        var fields = form.QuerySelectorAll("input").OfType<IHtmlInputElement>().Select(input => KeyValuePair.Create(input.Name!, input.Value));
        using var signIn = await browser.PostAsync(link, new FormUrlEncodedContent(fields));
        if (signIn.StatusCode != HttpStatusCode.Redirect || signIn.Headers.Location?.OriginalString != "/admin")
            throw new InvalidOperationException($"Continue answered {(int)signIn.StatusCode} (to {signIn.Headers.Location}), not a redirect to /admin.");
        return browser;
    }

    static async Task<PageTiming> MeasureAsync(HttpClient browser, TcpProxy proxy, AdminPage page, int requests)
    {
        var status = 200;
        var (elapsed, roundTrips) = (new List<double>(requests), new List<long>(requests));
        long bytes = 0;
        for (var i = 0; i < Warmup + requests; i++)
        {
            var trips = proxy.RoundTrips;
            var watch = Stopwatch.StartNew();
            using var response = await browser.GetAsync(page.Path);
            var body = await response.Content.ReadAsByteArrayAsync();
            watch.Stop();
            if (status == 200) status = (int)response.StatusCode;
            if (i < Warmup) continue;
            elapsed.Add(watch.Elapsed.TotalMilliseconds);
            roundTrips.Add(proxy.RoundTrips - trips);
            bytes = body.Length;
        }
        elapsed.Sort();
        roundTrips.Sort();
        // Round trips: the median request's, so that a background worker's poll landing in one request does not count.
        return new PageTiming(page, status, Percentile(elapsed, 50), Percentile(elapsed, 95), Math.Round(elapsed[^1], 1), bytes,
            roundTrips[roundTrips.Count / 2]);
    }

    /// <summary>Nearest rank: the smallest value at least <paramref name="percent"/> % of the values are at or below.</summary>
    static double Percentile(List<double> sorted, int percent) =>
        Math.Round(sorted[Math.Max(0, (int)Math.Ceiling(percent / 100.0 * sorted.Count) - 1)], 1);

    static void Print(IReadOnlyList<PageTiming> timings)
    {
        var width = Math.Max(4, timings.Max(t => t.Page.Path.Length));
        Console.WriteLine();
        Console.WriteLine($"{"page".PadRight(width)}  status  p50 ms  p95 ms  max ms     bytes  db trips  p95 < {TargetMs:0} ms");
        foreach (var t in timings)
            Console.WriteLine($"{t.Page.Path.PadRight(width)}  {t.Status,6}  {t.P50,6:0.0}  {t.P95,6:0.0}  {t.Max,6:0.0}  {t.Bytes,8}  {t.RoundTrips,8}  " +
                              (t.P95 < TargetMs ? "yes" : "NO"));
        Console.WriteLine();
        var failing = timings.Count(t => !t.Ok);
        Console.WriteLine(failing == 0
            ? $"all {timings.Count} pages answered 200 with p95 under {TargetMs:0} ms (slowest p95 {timings.Max(t => t.P95):0.0} ms)"
            : $"{failing} of {timings.Count} pages failed: not 200, or p95 not under {TargetMs:0} ms");
    }
}
