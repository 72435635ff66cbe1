using System.Globalization;
using System.Text.RegularExpressions;

namespace Use60.Copilot;

public enum OfflineIntentKind
{
    Help,                 // "help", "what can you do?"
    MeetingsForPeriod,    // slot period: "today" | "tomorrow" | "this_week"
    PrepNextMeeting,      // "prep me for my next meeting", "brief me on my next call"
    FollowUpLastMeeting,  // "follow-ups for my last meeting", "what should I send after my last call"
    PipelineSummary,      // "pipeline summary", "how's my pipeline", "what's closing this month"
    OverdueTasks,         // "what's overdue", "my overdue tasks"
    CreateReminder,       // slots title ("call Bob"), due ("yyyy-MM-dd", absent when no date was recognised)
    DraftEmail,           // slots name (as typed, absent when none), topic (absent when none)
    DealStatus,           // slot deal ("Acme")
    SearchMeetings,       // slot query: "what did TechCorp say about pricing" → "TechCorp pricing"
    Confirm,              // the whole message is a confirmation: "confirm", "yes, send it", "go ahead"
    Cancel,               // the whole message is a cancellation: "cancel", "no, don't send it", "never mind"
    Declined,             // slot reason: "politics" | "religion" | "personal_data" | "off_topic"
    Unknown,              // anything else
}

public sealed record OfflineIntent(OfflineIntentKind Kind, IReadOnlyDictionary<string, string> Slots)
{
    public string? Slot(string name) => Slots.GetValueOrDefault(name);
}

/// <summary>
/// The offline planner's router: a rep's message to an intent with deterministic rules, for when no LLM endpoint is set.
/// Order matters: whole-message replies (confirm, cancel, help) first, then reminders and emails (their free text may hold
/// any keyword), then the other sales intents, and only then declines, so a sales request is never refused for a word in it.
/// </summary>
public static partial class OfflineIntents
{
    const RegexOptions Options = RegexOptions.IgnoreCase | RegexOptions.CultureInvariant | RegexOptions.IgnorePatternWhitespace;

    // Shared pieces of the patterns below (IgnorePatternWhitespace: spaces are written \s).
    const string Is = @"(?:'?s|\s+is)";                                   // "what's", "whats", "what is"
    const string Last = @"(?:last|previous|latest|most\s+recent|recent)";
    const string Period = @"(?<period>today|tomorrow|this\s+week)";
    const string Weekday = "monday|tuesday|wednesday|thursday|friday|saturday|sunday";
    const string Month = @"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?";
    const string Count = @"\d{1,3}|an?|one|two|three|four|five|six|seven|eight|nine|ten";
    const string DatePhrase = $$"""
        (?: (?<rel>today|tonight|tomorrow)
          | (?:next\s+|this\s+|coming\s+)?(?<weekday>{{Weekday}})
          | in\s+(?<count>{{Count}})\s+(?<unit>days?|weeks?)
          | (?<iso>\d{4}-\d{2}-\d{2})
          | (?<mon>{{Month}})\.?\s+(?<day>\d{1,2})(?:st|nd|rd|th)?
          | (?:the\s+)?(?<day>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(?<mon>{{Month}})
          | (?:the\s+)?(?<dom>\d{1,2})(?:st|nd|rd|th) )\b
        """;
    const string TimeOfDay = @"(?:\s+(?:at\s+\d{1,2}(?::\d{2})?\s*(?:am|pm)?|in\s+the\s+(?:morning|afternoon|evening)|morning|afternoon|evening|eod))?";
    const string EmailVerb = "(?:draft|write|compose|prepare|send|shoot)";
    const string EmailNoun = @"(?:an?\s+)?(?:quick\s+|short\s+)?(?:follow[\s-]?up\s+)?(?:e-?mail|note|follow[\s-]?up)";
    const string Topic = @"(?:\s+(?:about|regarding|concerning|on|re)\b:?\s*(?<topic>.+))?$";
    // "an email to confirm the meeting with Sarah": after "to", these verbs start a purpose, not a recipient.
    const string Purpose = @"(?:confirm|schedule|reschedule|thank|ask|invite|introduce|check\s+in|follow\s+up|recap|share|book|set\s+up|propose|remind|request|cancel|move|update|apologi[sz]e|welcome|congratulate)";
    const string DealWords = @"(?:(?!(?:the|a|an|my|our)\b)[\w&.'-]+\s+){0,3}(?!(?:the|a|an|my|our)\b)[\w&.'-]+";

