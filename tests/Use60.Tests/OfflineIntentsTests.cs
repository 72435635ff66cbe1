using Use60.Copilot;
using static Use60.Copilot.OfflineIntentKind;

namespace Use60.Tests;

/// <summary>The offline planner's router: what a rep types, and the intent and slots it must become.</summary>
public sealed class OfflineIntentsTests
{
    static readonly DateOnly Monday = new(2026, 11, 23);
    static readonly DateOnly Friday = new(2026, 11, 27);

    [Fact]
    public void The_fixed_todays_are_a_monday_and_a_friday()
    {
        Assert.Equal(DayOfWeek.Monday, Monday.DayOfWeek);
        Assert.Equal(DayOfWeek.Friday, Friday.DayOfWeek);
    }

    [Theory]
    [InlineData("help")]
    [InlineData("What can you do?")]
    [InlineData("@use60 help")]
    [InlineData("<@U0123ABC> help me")]
    [InlineData("can you help?")]
    public void Help_is_recognised(string text) => AssertIntent(Parse(text), Help);

    [Theory]
    [InlineData("what meetings do I have today?", "today")]
    [InlineData("<@U0123ABC> what's on my calendar tomorrow", "tomorrow")]
    [InlineData("Show me my meetings this week", "this_week")]
    [InlineData("today's meetings", "today")]
    [InlineData("how's my day looking", "today")]
    [InlineData("what does my week look like?", "this_week")]
    [InlineData("my calendar", "today")]
    public void Meetings_today_tomorrow_and_this_week_are_recognised(string text, string period) =>
        AssertIntent(Parse(text), MeetingsForPeriod, ("period", period));

    [Theory]
    [InlineData("what did TechCorp say about pricing?", "TechCorp pricing")]
    [InlineData("Did Sarah mention the security review", "Sarah the security review")]
    [InlineData("when did we discuss onboarding?", "onboarding")]
    [InlineData("search my calls for SOC 2", "SOC 2")]
    public void Questions_about_what_was_said_search_the_recorded_meetings(string text, string query) =>
        AssertIntent(Parse(text), SearchMeetings, ("query", query));

    [Theory]
    [InlineData("prep me for my next meeting")]
    [InlineData("Please brief me on my next call!")]
    [InlineData("who's my next meeting with?")]
    [InlineData("prep me for my meeting with the Church of England account")]
    public void Prep_for_the_next_meeting_is_recognised(string text) => AssertIntent(Parse(text), PrepNextMeeting);

    [Theory]
    [InlineData("follow-ups for my last meeting")]
    [InlineData("What should I send after my last call?")]
    [InlineData("next steps from my previous meeting")]
    public void Follow_ups_for_the_last_meeting_are_recognised(string text) => AssertIntent(Parse(text), FollowUpLastMeeting);

    [Theory]
    [InlineData("pipeline summary")]
    [InlineData("How\u2019s my pipeline?")]
    [InlineData("what's closing this month")]
    [InlineData("what's the forecast for this quarter")]
    public void Pipeline_questions_are_recognised(string text) => AssertIntent(Parse(text), PipelineSummary);

    [Theory]
    [InlineData("what's overdue?")]
    [InlineData("could you show me my overdue tasks")]
    [InlineData("which tasks am I behind on")]
    public void Overdue_tasks_are_recognised(string text) => AssertIntent(Parse(text), OverdueTasks);

