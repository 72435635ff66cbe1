using System.Text.RegularExpressions;
using Use60.Hosting;
using Use60.Tests.Infrastructure;
using YamlDotNet.RepresentationModel;

namespace Use60.Tests;

/// <summary>
/// No Docker engine or cluster runs here, so the deployment files are checked by reading them: ports, probes
/// and variable names must agree with the app's own configuration.
/// </summary>
public sealed partial class DeploymentFilesTests
{
    static readonly string Root = AppProcess.RepositoryRoot;

    static YamlMappingNode Manifest(string file)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(File.ReadAllText(Path.Combine(Root, "manifests", file))));
        return (YamlMappingNode)stream.Documents.Single().RootNode;
    }

    static YamlNode At(YamlNode node, params object[] path)
    {
        foreach (var step in path)
            node = step is int index ? ((YamlSequenceNode)node)[index] : ((YamlMappingNode)node)[new YamlScalarNode((string)step)];
        return node;
    }

    static string Scalar(YamlNode node, params object[] path) => ((YamlScalarNode)At(node, path)).Value!;

    static IEnumerable<string> Keys(YamlNode node) => ((YamlMappingNode)node).Children.Keys.Select(k => ((YamlScalarNode)k).Value!);

    static YamlNode Container => At(Manifest("deployment.yaml"), "spec", "template", "spec", "containers", 0);

    static string Dockerfile => File.ReadAllText(Path.Combine(Root, "Dockerfile"));

    [Fact]
    public void The_deployment_runs_two_replicas_probed_on_the_apps_own_health_paths()
    {
        var deployment = Manifest("deployment.yaml");
        Assert.Equal("2", Scalar(deployment, "spec", "replicas"));
        Assert.Equal(Health.ReadyPath, Scalar(Container, "readinessProbe", "httpGet", "path"));
        Assert.Equal(Health.LivePath, Scalar(Container, "livenessProbe", "httpGet", "path"));
        Assert.Equal(Health.LivePath, Scalar(Container, "startupProbe", "httpGet", "path"));
        var port = (YamlMappingNode)At(Container, "ports", 0);
        foreach (var probe in new[] { "readinessProbe", "livenessProbe", "startupProbe" })
            Assert.Contains(Scalar(Container, probe, "httpGet", "port"), new[] { Scalar(port, "name"), Scalar(port, "containerPort") });
        Assert.Equal("8080", Scalar(port, "containerPort"));
        foreach (var resource in new[] { "requests", "limits" })
            Assert.Equal(["cpu", "memory"], Keys(At(Container, "resources", resource)).Order());
        Assert.Equal("true", Scalar(deployment, "spec", "template", "spec", "securityContext", "runAsNonRoot"));
        Assert.Equal("false", Scalar(Container, "securityContext", "allowPrivilegeEscalation"));
    }

    [Fact]
    public void The_dockerfile_builds_with_the_sdk_runs_on_aspnet_as_a_non_root_user_on_the_deployments_port()
    {
        var froms = FromLine().Matches(Dockerfile).Select(m => m.Groups[1].Value).ToList();
        Assert.StartsWith("mcr.microsoft.com/dotnet/sdk:10.0", froms.First());
        Assert.StartsWith("mcr.microsoft.com/dotnet/aspnet:10.0", froms.Last());
        var user = Assert.Single(UserLine().Matches(Dockerfile)).Groups[1].Value;
        Assert.DoesNotMatch("^(root|0)$", user);
        var port = Scalar((YamlMappingNode)At(Container, "ports", 0), "containerPort");
        Assert.Matches($@"(?m)^EXPOSE {port}$", Dockerfile);
        Assert.Contains($"ASPNETCORE_URLS=http://+:{port}", Dockerfile);
        Assert.Matches($@"(?ms)^HEALTHCHECK .*http://127\.0\.0\.1:{port}{Health.LivePath}", Dockerfile);
        Assert.Contains("ENTRYPOINT [\"dotnet\", \"Use60.dll\"]", Dockerfile);
    }

    [Fact]
    public void The_service_and_ingress_reach_the_container_port()
    {
        var servicePort = (YamlMappingNode)At(Manifest("service.yaml"), "spec", "ports", 0);
        var containerPort = (YamlMappingNode)At(Container, "ports", 0);
        Assert.Contains(Scalar(servicePort, "targetPort"), new[] { Scalar(containerPort, "name"), Scalar(containerPort, "containerPort") });
        Assert.Equal(Scalar(Manifest("deployment.yaml"), "spec", "selector", "matchLabels", "app.kubernetes.io/name"),
            Scalar(Manifest("service.yaml"), "spec", "selector", "app.kubernetes.io/name"));

        var backend = At(Manifest("ingress.yaml"), "spec", "rules", 0, "http", "paths", 0, "backend", "service");
        Assert.Equal(Scalar(Manifest("service.yaml"), "metadata", "name"), Scalar(backend, "name"));
        Assert.Equal(Scalar(servicePort, "name"), Scalar(backend, "port", "name"));
    }

    [Fact]
    public void The_configmap_holds_every_plain_setting_and_the_secret_example_every_secret_and_nothing_else()
    {
        var plain = EnvironmentVariables.All.Where(v => !v.Secret).Select(v => v.Name).ToHashSet();
        var secret = EnvironmentVariables.All.Where(v => v.Secret).Select(v => v.Name).ToHashSet();
        var config = Keys(At(Manifest("configmap.yaml"), "data")).ToList();
        var secrets = Keys(At(Manifest("secret.example.yaml"), "stringData")).ToList();

        Assert.DoesNotContain(config, k => !plain.Contains(k) && !k.StartsWith("ASPNETCORE_"));
        Assert.Empty(plain.Except(config));
        Assert.Empty(secret.Intersect(config));
        Assert.Equal(secret.Order(), secrets.Order());

        var envFrom = (YamlSequenceNode)At(Container, "envFrom");
        Assert.Equal(Scalar(Manifest("configmap.yaml"), "metadata", "name"), Scalar(envFrom[0], "configMapRef", "name"));
        Assert.Equal(Scalar(Manifest("secret.example.yaml"), "metadata", "name"), Scalar(envFrom[1], "secretRef", "name"));
        Assert.Equal("Production", Scalar(Manifest("configmap.yaml"), "data", "ASPNETCORE_ENVIRONMENT"));
    }

    [Fact]
    public void Kustomize_applies_the_manifests_that_exist_and_never_the_secret_example()
    {
        var resources = ((YamlSequenceNode)At(Manifest("kustomization.yaml"), "resources")).Select(n => ((YamlScalarNode)n).Value!).ToList();
        Assert.All(resources, file => Assert.True(File.Exists(Path.Combine(Root, "manifests", file)), $"{file} does not exist"));
        Assert.Equal(["configmap.yaml", "deployment.yaml", "ingress.yaml", "service.yaml"], resources.Order());
        Assert.DoesNotContain("secret.example.yaml", resources);
    }

    [GeneratedRegex(@"(?m)^FROM\s+(\S+)")]
    private static partial Regex FromLine();

    [GeneratedRegex(@"(?m)^USER\s+(\S+)")]
    private static partial Regex UserLine();
}