    [GeneratedRegex("""
        ^(?: (?:<@[^>]+>|@?use60\b)[\s,:;.!]*
           | (?:hey|hi|hello|please|pls|kindly|can\s+you|could\s+you|would\s+you|will\s+you|i\s+need\s+you\s+to
               |tell\s+me|show\s+me|give\s+me|let\s+me\s+know|help\s+me)\b[\s,:;.!]+(?=\S) )+
    """, Options)]
    private static partial Regex Filler();

    [GeneratedRegex(@"[\s?!.,;:]*(?:\b(?:please|pls|thanks|thank\s+you|thx)\b[\s?!.,;:]*)*$", Options)]
    private static partial Regex TrailingFiller();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    const string ConfirmWord = @"(?:confirm(?:ed)?|yes|yep|yeah|yup|ok(?:ay)?|sure|go\s+ahead|go\s+for\s+it|do\s+it|send\s+it|send|ship\s+it|looks\s+good|sounds\s+good|lgtm|approved?|please|perfect)";
    [GeneratedRegex($$"""^{{ConfirmWord}}(?:[\s,.!]+{{ConfirmWord}})*$""", Options)]
    private static partial Regex ConfirmReply();

    const string CancelWord = @"(?:cancel(?:led)?|no|nope|nah|stop|(?:don't|do\s+not)(?:\s+send(?:\s+(?:it|that))?)?|never\s*mind|nvm|forget\s+(?:it|that)|abort|scratch\s+that|hold\s+off|not\s+now|discard(?:\s+it)?)";
    [GeneratedRegex($$"""^{{CancelWord}}(?:[\s,.!]+{{CancelWord}})*$""", Options)]
    private static partial Regex CancelReply();

    [GeneratedRegex("""
        ^(?: help(?:\s+me)? | what\s+can\s+(?:you\s+do|you\s+help(?:\s+me)?\s+with|i\s+ask(?:\s+you)?) | what\s+do\s+you\s+do | how\s+(?:can|do)\s+you\s+help(?:\s+me)?
           | how\s+does\s+this\s+work | how\s+do\s+i\s+use\s+(?:you|this|use60) | commands | who\s+are\s+you )$
    """, Options)]
    private static partial Regex HelpRequest();

    [GeneratedRegex(@"^(?:remind\s+me|(?:set|add|create|make)\s+(?:me\s+)?an?\s+reminder|new\s+reminder|reminder)\b[\s:,]*(?<rest>.*)$", Options)]
    private static partial Regex ReminderCommand();

    [GeneratedRegex($$"""^(?:(?:on|by|for)\s+)?{{DatePhrase}}{{TimeOfDay}}(?:[\s,]+|$)(?:(?:to|about|that)\s+)?(?<title>.*)$""", Options)]
    private static partial Regex LeadingDate();

    [GeneratedRegex($$"""^(?<title>.*?)[\s,]*\b(?:(?:on|by|before|due|for)\s+)?{{DatePhrase}}{{TimeOfDay}}$""", Options)]
    private static partial Regex TrailingDate();

    [GeneratedRegex(@"^(?:to|about|that)\s+|\s+(?:on|by)$", Options)]
    private static partial Regex TitleEdges();

    [GeneratedRegex($$"""
        ^{{EmailVerb}}\s+(?:me\s+)?{{EmailNoun}}\s+to\s+(?<topic>{{Purpose}}\b.+?)\s+with\s+(?<name>.+)$
      | ^{{EmailVerb}}\s+(?:me\s+)?{{EmailNoun}}\s+to\s+(?<topic>{{Purpose}}\b.+)$
      | ^{{EmailVerb}}\s+(?:me\s+)?{{EmailNoun}}\s+to\s+(?<name>.+?){{Topic}}
      | ^(?:e-?mail(?:\s+to)?|write\s+to)\s+(?<name>.+?){{Topic}}
      | ^{{EmailVerb}}\s+(?:me\s+)?{{EmailNoun}}{{Topic}}
      | ^{{EmailVerb}}\s+(?<name>.+?)\s+{{EmailNoun}}{{Topic}}
    """, Options)]
    private static partial Regex DraftEmail();

    [GeneratedRegex($$"""
        \b(?:follow[\s-]?ups?|send|next\s+steps|action\s+items|recap|to-?dos?)\b.*\b{{Last}}\s+(?:meeting|call|demo)\b
      | \b{{Last}}\s+(?:meeting|call|demo)(?:'s)?\s+(?:follow[\s-]?ups?|next\s+steps|action\s+items|recap)\b
    """, Options)]
    private static partial Regex FollowUp();

