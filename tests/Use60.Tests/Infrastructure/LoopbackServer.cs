using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;

namespace Use60.Tests.Infrastructure;

/// <summary>The HTTP peers the tests stand up in place of Slack, Google and the LLM endpoint: Kestrel on 127.0.0.1 only, quiet.</summary>
public static class LoopbackServer
{
    public static WebApplication Create()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        return builder.Build();
    }

    /// <summary>Starts it on a free port; returns its base address, ending with a slash.</summary>
    public static async Task<Uri> StartAsync(WebApplication app)
    {
        await app.StartAsync();
        return new Uri(app.Urls.Single().TrimEnd('/') + "/");
    }
}