    [Theory]
    [InlineData("remind me to call Bob today", "call Bob", "2026-11-23")]
    [InlineData("Remind me to call Bob tomorrow.", "call Bob", "2026-11-24")]
    [InlineData("remind me to call Bob on Friday", "call Bob", "2026-11-27")]
    [InlineData("remind me to call Bob friday", "call Bob", "2026-11-27")]
    [InlineData("remind me to call Bob on Monday", "call Bob", "2026-11-30")]
    [InlineData("remind me to call Bob next Monday", "call Bob", "2026-11-30")]
    [InlineData("remind me to follow up with Globex in 3 days", "follow up with Globex", "2026-11-26")]
    [InlineData("remind me to follow up with Globex in 2 weeks", "follow up with Globex", "2026-12-07")]
    [InlineData("remind me to renew the contract by 2026-12-01", "renew the contract", "2026-12-01")]
    [InlineData("remind me to send the deck on Dec 3", "send the deck", "2026-12-03")]
    [InlineData("remind me to send the deck on December 3rd", "send the deck", "2026-12-03")]
    [InlineData("remind me to send the deck 3 dec", "send the deck", "2026-12-03")]
    [InlineData("remind me to plan Q1 on Jan 5", "plan Q1", "2027-01-05")]
    [InlineData("remind me to check in with Acme on Nov 23", "check in with Acme", "2026-11-23")]
    [InlineData("remind me to invoice Initech on the 15th", "invoice Initech", "2026-12-15")]
    [InlineData("remind me to invoice Initech on the 30th", "invoice Initech", "2026-11-30")]
    [InlineData("remind me to close the books by the 31st", "close the books", "2026-12-31")]
    [InlineData("remind me tomorrow to send the proposal", "send the proposal", "2026-11-24")]
    [InlineData("remind me to send the proposal to Acme tomorrow at 9am", "send the proposal to Acme", "2026-11-24")]
    [InlineData("set a reminder for Friday to call Bob", "call Bob", "2026-11-27")]
    [InlineData("remind me to call Bob", "call Bob", null)]
    [InlineData("remind me to prep Friday's demo", "prep Friday's demo", null)]
    public void Reminder_dates_resolve_against_a_monday(string text, string title, string? due) =>
        AssertIntent(OfflineIntents.Parse(text, Monday), CreateReminder, ("title", title), ("due", due));

    [Theory]
    [InlineData("remind me to call Bob on Friday", "2026-12-04")]
    [InlineData("remind me to call Bob next friday", "2026-12-04")]
    [InlineData("remind me to call Bob tomorrow", "2026-11-28")]
    [InlineData("remind me to call Bob on Monday", "2026-11-30")]
    [InlineData("remind me to call Bob in a week", "2026-12-04")]
    public void On_a_friday_friday_means_a_week_later(string text, string due) =>
        AssertIntent(OfflineIntents.Parse(text, Friday), CreateReminder, ("title", "call Bob"), ("due", due));

    [Theory]
    [InlineData("draft an email to Sarah about pricing", "Sarah", "pricing")]
    [InlineData("email Sarah about pricing", "Sarah", "pricing")]
    [InlineData("Write to Tom Chen re: the renewal", "Tom Chen", "the renewal")]
    [InlineData("email bob", "bob", null)]
    [InlineData("send an email to Priya regarding the MSA", "Priya", "the MSA")]
    [InlineData("could you send Sarah a quick email on next steps?", "Sarah", "next steps")]
    [InlineData("draft an email to confirm the meeting with Sarah", "Sarah", "confirm the meeting")]
    [InlineData("draft an email about pricing", null, "pricing")]
    public void Draft_email_takes_the_name_as_typed_and_an_optional_topic(string text, string? name, string? topic) =>
        AssertIntent(Parse(text), DraftEmail, ("name", name), ("topic", topic));

    [Theory]
    [InlineData("how is the Acme deal going", "Acme")]
    [InlineData("status of the Globex renewal deal", "Globex renewal")]
    [InlineData("update on acme", "acme")]
    [InlineData("what's the latest on the Initech deal?", "Initech")]
    [InlineData("How's Acme?", "Acme")]
    [InlineData("where are we with Umbrella Corp", "Umbrella Corp")]
    [InlineData("brief me on the Hooli deal", "Hooli")]
    public void Deal_status_names_the_deal(string text, string deal) => AssertIntent(Parse(text), DealStatus, ("deal", deal));