    [GeneratedRegex("""
        \b(?:prep|prepare|brief|ready)\b.*\b(?:meetings?|calls?|demo)\b
      | \bnext\s+(?:meeting|call|demo)\b
      | \b(?:meeting|call)\s+(?:prep|brief(?:ing)?)\b
    """, Options)]
    private static partial Regex Prep();

    [GeneratedRegex("""
        \b(?:overdue|past[\s-]due)\b
      | \b(?:tasks?|to-?dos?)\b.*\b(?:late|behind|missed|slipped)\b
    """, Options)]
    private static partial Regex Overdue();

    [GeneratedRegex("""
        \bpipeline\b
      | (?<!weather\s)\bforecast\b
      | \bclos(?:ing|e)\s+(?:this|next)\s+(?:week|month|quarter)\b
      | \b(?:my|open|all)\s+(?:open\s+)?deals\b
      | \bquota\b
    """, Options)]
    private static partial Regex Pipeline();

    // A meeting question without a period ("show my calendar") means today.
    [GeneratedRegex($$"""
        \b(?:meetings?|calls?|calendar|schedule|agenda|appointments?|what{{Is}}\s+on|who\s+am\s+i\s+(?:meeting|seeing)|what\s+do\s+i\s+have)\b.*?\b{{Period}}\b
      | \b{{Period}}(?:'s)?\s+(?:meetings?|calls?|calendar|schedule|agenda)\b
      | ^(?:what\s+does\s+|how{{Is}}\s+)?my\s+(?<period>day|week)(?:\s+look(?:s|ing)?(?:\s+like)?)?$
      | ^(?:(?:what\s+are|list|show)\s+)?my\s+(?:meetings|calendar|schedule|agenda)$
    """, Options)]
    private static partial Regex Meetings();

    // What was said in recorded meetings: the words that carry the search, without the question around them.
    [GeneratedRegex("""
        ^what\s+did\s+(?<who>.+?)\s+(?:say|said|mention|tell\s+(?:me|us))\s+(?:about|on|regarding)\s+(?<topic>.+)$
      | ^(?:did|has)\s+(?<who>.+?)\s+(?:ever\s+)?(?:say|said|mention(?:ed)?|bring\s+up|brought\s+up|talk(?:ed)?\s+about)\s+(?<topic>.+)$
      | ^(?:when|where)\s+did\s+(?:we|they|i)\s+(?:discuss|talk\s+about|mention|cover)\s+(?<topic>.+)$
      | ^(?:search|find|look\s+up)\s+(?:in\s+)?(?:my\s+|our\s+|the\s+)?(?:meetings?|calls?|transcripts?|recordings?)\s+(?:for|about)\s+(?<topic>.+)$
    """, Options)]
    private static partial Regex SearchMeetings();

    // Questions only: "update the Acme deal to closed won" is an edit, not a status question.
    [GeneratedRegex($$"""
        ^(?:what{{Is}}\s+)?(?:any\s+)?(?:the\s+)?(?:latest\s+|deal\s+)?(?:status|updates?|news|latest)\s+(?:of|on|for|with)\s+(?:the\s+)?(?<deal>.+?)(?:\s+deals?)?$
      | ^where\s+(?:are\s+we|do\s+we\s+stand)\s+(?:with|on)\s+(?:the\s+)?(?<deal>.+?)(?:\s+deals?)?$
      | ^(?:how|what|where|any|is|are|did|has|will|brief).*?\b(?:the|is|my|our)\s+(?<deal>{{DealWords}})\s+deal\b
    """, Options)]
    private static partial Regex DealStatus();

    // "how's Acme?" names no deal, so it is tried only after the declines ("how's the weather").
    [GeneratedRegex($$"""
        ^how{{Is}}\s+(?!(?:it|that|this|things|everything|everyone|life|you|your|the\s+day|work|business)\b)(?:the\s+|our\s+|my\s+)?
        (?<deal>.+?)(?:\s+deals?)?(?:\s+(?:going|doing|looking|progressing|coming\s+along))?$
    """, Options)]
    private static partial Regex BareDealQuestion();

    [GeneratedRegex("""
        \b(?:politics|political|politicians?|elections?|electoral|ballots?|voting|vote\s+for|democrats?|republicans?|tory|tories
           |labour\s+party|left[\s-]wing|right[\s-]wing|presidential|prime\s+minister|senators?|congress|parliament)\b
      | \bwhich\s+(?:party|candidate)\b
    """, Options)]
    private static partial Regex Politics();

