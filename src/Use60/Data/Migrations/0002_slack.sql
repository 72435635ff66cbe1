-- 0002 slack: workspaces (installations, OAuth state), the durable inbox of Slack callbacks, the outbox of
-- messages the product sends, the local Slack sandbox, and each rep's own preferences.

-- app_uninstalled / tokens_revoked: the org's Slack tokens are not used any more (until it installs again).
ALTER TABLE orgs ADD COLUMN slack_disabled_at timestamptz;

-- A workspace that installed the app through OAuth. The bot token is encrypted (AES-256-GCM, a key derived
-- from USE60_MASTER_KEY); the plaintext token is never stored.
CREATE TABLE slack_installations (
    org_id              uuid PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
    team_id             text NOT NULL UNIQUE,
    team_name           text NOT NULL,
    bot_user_id         text,
    bot_token_encrypted bytea NOT NULL,
    scopes              text NOT NULL DEFAULT '',
    installed_by        text,                      -- the installer's Slack user id
    installed_at        timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);

-- The state parameter of an OAuth install: single use, short-lived, stored hashed.
CREATE TABLE slack_oauth_states (
    state_hash bytea PRIMARY KEY CHECK (length(state_hash) = 32),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);

-- Every Slack callback is written here before it is acknowledged, so nothing is lost if the process dies
-- right after the ack. dedupe_key (the event id, or the trigger id of a command or interaction) is unique:
-- a retry or a duplicate delivery finds its row and is acknowledged without a second run.
CREATE TABLE slack_inbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dedupe_key   text NOT NULL UNIQUE,
    kind         text NOT NULL CHECK (kind IN ('event', 'command', 'interaction')),
    team_id      text,
    payload      jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    received_at  timestamptz NOT NULL,
    deliveries   integer NOT NULL DEFAULT 1,   -- how often Slack sent it (retries and duplicates included)
    attempts     integer NOT NULL DEFAULT 0,   -- how often a worker started on it
    locked_until timestamptz,                  -- a worker's lease; an expired lease means the worker died
    processed_at timestamptz,
    outcome      text CHECK (outcome IN ('handled', 'unhandled', 'ignored', 'failed')),
    error        text
);
CREATE INDEX slack_inbox_pending ON slack_inbox (received_at) WHERE processed_at IS NULL;

-- Messages the product sends: one row each, delivered once by a dispatcher (rows are claimed with
-- FOR UPDATE SKIP LOCKED, so several replicas never send one row twice). The Slack ts is stored so that a
-- later row can edit the message (kind 'update').
CREATE TABLE slack_outbox (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id        uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id       uuid,                        -- the rep it is for (their DM when channel is null)
    kind          text NOT NULL CHECK (kind IN ('post', 'ephemeral', 'update', 'response_url')),
    channel       text,
    thread_ts     text,
    response_url  text,
    response_url_expires_at timestamptz,       -- Slack accepts a response_url 5 times within 30 minutes
    update_of     bigint REFERENCES slack_outbox (id) ON DELETE CASCADE,
    message       jsonb NOT NULL CHECK (jsonb_typeof(message) = 'object'),
    see_more      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(see_more) = 'object'),
    source        text NOT NULL,               -- what made it (a command, a job), for the logs
    created_at    timestamptz NOT NULL,
    not_before    timestamptz NOT NULL,
    attempts      integer NOT NULL DEFAULT 0,
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    locked_until  timestamptz,
    sent_at       timestamptz,
    slack_channel text,
    slack_ts      text,
    error         text,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE,
    CHECK (kind <> 'response_url' OR response_url IS NOT NULL),
    CHECK (kind <> 'update' OR update_of IS NOT NULL),
    CHECK (channel IS NOT NULL OR user_id IS NOT NULL OR kind IN ('response_url', 'update'))
);
CREATE INDEX slack_outbox_due ON slack_outbox (not_before, id) WHERE status = 'pending';
CREATE INDEX slack_outbox_sent_ts ON slack_outbox (org_id, slack_channel, slack_ts) WHERE slack_ts IS NOT NULL;

