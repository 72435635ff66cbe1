using System.Reflection;
using Microsoft.Extensions.Options;

namespace Use60.Hosting;

/// <summary>An options class that can say, in words a person can act on, what is wrong with it.</summary>
public interface IValidatedOptions
{
    IEnumerable<string> Validate();
}

public static class ValidatedOptions
{
    /// <summary>Binds <typeparamref name="T"/> to its [ConfigSection] and validates it when the app starts.</summary>
    public static IServiceCollection AddValidatedOptions<T>(this IServiceCollection services, IConfiguration configuration)
        where T : class, IValidatedOptions
    {
        services.AddOptions<T>().Bind(configuration.GetSection(SectionOf<T>())).ValidateOnStart();
        services.AddSingleton<IValidateOptions<T>, Validator<T>>();
        return services;
    }

    public static string SectionOf<T>() =>
        typeof(T).GetCustomAttribute<ConfigSectionAttribute>()?.Name
        ?? throw new InvalidOperationException($"{typeof(T).Name} has no [ConfigSection]");

    /// <summary>What a user calls a setting: its environment variable, or Section__Key when it has none.</summary>
    public static string NameOf<T>(string property) =>
        typeof(T).GetProperty(property)?.GetCustomAttribute<EnvironmentVariableAttribute>()?.Name
        ?? $"{SectionOf<T>()}__{property}";

    /// <summary>Reads an options class now, outside the container (commands, start-up checks), with the same validation.</summary>
    public static T Read<T>(IConfiguration configuration) where T : class, IValidatedOptions, new()
    {
        var options = configuration.GetSection(SectionOf<T>()).Get<T>() ?? new T();
        var failures = options.Validate().ToList();
        if (failures.Count > 0) throw new OptionsValidationException(typeof(T).Name, typeof(T), failures);
        return options;
    }

    public static bool IsHttpUrl(string? value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps);

    /// <summary>Settings that only work together: one set without the other is a mistake worth stopping for.</summary>
    public static IEnumerable<string> Pair<T>(string? first, string firstProperty, string? second, string secondProperty, string purpose)
    {
        if (string.IsNullOrWhiteSpace(first) != string.IsNullOrWhiteSpace(second))
        {
            var (set, missing) = string.IsNullOrWhiteSpace(first) ? (secondProperty, firstProperty) : (firstProperty, secondProperty);
            yield return $"{NameOf<T>(set)} is set but {NameOf<T>(missing)} is not: {purpose} needs both.";
        }
    }

    sealed class Validator<T> : IValidateOptions<T> where T : class, IValidatedOptions
    {
        public ValidateOptionsResult Validate(string? name, T options)
        {
            var failures = options.Validate().ToList();
            return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
        }
    }
}