    [GeneratedRegex("""
        \b(?:religions?|religious|god|gods|jesus|christ|allah|bible|quran|koran|torah|church|mosque|synagogue|pray(?:er|ing)?
           |atheis[mt]|heaven|christianity|christians?|islam|muslims?|judaism|jewish|hindu(?:ism)?|buddhis[mt]|spiritual(?:ity)?)\b
    """, Options)]
    private static partial Regex Religion();

    [GeneratedRegex("""
        \b(?:home\s+address|social\s+security|ssn|passport\s+(?:number|details)|date\s+of\s+birth|bank\s+(?:account|details)
           |credit\s+card|salary|salaries|(?:medical|health)\s+records?|personal\s+(?:phone|cell|mobile|email|address)|neighbou?rs?
           |ex[\s-](?:wife|husband|girlfriend|boyfriend))\b
      | \bwhere\s+(?:does|do)\s+.+\s+live\b | \bhow\s+much\s+(?:does|do)\s+.+\s+(?:earn|make)\b
    """, Options)]
    private static partial Regex PersonalData();

    [GeneratedRegex("""
        \b(?:recipes?|cook|cooking|bake|baking|weather|sports?|football|soccer|basketball|baseball|hockey|cricket|nba|nfl
           |premier\s+league|world\s+cup|game\s+last\s+night|jokes?|poems?|poetry|haiku|limerick|songs?|lyrics|movies?|films?
           |tv\s+shows?|netflix|horoscope|zodiac|dating|trivia)\b
      | \bscores?\b.*\b(?:game|match)\b
    """, Options)]
    private static partial Regex OffTopic();

    // Checked in order after reminders; the first match wins.
    static readonly (OfflineIntentKind Kind, Regex Pattern)[] SalesRules =
    [
        (OfflineIntentKind.DraftEmail, DraftEmail()),
        (OfflineIntentKind.FollowUpLastMeeting, FollowUp()),
        (OfflineIntentKind.PrepNextMeeting, Prep()),
        (OfflineIntentKind.OverdueTasks, Overdue()),
        (OfflineIntentKind.PipelineSummary, Pipeline()),   // before meetings: "what's closing this week"
        (OfflineIntentKind.MeetingsForPeriod, Meetings()),
        (OfflineIntentKind.SearchMeetings, SearchMeetings()),
        (OfflineIntentKind.DealStatus, DealStatus()),
    ];

    static readonly (string Reason, Regex Pattern)[] DeclineRules =
    [
        ("politics", Politics()), ("religion", Religion()), ("personal_data", PersonalData()), ("off_topic", OffTopic()),
    ];

    static readonly string[] CountWords = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"];

    /// <summary>
    /// Routes a message. <paramref name="today"/> is the rep's local date, used for reminder dates. Never throws;
    /// null or blank text is <see cref="OfflineIntentKind.Unknown"/>.
    /// </summary>
    public static OfflineIntent Parse(string text, DateOnly today)
    {
        var message = Normalise(text);
        if (message.Length == 0) return Intent(OfflineIntentKind.Unknown);
        if (ConfirmReply().IsMatch(message)) return Intent(OfflineIntentKind.Confirm);
        if (CancelReply().IsMatch(message)) return Intent(OfflineIntentKind.Cancel);
        if (HelpRequest().IsMatch(message)) return Intent(OfflineIntentKind.Help);
        if (ReminderCommand().Match(message) is { Success: true } reminder)
            return Reminder(reminder.Groups["rest"].Value, today);

        foreach (var (kind, pattern) in SalesRules)
            if (pattern.Match(message) is { Success: true } match)
                return Intent(kind, SlotsOf(match, kind));
        foreach (var (reason, pattern) in DeclineRules)
            if (pattern.IsMatch(message))
                return Intent(OfflineIntentKind.Declined, new() { ["reason"] = reason });
        if (BareDealQuestion().Match(message) is { Success: true } bare)
            return Intent(OfflineIntentKind.DealStatus, SlotsOf(bare, OfflineIntentKind.DealStatus));
        return Intent(OfflineIntentKind.Unknown);
    }

    static string Normalise(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return "";
        var message = Whitespace().Replace(text.Replace('\u2019', '\'').Replace('\u2018', '\''), " ").Trim();
        message = Filler().Replace(message, "");
        return TrailingFiller().Replace(message, "").Trim();
    }

    static OfflineIntent Intent(OfflineIntentKind kind, Dictionary<string, string>? slots = null) => new(kind, slots ?? []);

