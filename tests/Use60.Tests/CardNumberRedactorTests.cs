using System.Text.Json.Nodes;
using Use60.Privacy;

namespace Use60.Tests;

/// <summary>The card-number redactor on the networks' public test numbers, and on the numbers it must leave alone.</summary>
public sealed class CardNumberRedactorTests
{
    const string Removed = CardNumbers.Placeholder;

    [Theory]
    [InlineData("4111 1111 1111 1111")] // Visa, spaced
    [InlineData("4242-4242-4242-4242")] // Visa, dashed
    [InlineData("4111111111111111")]
    [InlineData("378282246310005")] // Amex, 15 digits
    [InlineData("3782-822463-10005")] // Amex as printed (4-6-5)
    [InlineData("5555555555554444")] // Mastercard
    [InlineData("5555 5555 5555 4444")]
    [InlineData("6011111111111117")] // Discover
    [InlineData("36227206271667")] // Diners, 14 digits
    [InlineData("4222222222222")] // Visa, 13 digits
    [InlineData("6205500000000000004")] // UnionPay, 19 digits
    [InlineData("6205 5000 0000 0000 004")]
    [InlineData("4012888888881881888")] // 19 digits
    public void A_test_card_number_is_removed_wherever_it_sits_in_the_text(string number)
    {
        Assert.Equal(Removed, CardNumbers.Redact(number));
        Assert.Equal($"My card is {Removed}, exp 12/29.", CardNumbers.Redact($"My card is {number}, exp 12/29."));
        Assert.Equal($"({Removed})", CardNumbers.Redact($"({number})"));
        Assert.Equal($"card:{Removed}\nthanks", CardNumbers.Redact($"card:{number}\nthanks"));
        Assert.True(CardNumbers.Contains($"pay with {number} please"));
    }

    [Theory]
    [InlineData("4111 1111 1111 1112")] // one digit off: fails Luhn
    [InlineData("Order 1234567890123 shipped")] // an order number that fails Luhn
    [InlineData("Call +1 (415) 555-2671 or +44 20 7946 0958")] // phone numbers: too short
    [InlineData("415-555-2671 415-555-2672")] // two phone numbers in a row: 20 digits, no valid stretch
    [InlineData("422222222222")] // Luhn-valid, but 12 digits
    [InlineData("41111111111111111111")] // 20 digits: a longer number, not a card inside it
    [InlineData("ref 99994111111111111111")] // a valid card number's digits at the end of a longer run
    [InlineData("ORD4111111111111111")] // glued to a word: an identifier
    [InlineData("item_4111111111111111")]
    [InlineData("0.4111111111111111")] // a decimal
    [InlineData("01964f3a-7f00-8123-4111-111111111111")] // a GUID whose tail is digits
    [InlineData("4111 1111  1111 1111")] // two spaces split it into runs too short on their own
    [InlineData("Slack ts 1731234567.123456 and 1731234567890 ms")]
    [InlineData("")]
    public void Numbers_that_are_not_card_numbers_are_left_alone(string text)
    {
        Assert.Same(text, CardNumbers.Redact(text));
        Assert.False(CardNumbers.Contains(text));
    }

    [Fact]
    public void Text_with_nothing_to_remove_comes_back_as_the_same_string()
    {
        var text = "Deal Acme — pilot, 120 seats at $45,000; call 555 0100 on 2026-11-03.";
        Assert.Same(text, CardNumbers.Redact(text));
        Assert.Null(CardNumbers.Redact(null));
    }

    [Fact]
    public void A_card_number_next_to_other_digit_groups_is_still_found()
    {
        Assert.Equal($"{Removed} 2024", CardNumbers.Redact("4111 1111 1111 1111 2024"));
        Assert.Equal($"call 415 555 {Removed}", CardNumbers.Redact("call 415 555 4111 1111 1111 1111"));
        Assert.Equal($"{Removed} {Removed}", CardNumbers.Redact("4111 1111 1111 1111 5555 5555 5555 4444"));
        Assert.Equal($"{Removed}-{Removed}", CardNumbers.Redact("4242-4242-4242-4242-5555-5555-5555-4444"));
        Assert.Equal($"a {Removed}, b {Removed}.", CardNumbers.Redact("a 4111111111111111, b 378282246310005."));
    }

    [Fact]
    public void Json_loses_card_numbers_from_its_strings_and_keeps_its_numbers_and_shape()
    {
        var json = """{"text":"use 4111 1111 1111 1111 for it","n":4111111111111111,"list":["5555555555554444",{"deep":"x 378282246310005"}],"ok":"fine"}""";
        var redacted = CardNumbers.RedactJson(json)!;
        var node = JsonNode.Parse(redacted)!;
        Assert.Equal($"use {Removed} for it", (string)node["text"]!);
        Assert.Equal(4111111111111111L, (long)node["n"]!);
        Assert.Equal(Removed, (string)node["list"]![0]!);
        Assert.Equal($"x {Removed}", (string)node["list"]![1]!["deep"]!);
        Assert.Equal("fine", (string)node["ok"]!);

        var untouched = """{"n":4111111111111111,"text":"nothing — here"}""";
        Assert.Same(untouched, CardNumbers.RedactJson(untouched));
        Assert.Equal($"not json {Removed}", CardNumbers.RedactJson("not json 4111111111111111"));
    }

    [Theory]
    [InlineData("79927398713", true)]
    [InlineData("79927398710", false)]
    [InlineData("4111-1111-1111-1111", true)]
    [InlineData("", false)]
    public void The_luhn_check_is_the_standard_one(string number, bool valid) => Assert.Equal(valid, CardNumbers.IsLuhnValid(number));

    [Fact]
    public void A_long_text_with_many_digits_is_scanned_quickly()
    {
        var text = string.Concat(Enumerable.Repeat("Deal 2026-11-03: 120 seats, $45,000.00, ticket 8812345, phone +1 415 555 0100. ", 20_000)) + "card 4111111111111111";
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var redacted = CardNumbers.Redact(text);
        watch.Stop();
        Assert.EndsWith("card " + Removed, redacted);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"took {watch.Elapsed}");
    }
}
