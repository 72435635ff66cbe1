// The Bolt side of scripts/bench.sh slack: the minimal Bolt for JavaScript app use60's front door is measured against. Bolt's own HTTP
// receiver with the same signing secret, one app_mention listener that acks (Bolt acks before the listener runs) and posts a threaded
// reply to the fake Slack Web API. It keeps nothing. Settings come from the environment the bench gives it; it listens on 127.0.0.1.
const { App, LogLevel } = require('@slack/bolt');

const port = Number(process.env.BOLT_PORT);
const app = new App({
  signingSecret: process.env.SLACK_SIGNING_SECRET,
  token: process.env.SLACK_BOT_TOKEN,
  // The bot's ids given here, so Bolt never calls auth.test (on slack.com or anywhere else).
  botId: 'B0BENCH',
  botUserId: 'U0BOT',
  tokenVerificationEnabled: false,
  clientOptions: { slackApiUrl: process.env.SLACK_API_URL },
  logLevel: LogLevel.WARN,
});

app.event('app_mention', async ({ event, client }) => {
  await client.chat.postMessage({ channel: event.channel, thread_ts: event.thread_ts ?? event.ts, text: `Hi <@${event.user}>, on it.` });
});

app.error(async (error) => {
  console.error(`bolt: ${error.code ?? ''} ${error.message}`);
});

(async () => {
  await app.start({ port, host: '127.0.0.1' });
  console.log(`bolt ${require('@slack/bolt/package.json').version} listening on http://127.0.0.1:${port}`);
})();