    /// <summary>Every named group that matched becomes a slot; a meeting question without a period means today.</summary>
    static Dictionary<string, string> SlotsOf(Match match, OfflineIntentKind kind)
    {
        var slots = new Dictionary<string, string>();
        foreach (Group group in match.Groups)
            if (group.Success && !char.IsDigit(group.Name[0]) && Clean(group.Value) is { Length: > 0 } value)
                slots[group.Name] = value;
        if (kind == OfflineIntentKind.SearchMeetings)
            return new() { ["query"] = string.Join(' ', new[] { slots.GetValueOrDefault("who"), slots.GetValueOrDefault("topic") }.OfType<string>()) };
        if (kind == OfflineIntentKind.MeetingsForPeriod)
            slots["period"] = slots.GetValueOrDefault("period", "today").ToLowerInvariant() switch
            {
                "tomorrow" => "tomorrow",
                "today" or "day" => "today",
                _ => "this_week",   // "this week", "my week"
            };
        return slots;
    }

    static string Clean(string value) => value.Trim().Trim('"').TrimEnd('.', ',', ';', ':', '!', '?').Trim();

    /// <summary>A date phrase at the start ("remind me on Friday to …") or at the end ("… on Friday"); none: no due.</summary>
    static OfflineIntent Reminder(string rest, DateOnly today)
    {
        DateOnly? due = null;
        var title = rest;
        if (LeadingDate().Match(rest) is { Success: true } leading && ResolveDate(leading, today) is { } leadingDue)
            (title, due) = (leading.Groups["title"].Value, leadingDue);
        else if (TrailingDate().Match(TitleEdges().Replace(rest, "")) is { Success: true } trailing && ResolveDate(trailing, today) is { } trailingDue)
            (title, due) = (trailing.Groups["title"].Value, trailingDue);

        var slots = new Dictionary<string, string>();
        if (Clean(TitleEdges().Replace(Clean(title), "")) is { Length: > 0 } cleanTitle) slots["title"] = cleanTitle;
        if (due is { } date) slots["due"] = date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        return Intent(OfflineIntentKind.CreateReminder, slots);
    }

    /// <summary>
    /// Weekdays ("Friday", "next Friday", "this Friday") mean the next such day strictly after today: on a Friday, "Friday"
    /// is in 7 days. "Dec 3" is this year unless already past; "the 15th" this month unless already past. Null if invalid.
    /// </summary>
    static DateOnly? ResolveDate(Match match, DateOnly today)
    {
        var g = match.Groups;
        if (g["rel"].Success)
            return g["rel"].Value.Equals("tomorrow", StringComparison.OrdinalIgnoreCase) ? AddDays(today, 1) : today;
        if (g["weekday"].Success)
        {
            var target = Enum.Parse<DayOfWeek>(g["weekday"].Value, ignoreCase: true);
            return AddDays(today, ((int)target - (int)today.DayOfWeek + 6) % 7 + 1);
        }
        if (g["count"].Success)
        {
            var word = g["count"].Value.ToLowerInvariant();
            var count = word is "a" or "an" ? 1 : char.IsDigit(word[0]) ? int.Parse(word, CultureInfo.InvariantCulture) : Array.IndexOf(CountWords, word);
            return AddDays(today, g["unit"].Value.StartsWith("w", StringComparison.OrdinalIgnoreCase) ? count * 7 : count);
        }
        if (g["iso"].Success)
            return DateOnly.TryParseExact(g["iso"].Value, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var iso) ? iso : null;
        if (g["mon"].Success && DateTime.TryParseExact(g["mon"].Value[..3], "MMM", CultureInfo.InvariantCulture, DateTimeStyles.None, out var month))
        {
            var day = int.Parse(g["day"].Value, CultureInfo.InvariantCulture);
            return TryDate(today.Year, month.Month, day) is { } thisYear && thisYear >= today ? thisYear : TryDate(today.Year + 1, month.Month, day);
        }
        if (g["dom"].Success)
        {
            // The 31st skips months without one: at most two months on.
            var dayOfMonth = int.Parse(g["dom"].Value, CultureInfo.InvariantCulture);
            for (var ahead = 0; ahead <= 2; ahead++)
            {
                var index = today.Month - 1 + ahead;
                if (TryDate(today.Year + index / 12, index % 12 + 1, dayOfMonth) is { } date && date >= today) return date;
            }
        }
        return null;
    }

    static DateOnly? AddDays(DateOnly date, int days) =>
        date.DayNumber + days <= DateOnly.MaxValue.DayNumber ? date.AddDays(days) : null;

    static DateOnly? TryDate(int year, int month, int day) =>
        year is >= 1 and <= 9999 && day >= 1 && day <= DateTime.DaysInMonth(year, month) ? new DateOnly(year, month, day) : null;
}
