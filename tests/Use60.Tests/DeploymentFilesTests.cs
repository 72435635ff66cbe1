using System.Text.Json;
using System.Text.RegularExpressions;
using Use60.Hosting;
using Xunit.Sdk;
using Use60.Tests.Infrastructure;
using YamlDotNet.RepresentationModel;

namespace Use60.Tests;

/// <summary>
/// No Docker engine or cluster runs here, so the Dockerfile and manifests/ are checked by reading them: ports,
/// probes and variable names must agree with each other and with the app's own configuration.
/// </summary>
public sealed class DeploymentFilesTests
{
    static readonly string Root = AppProcess.RepositoryRoot;
    static Yaml Deployment => Load("deployment.yaml");
    static Yaml Container => Deployment.At("spec", "template", "spec", "containers", 0);

    static IEnumerable<string> PlainVariables => EnvironmentVariables.All.Where(v => !v.Secret).Select(v => v.Name);
    static IEnumerable<string> SecretVariables => EnvironmentVariables.All.Where(v => v.Secret).Select(v => v.Name);

    [Fact]
    public void The_deployment_runs_two_replicas() =>
        Assert.True(Deployment.Scalar("spec", "replicas") == "2", "deployment.yaml: spec.replicas must be 2");

    [Fact]
    public void The_probes_use_the_apps_own_health_paths()
    {
        AssertScalar(Health.ReadyPath, Container, "readinessProbe", "httpGet", "path");
        AssertScalar(Health.LivePath, Container, "livenessProbe", "httpGet", "path");
        AssertScalar(Health.LivePath, Container, "startupProbe", "httpGet", "path");
    }

    [Fact]
    public void The_probes_target_a_declared_container_port()
    {
        foreach (var probe in new[] { "readinessProbe", "livenessProbe", "startupProbe" })
        {
            var port = Container.Scalar(probe, "httpGet", "port");
            Assert.True(FindContainerPort(port) is not null, $"deployment.yaml: {probe} uses port '{port}', which is no containerPort (by name or number)");
        }
    }

    [Fact]
    public void The_container_port_is_the_port_the_image_listens_on_and_exposes()
    {
        var port = HttpPort().Scalar("containerPort");
        Assert.True(port == "8080", $"deployment.yaml: the http containerPort is {port}, expected 8080");
        var env = Dockerfile.Env();
        Assert.True(env.ContainsKey("ASPNETCORE_URLS"), "Dockerfile: the runtime stage sets no ASPNETCORE_URLS");
        foreach (var name in new[] { "ASPNETCORE_URLS", "URLS" }.Where(env.ContainsKey))
            Assert.True(Regex.Match(env[name], @":(\d+)/?$").Groups[1].Value == port, $"Dockerfile: {name}={env[name]} does not listen on port {port}");
        Assert.True(Dockerfile.Final("EXPOSE").Any(e => e.Split(' ', '/').Contains(port)), $"Dockerfile: no EXPOSE {port}");
    }