-- The local Slack sandbox (no Slack configured): each rep's DM with the bot, and modals open on screen.
CREATE TABLE slack_sandbox_messages (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id    uuid NOT NULL,
    user_id   uuid NOT NULL,
    ts        text NOT NULL,
    from_bot  boolean NOT NULL,
    ephemeral boolean NOT NULL DEFAULT false,
    message   jsonb NOT NULL CHECK (jsonb_typeof(message) = 'object'),
    posted_at timestamptz NOT NULL,
    edited_at timestamptz,
    UNIQUE (org_id, ts),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX slack_sandbox_messages_dm ON slack_sandbox_messages (org_id, user_id, id);

CREATE TABLE slack_sandbox_views (
    view_id   text PRIMARY KEY,
    org_id    uuid NOT NULL,
    user_id   uuid NOT NULL,
    view      jsonb NOT NULL CHECK (jsonb_typeof(view) = 'object'),
    opened_at timestamptz NOT NULL,
    closed_at timestamptz,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);

-- The signing secret the sandbox signs its requests with when SLACK_SIGNING_SECRET is unset; one per
-- database, so every replica verifies what another signed.
CREATE TABLE slack_sandbox_secret (
    id     boolean PRIMARY KEY DEFAULT true CHECK (id),
    secret text NOT NULL
);
INSERT INTO slack_sandbox_secret (secret) VALUES (replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));

-- A rep's own preferences (/sixty settings). The time zone lives on users.
CREATE TABLE user_preferences (
    org_id             uuid NOT NULL,
    user_id            uuid NOT NULL,
    daily_digest       boolean NOT NULL DEFAULT true,
    meeting_briefs     boolean NOT NULL DEFAULT true,
    task_reminders     boolean NOT NULL DEFAULT true,
    deal_alerts        boolean NOT NULL DEFAULT true,
    quiet_days         text[] NOT NULL DEFAULT '{saturday,sunday}'
        CHECK (quiet_days <@ ARRAY['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday']),
    snoozed_until      timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, user_id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);

-- Row-level security. OAuth states, the inbox and the sandbox secret have no tenant policy: only the system
-- path (SystemDb) reads or writes them, as it writes installations and the sandbox. Outbox rows are written by
-- a rep's own scope (a job's message for them) and read back only by that rep; sandbox rows by their rep.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['slack_installations', 'slack_oauth_states', 'slack_inbox', 'slack_outbox',
                             'slack_sandbox_messages', 'slack_sandbox_views', 'slack_sandbox_secret', 'user_preferences']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I TO CURRENT_USER USING ((SELECT app_system())) WITH CHECK ((SELECT app_system()))',
                       t || '_system', t);
    END LOOP;
END
$$;

CREATE POLICY slack_outbox_write ON slack_outbox FOR INSERT
    WITH CHECK (org_id = (SELECT app_org_id()) AND (user_id IS NULL OR user_id = (SELECT app_user_id())));
CREATE POLICY slack_outbox_owner_read ON slack_outbox FOR SELECT
    USING (org_id = (SELECT app_org_id()) AND user_id = (SELECT app_user_id()));
CREATE POLICY slack_sandbox_messages_owner_read ON slack_sandbox_messages FOR SELECT
    USING (org_id = (SELECT app_org_id()) AND user_id = (SELECT app_user_id()));
CREATE POLICY slack_sandbox_views_owner_read ON slack_sandbox_views FOR SELECT
    USING (org_id = (SELECT app_org_id()) AND user_id = (SELECT app_user_id()));
-- Owners and admins see which workspace is installed (the token stays encrypted; only the system path opens it).
CREATE POLICY slack_installations_admin_read ON slack_installations FOR SELECT
    USING (org_id = (SELECT app_org_id()) AND (SELECT app_is_org_admin()));
CREATE POLICY user_preferences_owner ON user_preferences FOR ALL
    USING (org_id = (SELECT app_org_id()) AND user_id = (SELECT app_user_id()))
    WITH CHECK (org_id = (SELECT app_org_id()) AND user_id = (SELECT app_user_id()));
