-- 0001 initial: orgs and their people, sharing settings and persona, the CRM and calendar, the security
-- audit log, admin sign-in, and row-level security on every table that holds tenant data.
--
-- Tenant identity reaches PostgreSQL as settings that the app sets on every connection it opens:
--   app.org_id, app.user_id  the tenant of the scope (empty: no tenant, no rows)
--   app.system = 'on'        the narrow cross-tenant path; honoured only for the schema owner (this role)
-- The app itself connects as a role that owns nothing here, so every policy below binds it.

CREATE FUNCTION app_org_id() RETURNS uuid LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT nullif(current_setting('app.org_id', true), '')::uuid $$;

CREATE FUNCTION app_user_id() RETURNS uuid LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT nullif(current_setting('app.user_id', true), '')::uuid $$;

CREATE FUNCTION app_system() RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT coalesce(current_setting('app.system', true), '') = 'on' $$;

-- orgs -----------------------------------------------------------------------------------------------

CREATE TABLE orgs (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name          text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    slack_team_id text UNIQUE,
    plan          text NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'starter', 'pro', 'enterprise')),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id        uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    slack_user_id text,
    email         text CHECK (email IS NULL OR email ~ '^[^@\s]+@[^@\s]+$'),
    name          text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    time_zone     text NOT NULL DEFAULT 'UTC' CHECK (time_zone <> ''),
    role          text NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id),                 -- target of the tenant-consistent foreign keys below
    UNIQUE (org_id, slack_user_id)
);
CREATE UNIQUE INDEX users_org_email ON users (org_id, lower(email));
CREATE INDEX users_email ON users (lower(email));

CREATE TABLE org_settings (
    org_id                 uuid PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
    enable_crm_sharing     boolean NOT NULL DEFAULT true,   -- contacts, companies, deals, activities
    enable_meeting_sharing boolean NOT NULL DEFAULT true,   -- calendar events, meetings
    enable_task_sharing    boolean NOT NULL DEFAULT false,
    enable_email_sharing   boolean NOT NULL DEFAULT false,  -- email activities, even where CRM is shared
    enable_copilot_sharing boolean NOT NULL DEFAULT false
        CONSTRAINT copilot_conversations_are_always_private CHECK (enable_copilot_sharing = false),
    updated_at             timestamptz NOT NULL DEFAULT now()
);

-- Every org has its settings row, so the sharing defaults hold from the first moment.
CREATE FUNCTION orgs_create_settings() RETURNS trigger LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO org_settings (org_id) VALUES (NEW.id) ON CONFLICT DO NOTHING;
    RETURN NEW;
END
$$;
CREATE TRIGGER orgs_create_settings AFTER INSERT ON orgs FOR EACH ROW EXECUTE FUNCTION orgs_create_settings();

CREATE TABLE org_profile (
    org_id             uuid PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
    company_name       text NOT NULL DEFAULT '',
    products           jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(products) = 'array'),
    competitors        jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(competitors) = 'array'),
    pain_points        text[] NOT NULL DEFAULT '{}',
    value_propositions text[] NOT NULL DEFAULT '{}',
    brand_voice        text NOT NULL DEFAULT '',
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- Policy helpers. Called as (SELECT f()) in policies so each runs once per statement, not per row.
CREATE FUNCTION app_is_org_admin() RETURNS boolean LANGUAGE sql STABLE
AS $$ SELECT EXISTS (SELECT 1 FROM users
                     WHERE id = app_user_id() AND org_id = app_org_id() AND role IN ('owner', 'admin')) $$;

CREATE FUNCTION app_org_shares(kind text) RETURNS boolean LANGUAGE sql STABLE
AS $$ SELECT coalesce((SELECT CASE kind WHEN 'crm' THEN s.enable_crm_sharing
                                        WHEN 'meetings' THEN s.enable_meeting_sharing
                                        WHEN 'tasks' THEN s.enable_task_sharing
                                        WHEN 'emails' THEN s.enable_email_sharing
                                        WHEN 'copilot' THEN s.enable_copilot_sharing END
                       FROM org_settings s WHERE s.org_id = app_org_id()), false) $$;

-- CRM ------------------------------------------------------------------------------------------------
-- Each row belongs to an org and to the rep who owns it. The composite foreign keys (org_id, x_id) make a
-- reference across orgs impossible, whatever the app does.