    [Theory]
    [InlineData("confirm")]
    [InlineData("Confirm.")]
    [InlineData("yes, send it!")]
    [InlineData("go ahead")]
    [InlineData("do it")]
    [InlineData("ok send")]
    [InlineData("<@U0123ABC> yes please")]
    public void A_whole_message_confirmation_confirms(string text) => AssertIntent(Parse(text), Confirm);

    [Theory]
    [InlineData("cancel")]
    [InlineData("No, don\u2019t send it")]
    [InlineData("never mind")]
    [InlineData("nope, forget it")]
    public void A_whole_message_cancellation_cancels(string text) => AssertIntent(Parse(text), Cancel);

    [Fact]
    public void Confirm_inside_a_longer_request_is_not_a_confirmation()
    {
        AssertIntent(Parse("draft an email to confirm the meeting with Sarah"), DraftEmail, ("name", "Sarah"), ("topic", "confirm the meeting"));
        AssertIntent(Parse("confirm my meeting with Sarah"), Unknown);
        AssertIntent(Parse("yes"), Confirm);
    }

    [Theory]
    [InlineData("who should I vote for?", "politics")]
    [InlineData("what do you think about the upcoming election", "politics")]
    [InlineData("Is God real?", "religion")]
    [InlineData("which religion is the right one", "religion")]
    [InlineData("what's the home address of Tom Chen", "personal_data")]
    [InlineData("what is my neighbour's social security number", "personal_data")]
    [InlineData("what's Sarah's salary?", "personal_data")]
    [InlineData("give me a recipe for lasagna", "off_topic")]
    [InlineData("what's the weather like tomorrow", "off_topic")]
    [InlineData("tell me a joke", "off_topic")]
    [InlineData("write me a poem", "off_topic")]
    [InlineData("how's the weather", "off_topic")]
    [InlineData("what's the score of the Lakers game", "off_topic")]
    public void Off_topic_and_sensitive_questions_are_declined(string text, string reason) =>
        AssertIntent(Parse(text), Declined, ("reason", reason));

    [Fact]
    public void Sales_requests_with_sensitive_words_are_not_declined()
    {
        AssertIntent(Parse("email the election campaign prospect about pricing"), DraftEmail,
            ("name", "the election campaign prospect"), ("topic", "pricing"));
        AssertIntent(Parse("prep me for my meeting with the Church of England account"), PrepNextMeeting);
        AssertIntent(Parse("status of the Church of England deal"), DealStatus, ("deal", "Church of England"));
        AssertIntent(Parse("draft an email to Sarah about salary bands"), DraftEmail, ("name", "Sarah"), ("topic", "salary bands"));
        AssertIntent(OfflineIntents.Parse("remind me to send the recipe book to Acme on Friday", Monday), CreateReminder,
            ("title", "send the recipe book to Acme"), ("due", "2026-11-27"));
        AssertIntent(Parse("what's the forecast for the Republican Party account this quarter"), PipelineSummary);
    }

    [Theory]
    [InlineData("hello")]
    [InlineData("how are you")]
    [InlineData("how's it going?")]
    [InlineData("update the Acme deal to closed won")]
    [InlineData("log a call with Globex")]
    [InlineData("asdfgh")]
    [InlineData("   ")]
    [InlineData("")]
    public void Anything_else_is_unknown(string text) => AssertIntent(Parse(text), Unknown);

    [Fact]
    public void Null_is_unknown() => AssertIntent(OfflineIntents.Parse(null!, Monday), Unknown);

    static OfflineIntent Parse(string text) => OfflineIntents.Parse(text, Monday);

    /// <summary>Kind and the exact slots: a null value means that slot must be absent.</summary>
    static void AssertIntent(OfflineIntent intent, OfflineIntentKind kind, params (string Name, string? Value)[] slots)
    {
        Assert.Equal(kind, intent.Kind);
        var expected = slots.Where(s => s.Value is not null).ToDictionary(s => s.Name, s => s.Value!);
        Assert.Equal(expected.OrderBy(s => s.Key), intent.Slots.OrderBy(s => s.Key));
        foreach (var (name, value) in slots)
            Assert.Equal(value, intent.Slot(name));
    }
}
