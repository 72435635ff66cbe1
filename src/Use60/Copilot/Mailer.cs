using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Options;
using MimeKit;
using Use60.Crm;
using Use60.Data;

namespace Use60.Copilot;

/// <summary>
/// Sends an email a rep confirmed: through the relay in SMTP_URL, or, with none configured, into the local mail sandbox
/// (the outbound_emails table, shown in the admin site). Either way the email is recorded once per pending action.
/// </summary>
public sealed class Mailer(IOptions<SmtpOptions> options, TimeProvider clock, ILogger<Mailer> logger)
{
    public bool UsesSandbox => string.IsNullOrWhiteSpace(options.Value.Url);

    public async Task<OutboundEmail> SendAsync(Use60Db db, OutboundEmail email, string fromName, string fromAddress, CancellationToken cancellationToken)
    {
        if (UsesSandbox)
        {
            email.Delivery = EmailDelivery.Sandbox;
            logger.LogInformation("Email {EmailId} kept in the mail sandbox (no SMTP_URL)", email.Id);
        }
        else
        {
            await RelayAsync(email, fromName, fromAddress, cancellationToken);
            email.Delivery = EmailDelivery.Smtp;
            logger.LogInformation("Email {EmailId} sent through the SMTP relay", email.Id);
        }
        email.SentAt = clock.GetUtcNow();
        db.OutboundEmails.Add(email);
        await db.SaveChangesAsync(cancellationToken);
        return email;
    }

    async Task RelayAsync(OutboundEmail email, string fromName, string fromAddress, CancellationToken cancellationToken)
    {
        var url = new Uri(options.Value.Url!);
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress(fromName, fromAddress));
        message.To.Add(new MailboxAddress(email.ToName ?? "", email.ToAddress));
        message.Subject = email.Subject;
        message.Body = new TextPart("plain") { Text = email.Body };
        using var client = new SmtpClient();
        var security = url.Scheme == "smtps" ? SecureSocketOptions.SslOnConnect : SecureSocketOptions.StartTlsWhenAvailable;
        await client.ConnectAsync(url.Host, url.IsDefaultPort ? (url.Scheme == "smtps" ? 465 : 587) : url.Port, security, cancellationToken);
        if (url.UserInfo.Length > 0)
        {
            var parts = url.UserInfo.Split(':', 2);
            await client.AuthenticateAsync(Uri.UnescapeDataString(parts[0]), parts.Length > 1 ? Uri.UnescapeDataString(parts[1]) : "", cancellationToken);
        }
        await client.SendAsync(message, cancellationToken);
        await client.DisconnectAsync(true, cancellationToken);
    }
}