CREATE TABLE companies (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id     uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL,
    name       text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 300),
    domain     text,
    industry   text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id)
);
CREATE INDEX companies_org_name ON companies (org_id, lower(name));

CREATE TABLE contacts (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id       uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id      uuid NOT NULL,
    company_id   uuid,
    first_name   text NOT NULL CHECK (length(btrim(first_name)) BETWEEN 1 AND 200),
    last_name    text NOT NULL DEFAULT '',
    title        text,
    email        text,
    phone        text,
    linkedin_url text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id),
    FOREIGN KEY (org_id, company_id) REFERENCES companies (org_id, id) ON DELETE SET NULL (company_id)
);
CREATE INDEX contacts_org_first_name ON contacts (org_id, lower(first_name));

CREATE TABLE deals (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id             uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id            uuid NOT NULL,
    company_id         uuid,
    primary_contact_id uuid,
    name               text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 300),
    stage              text NOT NULL DEFAULT 'lead'
        CHECK (stage IN ('lead', 'qualified', 'demo', 'proposal', 'negotiation', 'closed_won', 'closed_lost')),
    amount             numeric(14, 2) NOT NULL DEFAULT 0 CHECK (amount >= 0),
    currency           char(3) NOT NULL DEFAULT 'USD',
    probability        smallint NOT NULL DEFAULT 0 CHECK (probability BETWEEN 0 AND 100),
    close_date         date,
    next_step          text,
    last_activity_at   timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id),
    FOREIGN KEY (org_id, company_id) REFERENCES companies (org_id, id) ON DELETE SET NULL (company_id),
    FOREIGN KEY (org_id, primary_contact_id) REFERENCES contacts (org_id, id) ON DELETE SET NULL (primary_contact_id)
);
CREATE INDEX deals_owner_stage ON deals (org_id, user_id, stage);
CREATE INDEX deals_last_activity ON deals (org_id, last_activity_at);

CREATE TABLE activities (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL,
    deal_id     uuid,
    contact_id  uuid,
    type        text NOT NULL CHECK (type IN ('email', 'call', 'meeting', 'note', 'linkedin')),
    subject     text NOT NULL,
    details     text,
    occurred_at timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id),
    FOREIGN KEY (org_id, deal_id) REFERENCES deals (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, contact_id) REFERENCES contacts (org_id, id) ON DELETE SET NULL (contact_id)
);
CREATE INDEX activities_deal ON activities (deal_id, occurred_at DESC);

-- A deal's last activity follows its activities, whoever logs them (a colleague may log on a shared deal
-- they cannot change), so the function runs as the owner, in the system context for this one update only.
-- (A function's SET clause cannot name a custom setting without superuser, hence set_config and restore.)
CREATE FUNCTION activities_touch_deal() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp
AS $$
DECLARE
    previous text := coalesce(current_setting('app.system', true), '');
BEGIN
    IF NEW.deal_id IS NOT NULL THEN
        PERFORM set_config('app.system', 'on', true);
        UPDATE deals SET last_activity_at = NEW.occurred_at
        WHERE id = NEW.deal_id AND org_id = NEW.org_id
          AND (last_activity_at IS NULL OR last_activity_at < NEW.occurred_at);
        PERFORM set_config('app.system', previous, true);
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION activities_touch_deal() FROM PUBLIC;
CREATE TRIGGER activities_touch_deal AFTER INSERT OR UPDATE OF occurred_at, deal_id ON activities
    FOR EACH ROW EXECUTE FUNCTION activities_touch_deal();

CREATE TABLE tasks (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id       uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id      uuid NOT NULL,
    deal_id      uuid,
    contact_id   uuid,
    title        text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 500),
    notes        text,
    due_date     date NOT NULL,
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'cancelled')),
    completed_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id),
    FOREIGN KEY (org_id, deal_id) REFERENCES deals (org_id, id) ON DELETE SET NULL (deal_id),
    FOREIGN KEY (org_id, contact_id) REFERENCES contacts (org_id, id) ON DELETE SET NULL (contact_id)
);
CREATE INDEX tasks_owner_open ON tasks (org_id, user_id, due_date) WHERE status = 'open';

-- Calendar and meetings ------------------------------------------------------------------------------