    [Fact]
    public void No_appsettings_urls_outranks_the_images_ASPNETCORE_URLS()
    {
        // WebApplication reads ASPNETCORE_URLS before appsettings.json, whose "Urls" would win and pin the container to
        // loopback; only the plain URLS variable, read after appsettings.json, would override that again.
        using var settings = JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "src", "Use60", "appsettings.json")),
            new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        if (settings.RootElement.TryGetProperty("Urls", out var urls))
            Assert.True(Dockerfile.Env().ContainsKey("URLS"),
                $"appsettings.json sets Urls={urls}, which outranks the image's ASPNETCORE_URLS: remove it (or set URLS in the Dockerfile)");
    }

    [Fact]
    public void The_container_has_resource_requests_and_limits()
    {
        foreach (var kind in new[] { "requests", "limits" })
            foreach (var resource in new[] { "cpu", "memory" })
                Assert.False(string.IsNullOrWhiteSpace(Container.Scalar("resources", kind, resource)), $"deployment.yaml: resources.{kind}.{resource} is empty");
    }

    [Fact]
    public void The_pod_runs_as_a_non_root_user_that_cannot_escalate()
    {
        AssertScalar("true", Deployment, "spec", "template", "spec", "securityContext", "runAsNonRoot");
        Assert.True(Deployment.Scalar("spec", "template", "spec", "securityContext", "runAsUser") != "0", "deployment.yaml: runAsUser is 0 (root)");
        AssertScalar("false", Container, "securityContext", "allowPrivilegeEscalation");
        AssertScalar("true", Container, "securityContext", "readOnlyRootFilesystem");
    }

    [Fact]
    public void The_container_reads_its_environment_from_the_configmap_and_the_secret()
    {
        foreach (var (reference, file) in new[] { ("configMapRef", "configmap.yaml"), ("secretRef", "secret.example.yaml") })
        {
            var name = Load(file).Scalar("metadata", "name");
            var names = Container.Items("envFrom").Where(e => e.Has(reference)).Select(e => e.Scalar(reference, "name")).ToList();
            Assert.True(names.Contains(name), $"deployment.yaml: envFrom has no {reference} to '{name}' of {file} (has: {string.Join(", ", names)})");
        }
    }

    [Fact]
    public void The_service_targets_the_container_port()
    {
        foreach (var port in Load("service.yaml").Items("spec", "ports"))
            Assert.True(FindContainerPort(port.Scalar("targetPort")) == HttpPort().Scalar("containerPort"),
                $"service.yaml: targetPort '{port.Scalar("targetPort")}' is not the container's http port (name or number)");
    }

    [Fact]
    public void The_ingress_routes_to_a_port_of_the_service()
    {
        var service = Load("service.yaml");
        var servicePorts = service.Items("spec", "ports").SelectMany(p => new[] { p.Scalar("port"), p.Optional("name") }).ToList();
        foreach (var backend in Load("ingress.yaml").Items("spec", "rules").SelectMany(r => r.Items("http", "paths")).Select(p => p.At("backend", "service")))
        {
            AssertScalar(service.Scalar("metadata", "name"), backend, "name");
            var port = backend.Optional("port", "number") ?? backend.Scalar("port", "name");
            Assert.True(servicePorts.Contains(port), $"ingress.yaml: backend port '{port}' is no port of service.yaml");
        }
    }

    [Fact]
    public void The_configmap_holds_only_plain_settings_and_aspnetcore_variables()
    {
        var keys = Load("configmap.yaml").Keys("data");
        AssertNone(keys.Intersect(SecretVariables), "configmap.yaml holds secrets, which belong in the Secret");
        AssertNone(keys.Except(PlainVariables).Where(k => !k.StartsWith("ASPNETCORE_", StringComparison.Ordinal)),
            "configmap.yaml holds variables that are neither in EnvironmentVariables.All nor ASPNETCORE_*");
    }

    [Fact]
    public void The_configmap_holds_every_plain_setting() =>
        AssertNone(PlainVariables.Except(Load("configmap.yaml").Keys("data")), "configmap.yaml lacks these non-secret variables of EnvironmentVariables.All");

    [Fact]
    public void The_secret_example_lists_exactly_the_secret_variables()
    {
        var keys = Load("secret.example.yaml").Keys("stringData");
        AssertNone(keys.Except(SecretVariables), "secret.example.yaml holds keys that are not Secret=true variables");
        AssertNone(SecretVariables.Except(keys), "secret.example.yaml lacks these Secret=true variables of EnvironmentVariables.All");
    }

    [Fact]
    public void Kustomize_applies_files_that_exist_and_never_the_secret_example()
    {
        var resources = Load("kustomization.yaml").Items("resources").Select(r => r.Scalar()).ToList();
        foreach (var file in resources)
            Assert.True(File.Exists(Path.Combine(Root, "manifests", file)), $"kustomization.yaml lists {file}, which does not exist");
        Assert.False(resources.Contains("secret.example.yaml"), "kustomization.yaml must not apply secret.example.yaml (placeholder credentials)");
    }

    [Fact]
    public void The_dockerfile_builds_with_the_sdk_and_runs_on_aspnet()
    {
        var froms = Dockerfile.Instructions.Where(i => i.Keyword == "FROM").Select(i => i.Arguments).ToList();
        Assert.True(froms.Count >= 2, "Dockerfile: expected a build stage and a runtime stage");
        Assert.True(froms[0].StartsWith("mcr.microsoft.com/dotnet/sdk:10.0"), $"Dockerfile: the build stage is FROM {froms[0]}, not the .NET 10 SDK");
        Assert.True(froms[^1].StartsWith("mcr.microsoft.com/dotnet/aspnet:10.0"), $"Dockerfile: the final stage is FROM {froms[^1]}, not the ASP.NET runtime");
    }

    [Fact]
    public void The_dockerfile_runs_as_a_non_root_user_and_checks_healthz()
    {
        var user = Dockerfile.Final("USER").LastOrDefault();
        Assert.True(user is not null, "Dockerfile: the final stage has no USER line, so it runs as root");
        Assert.False(user.Split(':')[0] is "root" or "0", $"Dockerfile: USER {user} is root");
        var healthcheck = Dockerfile.Final("HEALTHCHECK").LastOrDefault() ?? "";
        var port = HttpPort().Scalar("containerPort");
        Assert.True(healthcheck.Contains($":{port}{Health.LivePath}"), $"Dockerfile: no HEALTHCHECK on {Health.LivePath} at port {port}");
    }

    static void AssertScalar(string expected, Yaml yaml, params object[] path)
    {
        var actual = yaml.Scalar(path);
        Assert.True(actual == expected, $"{yaml.File}: {Yaml.Describe(yaml.Trail.Concat(path))} is '{actual}', expected '{expected}'");
    }

    static void AssertNone(IEnumerable<string> found, string message) =>
        Assert.True(!found.Any(), $"{message}: {string.Join(", ", found)}");

    static Yaml HttpPort() => Container.Items("ports").FirstOrDefault(p => p.Optional("name") == "http")
        ?? throw new XunitException("deployment.yaml: the container declares no port named http");

    /// <summary>The containerPort a probe or service port refers to, by name or number; null when none matches.</summary>
    static string? FindContainerPort(string nameOrNumber) => Container.Items("ports")
        .Where(p => p.Scalar("containerPort") == nameOrNumber || p.Optional("name") == nameOrNumber)
        .Select(p => p.Scalar("containerPort")).FirstOrDefault();


    /// <summary>The one YAML document of manifests/FILE.</summary>
    static Yaml Load(string file)
    {
        var stream = new YamlStream();
        using (var reader = new StreamReader(Path.Combine(Root, "manifests", file))) stream.Load(reader);
        Assert.True(stream.Documents.Count == 1, $"{file}: expected one YAML document, found {stream.Documents.Count}");
        return new Yaml(file, [], stream.Documents[0].RootNode);
    }

    /// <summary>A node of a YAML file, navigated by mapping keys (string) and sequence indexes (int).</summary>
    sealed record Yaml(string File, object[] Trail, YamlNode Node)
    {
        public static string Describe(IEnumerable<object> path) => string.Join("", path.Select(s => s is int i ? $"[{i}]" : $".{s}")).TrimStart('.');
        string Where(object[] path) => $"{File}: {Describe(Trail.Concat(path))}";
        public bool Has(params object[] path) => TryAt(path) is not null;
        public string? Optional(params object[] path) => Has(path) ? Scalar(path) : null;
        public Yaml At(params object[] path) => TryAt(path) ?? throw new XunitException($"{Where(path)} is missing");

        public string Scalar(params object[] path) => At(path).Node is YamlScalarNode { Value: { } value } ? value
            : throw new XunitException($"{Where(path)} is not a plain value");

        public IReadOnlyList<Yaml> Items(params object[] path) => At(path) is { Node: YamlSequenceNode items } at
            ? items.Select((_, i) => at.At(i)).ToList()
            : throw new XunitException($"{Where(path)} is not a list");

        public IReadOnlyList<string> Keys(params object[] path) => At(path).Node is YamlMappingNode map
            ? map.Children.Keys.Select(k => ((YamlScalarNode)k).Value!).ToList()
            : throw new XunitException($"{Where(path)} is not a mapping");

        Yaml? TryAt(object[] path)
        {
            YamlNode? node = Node;
            foreach (var step in path)
                node = (node, step) switch
                {
                    (YamlSequenceNode list, int i) when i < list.Children.Count => list[i],
                    (YamlMappingNode map, string key) when map.Children.TryGetValue(new YamlScalarNode(key), out var child) => child,
                    _ => null,
                };
            return node is null ? null : new Yaml(File, [.. Trail, .. path], node);
        }
    }

    static class Dockerfile
    {
        /// <summary>The Dockerfile's instructions, continuation lines joined, comments dropped, blanks squeezed.</summary>
        public static List<(string Keyword, string Arguments)> Instructions =>
            Regex.Replace(string.Join("\n", File.ReadAllLines(Path.Combine(Root, "Dockerfile")).Where(l => !l.TrimStart().StartsWith('#'))), @"\\\s*\n", " ")
                .Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0)
                .Select(l => (l.Split(' ')[0].ToUpperInvariant(), Regex.Replace(l[(l.IndexOf(' ') + 1)..], @"\s+", " ").Trim())).ToList();

        /// <summary>The arguments of KEYWORD's instructions in the final (runtime) stage.</summary>
        public static IEnumerable<string> Final(string keyword) =>
            Instructions.Skip(Instructions.FindLastIndex(i => i.Keyword == "FROM")).Where(i => i.Keyword == keyword).Select(i => i.Arguments);

        public static Dictionary<string, string> Env() =>
            Final("ENV").SelectMany(e => Regex.Matches(e, @"(\w+)=(\S+)"))
                .GroupBy(m => m.Groups[1].Value).ToDictionary(g => g.Key, g => g.Last().Groups[2].Value);
    }
}
