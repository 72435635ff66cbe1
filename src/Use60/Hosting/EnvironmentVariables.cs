using System.Reflection;

namespace Use60.Hosting;

/// <summary>Names the configuration section an options class binds to.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class ConfigSectionAttribute(string name) : Attribute
{
    public string Name { get; } = name;
}

/// <summary>
/// Declares the conventional environment variable (DATABASE_URL, SLACK_BOT_TOKEN, ...) that sets an
/// options property. Each feature declares its own; the README, the Kubernetes manifests, the
/// configuration mapping and the log redaction all read this one list.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class EnvironmentVariableAttribute(string name, string description) : Attribute
{
    public string Name { get; } = name;
    public string Description { get; } = description;

    /// <summary>A secret's value is redacted from every log line and belongs in a Kubernetes Secret.</summary>
    public bool Secret { get; init; }
}

public sealed record EnvironmentVariable(string Name, string ConfigKey, string Description, bool Secret);

public static class EnvironmentVariables
{
    static readonly Lazy<IReadOnlyList<EnvironmentVariable>> all = new(() => Discover(typeof(EnvironmentVariables).Assembly));

    /// <summary>Every conventional variable the app reads, in declaration order per options class.</summary>
    public static IReadOnlyList<EnvironmentVariable> All => all.Value;

    public static IReadOnlyList<EnvironmentVariable> Discover(Assembly assembly) =>
        (from type in assembly.GetTypes()
         let section = type.GetCustomAttribute<ConfigSectionAttribute>()
         where section is not null
         from property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
         let variable = property.GetCustomAttribute<EnvironmentVariableAttribute>()
         where variable is not null
         orderby type.FullName, property.MetadataToken
         select new EnvironmentVariable(variable.Name, $"{section.Name}:{property.Name}", variable.Description, variable.Secret))
        .ToList();

    /// <summary>
    /// Maps the conventional names onto configuration keys, above appsettings.json and the
    /// <c>Section__Key</c> environment variables, so a value a user already exports wins.
    /// </summary>
    public static IConfigurationBuilder AddConventionalEnvironmentVariables(
        this IConfigurationBuilder builder, Func<string, string?>? lookup = null) =>
        builder.Add(new ConventionalVariablesSource(All, lookup ?? Environment.GetEnvironmentVariable));

    /// <summary>The values of every configured secret, for redaction, including passwords inside connection URLs.</summary>
    public static IReadOnlyCollection<string> SecretValues(IConfiguration configuration)
    {
        var values = new HashSet<string>(StringComparer.Ordinal);
        foreach (var variable in All.Where(v => v.Secret))
        {
            var value = configuration[variable.ConfigKey];
            if (string.IsNullOrWhiteSpace(value)) continue;
            values.Add(value);
            if (Data.DatabaseUrl.TryGetPassword(value, out var password)) values.Add(password);
        }
        return values;
    }

    sealed class ConventionalVariablesSource(IReadOnlyList<EnvironmentVariable> variables, Func<string, string?> lookup)
        : IConfigurationSource
    {
        public IConfigurationProvider Build(IConfigurationBuilder builder) => new Provider(variables, lookup);
    }

    sealed class Provider(IReadOnlyList<EnvironmentVariable> variables, Func<string, string?> lookup) : ConfigurationProvider
    {
        public override void Load()
        {
            var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
            foreach (var variable in variables)
            {
                var value = lookup(variable.Name);
                if (!string.IsNullOrEmpty(value)) data[variable.ConfigKey] = value;
            }
            Data = data;
        }
    }
}
