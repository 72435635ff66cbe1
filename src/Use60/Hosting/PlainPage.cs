using System.Text.Encodings.Web;

namespace Use60.Hosting;

/// <summary>A one-paragraph page in the admin site's style, for where a browser lands outside it (OAuth callbacks).</summary>
public static class PlainPage
{
    public static IResult Result(int status, string title, string text) => Results.Content($"""
        <!doctype html><html lang="en"><head><meta charset="utf-8"><title>{HtmlEncoder.Default.Encode(title)} · use60</title>
        <meta name="viewport" content="width=device-width, initial-scale=1"><link rel="stylesheet" href="/admin/admin.css"></head>
        <body><main class="narrow"><h1>{HtmlEncoder.Default.Encode(title)}</h1><p>{HtmlEncoder.Default.Encode(text)}</p></main></body></html>
        """, "text/html; charset=utf-8", statusCode: status);
}
