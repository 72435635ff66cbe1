using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Use60.Crm;

namespace Use60.Privacy;

/// <summary>A contact field that cannot be stored as given; <see cref="Exception.Message"/> says why in words for the person who typed it.</summary>
public sealed class ContactFieldException(string field, string message) : Exception(message)
{
    /// <summary>Which field: <see cref="ContactFields.EmailField"/>, <see cref="ContactFields.PhoneField"/> or <see cref="ContactFields.LinkedInField"/>.</summary>
    public string Field { get; } = field;
}

/// <summary>
/// Every contact EF writes (copilot, CRM sync, admin, import, demo seed) passes here: the email, phone and LinkedIn URL being written
/// are normalised or the save is refused with a <see cref="ContactFieldException"/>, and the data-quality score is recomputed.
/// Values already stored and not being changed are scored but never refused, so a row from before validation can still be edited.
/// It is its own interceptor, registered ahead of any other, so it sees the plaintext before anything seals it.
/// </summary>
public sealed class ContactValidation : SaveChangesInterceptor
{
    public static readonly ContactValidation Instance = new();

    public override InterceptionResult<int> SavingChanges(DbContextEventData eventData, InterceptionResult<int> result)
    {
        if (eventData.Context is { } context) Apply(context);
        return result;
    }

    public override ValueTask<InterceptionResult<int>> SavingChangesAsync(DbContextEventData eventData, InterceptionResult<int> result,
        CancellationToken cancellationToken = default)
    {
        if (eventData.Context is { } context) Apply(context);
        return ValueTask.FromResult(result);
    }

    static void Apply(DbContext context)
    {
        var touched = false;
        foreach (var entry in context.ChangeTracker.Entries<Contact>())
        {
            if (entry.State is EntityState.Deleted or EntityState.Detached) continue;
            var contact = entry.Entity;
            // Email, phone and LinkedIn are not columns (PiiSealing seals them): what was read or last saved says whether they changed.
            var before = entry.State == EntityState.Added ? null : contact.SealedFrom;
            var plaintextChanged = before is null || before != (contact.Email, contact.Phone, contact.LinkedinUrl);
            if (entry.State == EntityState.Unchanged && !plaintextChanged) continue;
            touched = true;
            contact.Email = Normalised(contact.Email, before?.Email, ContactFields.EmailField, ContactFields.Email);
            contact.Phone = Normalised(contact.Phone, before?.Phone, ContactFields.PhoneField, p => ContactFields.Phone(p));
            contact.LinkedinUrl = Normalised(contact.LinkedinUrl, before?.LinkedinUrl, ContactFields.LinkedInField, ContactFields.LinkedIn);
            contact.DataQualityScore = ContactQuality.Assess(contact.FirstName, contact.LastName, contact.Title, contact.CompanyId,
                contact.Email, contact.Phone, contact.LinkedinUrl).Score;
        }
        // The entities' own values changed: let the tracker see them before the save reads it.
        if (touched) context.ChangeTracker.DetectChanges();
    }

    /// <summary>A value as it was read is kept as it is (an older row that no longer passes can still be edited); a new one must pass.</summary>
    static string? Normalised(string? value, string? before, string field, Func<string?, FieldResult> check)
    {
        if (before is not null && value == before) return value;
        var result = check(value);
        return result.IsValid ? result.Value : throw new ContactFieldException(field, result.Problem!);
    }
}
