using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Use60.Tests.Infrastructure;

/// <summary>The real app, listening with Kestrel on 127.0.0.1 on a free port, on a test database.</summary>
public sealed class Use60App : WebApplicationFactory<Program>
{
    readonly TestDatabase database;
    readonly Dictionary<string, string?> settings;
    readonly TimeProvider? clock;
    readonly Action<IServiceCollection>? configureServices;

    public Use60App(TestDatabase database, IReadOnlyDictionary<string, string?>? settings = null, TimeProvider? clock = null,
        Action<IServiceCollection>? configureServices = null)
    {
        this.database = database;
        this.clock = clock;
        this.configureServices = configureServices;
        this.settings = new Dictionary<string, string?>
        {
            ["Database:Url"] = database.AppConnectionString,
            ["Database:OwnerUrl"] = database.OwnerConnectionString,
            ["Log:Level"] = "Warning",
            ["Use60:PublicUrl"] = "http://127.0.0.1:5175",
            // The scheduler runs only where a test asks for it: on real time it would write to reps mid-test.
            ["Jobs:Enabled"] = "false",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>()) this.settings[key] = value;
        UseKestrel(0);
    }

    public TestDatabase Database => database;

    /// <summary>Where Kestrel listens (starting the server on first use).</summary>
    public Uri BaseAddress
    {
        get
        {
            StartServer();
            var addresses = Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
            return new Uri(addresses.Single());
        }
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        builder.UseUrls("http://127.0.0.1:0");
        builder.ConfigureAppConfiguration(configuration => configuration.AddInMemoryCollection(settings));
        if (clock is not null) builder.ConfigureServices(services => services.AddSingleton(clock));
        if (configureServices is not null) builder.ConfigureServices(configureServices);
    }

    /// <summary>A browser-like client: keeps cookies.</summary>
    public HttpClient Browser() => Create(handleCookies: true);

    public HttpClient Client() => Create(handleCookies: false);

    /// <summary>A real HTTP client over sockets to the Kestrel address; it does not follow redirects (tests look at them).</summary>
    HttpClient Create(bool handleCookies) => new(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = handleCookies })
    {
        BaseAddress = BaseAddress,
    };

    public T Service<T>() where T : notnull => Services.GetRequiredService<T>();
}