CREATE TABLE calendar_events (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id          uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL,
    external_id     text NOT NULL,
    title           text NOT NULL,
    description     text,
    location        text,
    conference_url  text,
    start_time      timestamptz NOT NULL,
    end_time        timestamptz NOT NULL,
    attendees       jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(attendees) = 'array'),
    -- More than one attendee makes a real meeting; solo focus blocks have one or none.
    attendees_count integer GENERATED ALWAYS AS (jsonb_array_length(attendees)) STORED,
    status          text NOT NULL DEFAULT 'confirmed' CHECK (status IN ('confirmed', 'tentative', 'cancelled')),
    deal_id         uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (end_time >= start_time),
    UNIQUE (org_id, id),
    UNIQUE (user_id, external_id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id),
    FOREIGN KEY (org_id, deal_id) REFERENCES deals (org_id, id) ON DELETE SET NULL (deal_id)
);
CREATE INDEX calendar_events_owner_start ON calendar_events (org_id, user_id, start_time);

CREATE TABLE meetings (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id            uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    owner_user_id     uuid NOT NULL,
    calendar_event_id uuid,
    deal_id           uuid,
    title             text NOT NULL,
    start_time        timestamptz NOT NULL,
    end_time          timestamptz,
    source_type       text NOT NULL DEFAULT 'manual' CHECK (source_type IN ('fathom', '60_notetaker', 'manual')),
    summary           text,
    notes             text,
    transcript_text   text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (org_id, owner_user_id) REFERENCES users (org_id, id),
    FOREIGN KEY (org_id, calendar_event_id) REFERENCES calendar_events (org_id, id) ON DELETE SET NULL (calendar_event_id),
    FOREIGN KEY (org_id, deal_id) REFERENCES deals (org_id, id) ON DELETE SET NULL (deal_id)
);
CREATE INDEX meetings_owner_start ON meetings (org_id, owner_user_id, start_time);

-- Security audit log: append-only --------------------------------------------------------------------
-- No foreign keys: the log outlives the orgs and users it speaks of.

CREATE TABLE security_audit_log (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    occurred_at timestamptz NOT NULL DEFAULT now(),
    org_id      uuid,
    user_id     uuid,
    event_type  text NOT NULL CHECK (event_type ~ '^[a-z_]+(\.[a-z_]+)+$'),
    severity    text NOT NULL DEFAULT 'info' CHECK (severity IN ('info', 'low', 'medium', 'high', 'critical')),
    ip_address  inet,
    user_agent  text,
    details     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object')
);
CREATE INDEX security_audit_log_org_time ON security_audit_log (org_id, occurred_at DESC);
CREATE INDEX security_audit_log_type_time ON security_audit_log (event_type, occurred_at DESC);

CREATE FUNCTION security_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION 'security_audit_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER security_audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON security_audit_log
    FOR EACH ROW EXECUTE FUNCTION security_audit_log_append_only();
CREATE TRIGGER security_audit_log_no_truncate BEFORE TRUNCATE ON security_audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION security_audit_log_append_only();

-- Admin sign-in --------------------------------------------------------------------------------------

