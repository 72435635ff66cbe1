using Use60.Admin;
using Use60.Calendar;
using Use60.Copilot;
using Use60.Crm;
using Use60.Data;
using Use60.Demo;
using Use60.Hosting;
using Use60.Orgs;
using Use60.Privacy;
using Use60.Proactive;
using Use60.Recordings;
using Use60.Security;
using Use60.Slack;

var builder = WebApplication.CreateBuilder(args);
builder.Configuration.AddConventionalEnvironmentVariables();
builder.AddUse60Logging();
builder.ListenOnLoopbackUnlessConfigured();
builder.Services
    .AddHosting(builder.Configuration)          // public URL, error handling, time
    .AddData(builder.Configuration)             // DbContext, tenant context, migrations, system path
    .AddSecurity()                              // audit log, security monitor, security dashboard
    .AddOrgs()                                  // each rep's own settings (/sixty settings)
    .AddCrm(builder.Configuration)              // the sales data
    .AddSlack(builder.Configuration)            // inbox, outbox, Web API client, listeners, sandbox, Socket Mode
    .AddCopilot(builder.Configuration)          // the four tools, planners, skills, preview → confirm
    .AddProactive(builder.Configuration)        // Quartz (clustered on PostgreSQL) and the messages use60 writes first
    .AddCalendar(builder.Configuration)         // Google Calendar connect and sync
    .AddRecordings(builder.Configuration)      // the notetaker (MeetingBaaS bots and webhooks), storage costs
    .AddPrivacy(builder.Configuration)
    .AddContactQuality()                        // contact fields validated on every write; /admin/data-quality
    .AddDemo()                                  // seed-demo
    .AddAdmin();                                // the admin site
var app = builder.Build();
app.UseHosting();
app.MapHealth();
app.MapSlack();                                 // /slack/events, /commands, /interactions, /options, /install
app.MapCalendar();                              // the Google OAuth callback
app.MapRecordings();                            // /webhooks/meetingbaas, /webhooks/gladia, /webhooks/fathom
app.MapRecordingFiles();                        // signed links to recordings kept in the local folder
app.MapPrivacyExports();                        // /exports/{token}: an export's one-time download
app.MapAdmin();
return await app.RunOrCommandAsync(args);

/// <summary>The entry point, visible to the tests' WebApplicationFactory.</summary>
public partial class Program;
