using System.Globalization;

namespace Use60.Crm;

public static class Money
{
    /// <summary>A whole amount as reps read it: $1,241,000 · €85,000 · CHF 12,000.</summary>
    public static string Format(decimal amount, string currency) =>
        (currency switch { "USD" => "$", "EUR" => "€", "GBP" => "£", _ => currency + " " }) + amount.ToString("#,0", CultureInfo.InvariantCulture);
}
