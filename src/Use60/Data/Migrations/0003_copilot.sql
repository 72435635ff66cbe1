-- The copilot: conversations (private to their user, always), tool and LLM telemetry, usage per rep and month,
-- pending actions waiting for Confirm, org overrides of skills, and the emails reps confirmed.

CREATE TABLE copilot_conversations (
    id              uuid PRIMARY KEY,
    org_id          uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL,
    -- Where it happens: a Slack channel id (the DM, or the channel of an @mention), or 'lab' for Copilot Lab.
    channel         text NOT NULL,
    started_at      timestamptz NOT NULL,
    last_message_at timestamptz NOT NULL,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX copilot_conversations_recent ON copilot_conversations (user_id, channel, last_message_at DESC);

CREATE TABLE copilot_messages (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id          uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL,
    conversation_id uuid NOT NULL,
    role            text NOT NULL CHECK (role IN ('user', 'assistant')),
    text            text NOT NULL,
    -- The structured response (meeting_list, pipeline_summary, …), the clarifying question, or the previews of the turn.
    structured      jsonb,
    planner         text,
    created_at      timestamptz NOT NULL,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, conversation_id) REFERENCES copilot_conversations (org_id, id) ON DELETE CASCADE
);
CREATE INDEX copilot_messages_conversation ON copilot_messages (conversation_id, id);
CREATE INDEX copilot_messages_rate ON copilot_messages (user_id, created_at) WHERE role = 'user';

CREATE TABLE copilot_tool_executions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id          uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL,
    conversation_id uuid,
    tool            text NOT NULL,
    arguments       text NOT NULL,
    duration_ms     integer NOT NULL,
    outcome         text NOT NULL CHECK (outcome IN ('ok', 'preview', 'error')),
    error           text,
    created_at      timestamptz NOT NULL,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, conversation_id) REFERENCES copilot_conversations (org_id, id) ON DELETE CASCADE
);
CREATE INDEX copilot_tool_executions_conversation ON copilot_tool_executions (conversation_id, id);

CREATE TABLE copilot_llm_calls (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id             uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id            uuid NOT NULL,
    conversation_id    uuid,
    model              text NOT NULL,
    latency_ms         integer NOT NULL,
    input_tokens       integer NOT NULL DEFAULT 0,
    output_tokens      integer NOT NULL DEFAULT 0,
    estimated_cost_usd numeric(12, 6) NOT NULL DEFAULT 0,
    outcome            text NOT NULL CHECK (outcome IN ('ok', 'error', 'timeout', 'step_limit')),
    error              text,
    created_at         timestamptz NOT NULL,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, conversation_id) REFERENCES copilot_conversations (org_id, id) ON DELETE CASCADE
);

-- Usage per rep and calendar month (UTC): the org's monthly token budget is checked against it, and admins see it
-- per rep without seeing a word of anyone's conversations.
CREATE TABLE copilot_usage (
    org_id          uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL,
    month           date NOT NULL CHECK (extract(day FROM month) = 1),
    requests        integer NOT NULL DEFAULT 0,
    llm_calls       integer NOT NULL DEFAULT 0,
    input_tokens    bigint NOT NULL DEFAULT 0,
    output_tokens   bigint NOT NULL DEFAULT 0,
    estimated_cost_usd numeric(12, 6) NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, user_id, month),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);

CREATE TABLE pending_actions (
    id              uuid PRIMARY KEY,
    org_id          uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL,
    conversation_id uuid,
    action          text NOT NULL,
    params          jsonb NOT NULL CHECK (jsonb_typeof(params) = 'object'),
    preview         jsonb NOT NULL CHECK (jsonb_typeof(preview) = 'object'),
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'executing', 'executed', 'failed', 'cancelled')),
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    decided_at      timestamptz,
    result          jsonb,
    error           text,
    -- The Slack message showing the preview, edited to show the outcome.
    slack_channel   text,
    slack_ts        text,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, conversation_id) REFERENCES copilot_conversations (org_id, id) ON DELETE SET NULL (conversation_id)
);
CREATE INDEX pending_actions_latest ON pending_actions (user_id, created_at DESC) WHERE status = 'pending';

CREATE TABLE skill_overrides (
    org_id      uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    skill_key   text NOT NULL CHECK (skill_key ~ '^[a-z0-9][a-z0-9-]{1,79}$'),
    document    text NOT NULL,
    updated_by  uuid,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (org_id, skill_key),
    FOREIGN KEY (org_id, updated_by) REFERENCES users (org_id, id) ON DELETE SET NULL (updated_by)
);

-- Emails reps confirmed: sent through SMTP_URL, or kept here as the local mail sandbox when no relay is configured.
CREATE TABLE outbound_emails (
    id                uuid PRIMARY KEY,
    org_id            uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id           uuid NOT NULL,
    pending_action_id uuid UNIQUE,
    contact_id        uuid,
    to_address        text NOT NULL,
    to_name           text,
    subject           text NOT NULL,
    body              text NOT NULL,
    delivery          text NOT NULL CHECK (delivery IN ('sandbox', 'smtp')),
    created_at        timestamptz NOT NULL,
    sent_at           timestamptz,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, pending_action_id) REFERENCES pending_actions (org_id, id) ON DELETE SET NULL (pending_action_id),
    FOREIGN KEY (org_id, contact_id) REFERENCES contacts (org_id, id) ON DELETE SET NULL (contact_id)
);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['copilot_conversations', 'copilot_messages', 'copilot_tool_executions', 'copilot_llm_calls',
                             'copilot_usage', 'pending_actions', 'skill_overrides', 'outbound_emails']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I TO CURRENT_USER USING ((SELECT app_system())) WITH CHECK ((SELECT app_system()))',
                       t || '_system', t);
    END LOOP;
    -- Conversations and everything in them belong to their user alone: no admin policy, no sharing policy.
    FOREACH t IN ARRAY ARRAY['copilot_conversations', 'copilot_messages', 'copilot_tool_executions', 'copilot_llm_calls',
                             'copilot_usage', 'pending_actions']
    LOOP
        EXECUTE format('CREATE POLICY %I ON %I FOR ALL USING (org_id = (SELECT app_org_id()) AND user_id = (SELECT app_user_id())) '
                       'WITH CHECK (org_id = (SELECT app_org_id()) AND user_id = (SELECT app_user_id()))', t || '_owner', t);
    END LOOP;
END
$$;

-- Usage counts (not content) are visible to the org's admins.
CREATE POLICY copilot_usage_admin_read ON copilot_usage FOR SELECT
    USING (org_id = (SELECT app_org_id()) AND (SELECT app_is_org_admin()));

-- Skills: every member runs them; owners and admins change the org's versions.
CREATE POLICY skill_overrides_member_read ON skill_overrides FOR SELECT USING (org_id = (SELECT app_org_id()));
CREATE POLICY skill_overrides_admin_write ON skill_overrides FOR ALL
    USING (org_id = (SELECT app_org_id()) AND (SELECT app_is_org_admin()))
    WITH CHECK (org_id = (SELECT app_org_id()) AND (SELECT app_is_org_admin()));

-- Emails follow the org's email sharing toggle, like the rest of a rep's email.
CREATE POLICY outbound_emails_owner ON outbound_emails FOR ALL
    USING (org_id = (SELECT app_org_id()) AND user_id = (SELECT app_user_id()))
    WITH CHECK (org_id = (SELECT app_org_id()) AND user_id = (SELECT app_user_id()));
CREATE POLICY outbound_emails_shared_read ON outbound_emails FOR SELECT
    USING (org_id = (SELECT app_org_id()) AND (SELECT app_org_shares('emails')));
