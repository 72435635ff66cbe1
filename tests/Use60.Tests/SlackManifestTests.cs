using Use60.Slack;
using Use60.Tests.Infrastructure;
using YamlDotNet.Serialization;

namespace Use60.Tests;

/// <summary>slack-app-manifest.yml and the listener registry of the running app must agree, both ways.</summary>
public sealed class SlackManifestTests(SlackAppFixture fixture) : IClassFixture<SlackAppFixture>
{
    static readonly Dictionary<object, object> Manifest = new DeserializerBuilder().Build()
        .Deserialize<Dictionary<object, object>>(File.ReadAllText(Path.Combine(AppProcess.RepositoryRoot, "slack-app-manifest.yml")));

    SlackListeners Listeners => fixture.App.Service<SlackListeners>();

    [Fact]
    public void Every_registered_command_is_in_the_manifest_and_every_manifest_command_is_handled()
    {
        var commands = Items(At("features", "slash_commands")).Select(c => (string)((Dictionary<object, object>)c)["command"]).ToHashSet();
        Assert.Equal(Listeners.Commands.ToHashSet(), commands);
        foreach (Dictionary<object, object> command in Items(At("features", "slash_commands")))
        {
            Assert.EndsWith("/slack/commands", (string)command["url"]);
            Assert.False(string.IsNullOrWhiteSpace((string)command["usage_hint"]));
            foreach (var hint in ((string)command["usage_hint"]).Split('|', StringSplitOptions.TrimEntries))
                Assert.NotNull(Listeners.FindSubcommand((string)command["command"], hint));
        }
    }

    [Fact]
    public void Every_registered_event_is_subscribed_and_every_subscribed_event_is_handled()
    {
        var subscribed = Items(At("settings", "event_subscriptions", "bot_events")).Cast<string>().ToHashSet();
        Assert.Equal(Listeners.Events.ToHashSet(), subscribed);
        Assert.EndsWith("/slack/events", (string)At("settings", "event_subscriptions", "request_url"));
    }

    [Fact]
    public void The_manifest_asks_for_exactly_the_scopes_the_code_uses_and_points_at_the_apps_endpoints()
    {
        Assert.Equal(SlackScopes.Bot.Order(StringComparer.Ordinal), Items(At("oauth_config", "scopes", "bot")).Cast<string>().Order(StringComparer.Ordinal));
        Assert.Equal(SlackScopes.SignIn.Order(StringComparer.Ordinal), Items(At("oauth_config", "scopes", "user")).Cast<string>().Order(StringComparer.Ordinal));
        var redirects = Items(At("oauth_config", "redirect_urls")).Cast<string>().ToList();
        Assert.Equal(2, redirects.Count);
        Assert.Contains(redirects, r => r.EndsWith("/slack/oauth/callback"));
        Assert.Contains(redirects, r => r.EndsWith(Admin.SlackSignIn.CallbackPath));
        Assert.Equal("true", At("settings", "interactivity", "is_enabled"));
        Assert.EndsWith("/slack/interactions", (string)At("settings", "interactivity", "request_url"));
        Assert.Equal(Listeners.HasOptions, ((Dictionary<object, object>)At("settings", "interactivity")).ContainsKey("message_menu_options_url"));
        Assert.EndsWith("/slack/options", (string)At("settings", "interactivity", "message_menu_options_url"));
        Assert.Equal("true", At("features", "app_home", "home_tab_enabled"));
        Assert.Equal("true", At("features", "app_home", "messages_tab_enabled"));
    }

    static object At(params string[] path) =>
        path.Aggregate((object)Manifest, (node, key) => ((Dictionary<object, object>)node).TryGetValue(key, out var next)
            ? next : throw new KeyNotFoundException($"slack-app-manifest.yml has no {string.Join('.', path)}"));

    static IEnumerable<object> Items(object node) => (List<object>)node;
}
