using System.Net;
using AngleSharp.Html.Dom;
using AngleSharp.Html.Parser;
using Use60.Admin;
using Use60.Orgs;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>The admin site over HTTP as a person uses it: a one-time link, Continue, then pages parsed as HTML.</summary>
static class AdminPages
{
    static readonly HtmlParser Parser = new();

    public static async Task<string> LinkPathAsync(Use60App app, AppUser user) =>
        (await app.Service<AdminLoginLinks>().CreateAsync(user, "cli", CancellationToken.None)).PathAndQuery;

    public static IHtmlDocument Parse(string html) => Parser.ParseDocument(html);

    public static async Task<IHtmlDocument> HtmlAsync(HttpResponseMessage response) => Parse(await response.Content.ReadAsStringAsync());

    /// <summary>What submitting a form sends: its inputs, hidden antiforgery token included, with <paramref name="typed"/> typed into its fields.</summary>
    public static FormUrlEncodedContent FormOf(IHtmlDocument page, string form, IReadOnlyDictionary<string, string>? typed = null)
    {
        var fields = page.QuerySelectorAll($"{form} input").OfType<IHtmlInputElement>().ToDictionary(input => input.Name!, input => input.Value);
        foreach (var (name, value) in typed ?? new Dictionary<string, string>()) fields[name] = value;
        return new FormUrlEncodedContent(fields);
    }

    /// <summary>A form's antiforgery token with the given fields: what a person filling the form in sends.</summary>
    public static FormUrlEncodedContent Filled(IHtmlDocument page, string form, params (string Name, string Value)[] fields) =>
        new([new("__RequestVerificationToken", page.QuerySelector($"{form} input[name=__RequestVerificationToken]")!.GetAttribute("value")!),
            .. fields.Select(f => new KeyValuePair<string, string>(f.Name, f.Value))]);

    /// <summary>Follows the link like a person: opens it, then presses Continue (a form POST with its antiforgery token).</summary>
    public static async Task<HttpResponseMessage> SignInAsync(HttpClient browser, string linkPath)
    {
        var page = await browser.GetAsync(linkPath);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        return await browser.PostAsync(linkPath, FormOf(await HtmlAsync(page), "main form"));
    }

    /// <summary>A cookie-keeping client signed in as <paramref name="user"/>.</summary>
    public static async Task<HttpClient> SignedInAsync(Use60App app, AppUser user)
    {
        var browser = app.Browser();
        Assert.Equal(HttpStatusCode.Redirect, (await SignInAsync(browser, await LinkPathAsync(app, user))).StatusCode);
        return browser;
    }

    /// <summary>A page that must answer 200, parsed.</summary>
    public static async Task<IHtmlDocument> PageAsync(HttpClient browser, string path)
    {
        var response = await browser.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await HtmlAsync(response);
    }
}