CREATE TABLE admin_login_links (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL,
    user_id     uuid NOT NULL,
    token_hash  bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_via text NOT NULL CHECK (created_via IN ('cli', 'slack')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);

CREATE TABLE admin_sessions (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id       uuid NOT NULL,
    user_id      uuid NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    ip_address   inet,
    user_agent   text,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);

-- ASP.NET Core Data Protection keys (cookies, antiforgery), shared by every replica. Not tenant data.
CREATE TABLE data_protection_keys (
    id           serial PRIMARY KEY,
    friendly_name text NOT NULL,
    xml          text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Row-level security ---------------------------------------------------------------------------------
-- ENABLE and FORCE on every tenant table. Each gets:
--   <t>_system   the owner role in the system context sees and writes everything (SystemDb);
--   and policies for the tenant, below.

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['orgs', 'users', 'org_settings', 'org_profile', 'companies', 'contacts', 'deals',
                             'activities', 'tasks', 'calendar_events', 'meetings', 'security_audit_log',
                             'admin_login_links', 'admin_sessions']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I TO CURRENT_USER USING ((SELECT app_system())) WITH CHECK ((SELECT app_system()))',
                       t || '_system', t);
    END LOOP;
END
$$;

-- The org itself: its members see it; owners and admins change it.
CREATE POLICY orgs_member_read ON orgs FOR SELECT USING (id = (SELECT app_org_id()));
CREATE POLICY orgs_admin_update ON orgs FOR UPDATE
    USING (id = (SELECT app_org_id()) AND (SELECT app_is_org_admin()))
    WITH CHECK (id = (SELECT app_org_id()));

-- Colleagues see each other (names, roles, time zones); a user edits their own row; admins manage the team.
-- The admin policies are per command, never FOR ALL: app_is_org_admin() reads users, so no SELECT policy
-- on users may call it.
CREATE POLICY users_member_read ON users FOR SELECT USING (org_id = (SELECT app_org_id()));
CREATE POLICY users_self_update ON users FOR UPDATE
    USING (org_id = (SELECT app_org_id()) AND id = (SELECT app_user_id()))
    WITH CHECK (org_id = (SELECT app_org_id()) AND id = (SELECT app_user_id()));
CREATE POLICY users_admin_insert ON users FOR INSERT
    WITH CHECK (org_id = (SELECT app_org_id()) AND (SELECT app_is_org_admin()));
CREATE POLICY users_admin_update ON users FOR UPDATE
    USING (org_id = (SELECT app_org_id()) AND (SELECT app_is_org_admin()))
    WITH CHECK (org_id = (SELECT app_org_id()));
CREATE POLICY users_admin_delete ON users FOR DELETE
    USING (org_id = (SELECT app_org_id()) AND (SELECT app_is_org_admin()));

-- Org-wide configuration: members read it, owners and admins change it.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['org_settings', 'org_profile']
    LOOP
        EXECUTE format('CREATE POLICY %I ON %I FOR SELECT USING (org_id = (SELECT app_org_id()))', t || '_member_read', t);
        EXECUTE format('CREATE POLICY %I ON %I FOR ALL USING (org_id = (SELECT app_org_id()) AND (SELECT app_is_org_admin())) '
                       'WITH CHECK (org_id = (SELECT app_org_id()) AND (SELECT app_is_org_admin()))', t || '_admin_write', t);
    END LOOP;
END
$$;

-- Owned data: the owner reads and writes their rows; colleagues in the same org read them only where the
-- org shares that kind of data; nobody ever sees across orgs.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM (VALUES ('companies', 'user_id', 'crm'),
                                   ('contacts', 'user_id', 'crm'),
                                   ('deals', 'user_id', 'crm'),
                                   ('tasks', 'user_id', 'tasks'),
                                   ('calendar_events', 'user_id', 'meetings'),
                                   ('meetings', 'owner_user_id', 'meetings'),
                                   ('admin_login_links', 'user_id', NULL),
                                   ('admin_sessions', 'user_id', NULL)) AS owned (tbl, owner_column, sharing)
    LOOP
        EXECUTE format('CREATE POLICY %I ON %I FOR ALL USING (org_id = (SELECT app_org_id()) AND %I = (SELECT app_user_id())) '
                       'WITH CHECK (org_id = (SELECT app_org_id()) AND %I = (SELECT app_user_id()))',
                       r.tbl || '_owner', r.tbl, r.owner_column, r.owner_column);
        IF r.sharing IS NOT NULL THEN
            EXECUTE format('CREATE POLICY %I ON %I FOR SELECT USING (org_id = (SELECT app_org_id()) AND (SELECT app_org_shares(%L)))',
                           r.tbl || '_shared_read', r.tbl, r.sharing);
        END IF;
    END LOOP;
END
$$;

-- Activities are CRM data, but an email stays private unless the org also shares emails.
CREATE POLICY activities_owner ON activities FOR ALL
    USING (org_id = (SELECT app_org_id()) AND user_id = (SELECT app_user_id()))
    WITH CHECK (org_id = (SELECT app_org_id()) AND user_id = (SELECT app_user_id()));
CREATE POLICY activities_shared_read ON activities FOR SELECT
    USING (org_id = (SELECT app_org_id()) AND (SELECT app_org_shares('crm'))
           AND (type <> 'email' OR (SELECT app_org_shares('emails'))));

-- The audit log: anyone may add to their own org's log (or to the org-less log of unattributed events);
-- only owners and admins read it; nobody changes it (no policy, no grant, and the triggers above).
CREATE POLICY security_audit_log_append ON security_audit_log FOR INSERT
    WITH CHECK (org_id IS NULL OR org_id = (SELECT app_org_id()));
CREATE POLICY security_audit_log_admin_read ON security_audit_log FOR SELECT
    USING (org_id = (SELECT app_org_id()) AND (SELECT app_is_org_admin()));
