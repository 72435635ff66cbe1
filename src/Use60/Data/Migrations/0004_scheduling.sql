-- Quartz.NET 4.7's persistent job store (ADO.NET, PostgreSQL delegate, table prefix qrtz_): the tables it reads and
-- writes, so that several replicas share one schedule in clustered mode. The app creates them here rather than letting
-- Quartz provision them; Quartz validates them at start, so a mismatch (say, after a Quartz upgrade that needs a new
-- column) stops the app loudly. Not tenant data: no org_id, no RLS.

CREATE TABLE qrtz_job_details (
    sched_name        text NOT NULL,
    job_name          text NOT NULL,
    job_group         text NOT NULL,
    description       text,
    job_class_name    text NOT NULL,
    is_durable        boolean NOT NULL,
    is_nonconcurrent  boolean NOT NULL,
    is_update_data    boolean NOT NULL,
    requests_recovery boolean NOT NULL,
    job_data          bytea,
    PRIMARY KEY (sched_name, job_name, job_group)
);

CREATE TABLE qrtz_triggers (
    sched_name             text NOT NULL,
    trigger_name           text NOT NULL,
    trigger_group          text NOT NULL,
    job_name               text NOT NULL,
    job_group              text NOT NULL,
    description            text,
    next_fire_time         bigint,
    prev_fire_time         bigint,
    priority               integer,
    trigger_state          text NOT NULL,
    trigger_type           text NOT NULL,
    start_time             bigint NOT NULL,
    end_time               bigint,
    calendar_name          text,
    misfire_instr          smallint,
    misfire_orig_fire_time bigint,
    execution_group        varchar(200),
    preferred_node         varchar(200),
    preferred_node_auto    boolean NOT NULL DEFAULT false,
    retry_policy           varchar(250),
    retry_attempt          integer,
    continues_trigger_name  text,
    continues_trigger_group text,
    continuation_condition integer,
    overlap_policy         integer,
    pause_reason           varchar(250),
    paused_by              varchar(200),
    paused_at              bigint,
    misfire_threshold      bigint,
    fixed_delay            boolean,
    job_data               bytea,
    PRIMARY KEY (sched_name, trigger_name, trigger_group),
    FOREIGN KEY (sched_name, job_name, job_group) REFERENCES qrtz_job_details (sched_name, job_name, job_group)
);

-- The trigger kinds' own properties, one table each.
CREATE TABLE qrtz_simple_triggers (
    sched_name      text NOT NULL,
    trigger_name    text NOT NULL,
    trigger_group   text NOT NULL,
    repeat_count    bigint NOT NULL,
    repeat_interval bigint NOT NULL,
    times_triggered bigint NOT NULL,
    PRIMARY KEY (sched_name, trigger_name, trigger_group),
    FOREIGN KEY (sched_name, trigger_name, trigger_group) REFERENCES qrtz_triggers (sched_name, trigger_name, trigger_group) ON DELETE CASCADE
);

CREATE TABLE qrtz_simprop_triggers (
    sched_name    text NOT NULL,
    trigger_name  text NOT NULL,
    trigger_group text NOT NULL,
    str_prop_1    text,
    str_prop_2    text,
    str_prop_3    text,
    int_prop_1    integer,
    int_prop_2    integer,
    long_prop_1   bigint,
    long_prop_2   bigint,
    dec_prop_1    numeric,
    dec_prop_2    numeric,
    bool_prop_1   boolean,
    bool_prop_2   boolean,
    time_zone_id  text,
    PRIMARY KEY (sched_name, trigger_name, trigger_group),
    FOREIGN KEY (sched_name, trigger_name, trigger_group) REFERENCES qrtz_triggers (sched_name, trigger_name, trigger_group) ON DELETE CASCADE
);

CREATE TABLE qrtz_cron_triggers (
    sched_name      text NOT NULL,
    trigger_name    text NOT NULL,
    trigger_group   text NOT NULL,
    cron_expression text NOT NULL,
    time_zone_id    text,
    PRIMARY KEY (sched_name, trigger_name, trigger_group),
    FOREIGN KEY (sched_name, trigger_name, trigger_group) REFERENCES qrtz_triggers (sched_name, trigger_name, trigger_group) ON DELETE CASCADE
);

CREATE TABLE qrtz_blob_triggers (
    sched_name    text NOT NULL,
    trigger_name  text NOT NULL,
    trigger_group text NOT NULL,
    blob_data     bytea,
    PRIMARY KEY (sched_name, trigger_name, trigger_group),
    FOREIGN KEY (sched_name, trigger_name, trigger_group) REFERENCES qrtz_triggers (sched_name, trigger_name, trigger_group) ON DELETE CASCADE
);

CREATE TABLE qrtz_calendars (
    sched_name    text NOT NULL,
    calendar_name text NOT NULL,
    calendar      bytea NOT NULL,
    PRIMARY KEY (sched_name, calendar_name)
);

CREATE TABLE qrtz_paused_trigger_grps (
    sched_name    text NOT NULL,
    trigger_group text NOT NULL,
    pause_reason  varchar(250),
    paused_by     varchar(200),
    paused_at     bigint,
    PRIMARY KEY (sched_name, trigger_group)
);

CREATE TABLE qrtz_paused_job_grps (
    sched_name   text NOT NULL,
    job_group    text NOT NULL,
    pause_reason varchar(250),
    paused_by    varchar(200),
    paused_at    bigint,
    PRIMARY KEY (sched_name, job_group)
);

-- What is firing right now, on which instance: how a surviving replica recovers a dead one's work.
CREATE TABLE qrtz_fired_triggers (
    sched_name        text NOT NULL,
    entry_id          text NOT NULL,
    trigger_name      text NOT NULL,
    trigger_group     text NOT NULL,
    instance_name     text NOT NULL,
    fired_time        bigint NOT NULL,
    sched_time        bigint NOT NULL,
    priority          integer NOT NULL,
    state             text NOT NULL,
    job_name          text,
    job_group         text,
    is_nonconcurrent  boolean NOT NULL,
    requests_recovery boolean,
    execution_group   varchar(200),
    progress          integer,
    progress_message  varchar(250),
    interrupt_requested_time bigint,
    PRIMARY KEY (sched_name, entry_id)
);

-- Each job's run history and latest status, and the misfires: what an admin page can show about the jobs.
CREATE TABLE qrtz_execution_history (
    sched_name       text NOT NULL,
    entry_id         text NOT NULL,
    instance_name    text NOT NULL,
    job_name         text NOT NULL,
    job_group        text NOT NULL,
    trigger_name     text NOT NULL,
    trigger_group    text NOT NULL,
    fired_time       bigint NOT NULL,
    run_time         bigint NOT NULL,
    succeeded        boolean NOT NULL,
    error_message    text,
    retry_attempt    integer NOT NULL DEFAULT 0,
    retry_scheduled  boolean NOT NULL DEFAULT false,
    execution_log    text,
    result           integer,
    summary          text,
    metrics          text,
    manual           boolean,
    fire_instance_id text,
    job_input        text,
    job_input_too_large boolean,
    PRIMARY KEY (sched_name, entry_id)
);

CREATE TABLE qrtz_job_status (
    sched_name           text NOT NULL,
    job_group            text NOT NULL,
    job_name             text NOT NULL,
    first_fired_time     bigint NOT NULL,
    last_fired_time      bigint NOT NULL,
    last_result          integer NOT NULL,
    last_run_time        bigint NOT NULL,
    last_instance_name   text NOT NULL,
    last_entry_id        text,
    last_summary         text,
    last_success_time    bigint,
    last_failure_time    bigint,
    last_failure_message text,
    consecutive_failures integer NOT NULL DEFAULT 0,
    run_count            bigint NOT NULL DEFAULT 0,
    failure_count        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (sched_name, job_group, job_name)
);

CREATE TABLE qrtz_misfire_history (
    sched_name    text NOT NULL,
    entry_id      text NOT NULL,
    instance_name text NOT NULL,
    trigger_name  text NOT NULL,
    trigger_group text NOT NULL,
    job_name      text,
    job_group     text,
    misfire_time  bigint NOT NULL,
    sched_time    bigint,
    reason        integer,
    PRIMARY KEY (sched_name, entry_id)
);

-- Cluster membership: each replica checks in; one that stops checking in is recovered by the others.
CREATE TABLE qrtz_scheduler_state (
    sched_name        text NOT NULL,
    instance_name     text NOT NULL,
    last_checkin_time bigint NOT NULL,
    checkin_interval  bigint NOT NULL,
    quartz_version    varchar(20),
    PRIMARY KEY (sched_name, instance_name)
);

-- Row locks (SELECT … FOR UPDATE) that serialise the replicas' changes to the schedule.
CREATE TABLE qrtz_locks (
    sched_name text NOT NULL,
    lock_name  text NOT NULL,
    PRIMARY KEY (sched_name, lock_name)
);

CREATE INDEX qrtz_job_details_group ON qrtz_job_details (sched_name, job_group, job_name);
CREATE INDEX qrtz_triggers_job ON qrtz_triggers (sched_name, job_name, job_group);
CREATE INDEX qrtz_triggers_calendar ON qrtz_triggers (sched_name, calendar_name);
CREATE INDEX qrtz_triggers_group ON qrtz_triggers (sched_name, trigger_group, trigger_name);
CREATE INDEX qrtz_triggers_due ON qrtz_triggers (sched_name, trigger_state, next_fire_time, priority DESC, misfire_instr);
CREATE INDEX qrtz_fired_triggers_recovery ON qrtz_fired_triggers (sched_name, instance_name, requests_recovery);
CREATE INDEX qrtz_fired_triggers_job ON qrtz_fired_triggers (sched_name, job_name, job_group);
CREATE INDEX qrtz_fired_triggers_trigger ON qrtz_fired_triggers (sched_name, trigger_name, trigger_group);
CREATE INDEX qrtz_execution_history_fire_instance ON qrtz_execution_history (sched_name, fire_instance_id);
CREATE INDEX qrtz_execution_history_fired ON qrtz_execution_history (sched_name, fired_time);
CREATE INDEX qrtz_execution_history_instance ON qrtz_execution_history (sched_name, instance_name);
CREATE INDEX qrtz_execution_history_job ON qrtz_execution_history (sched_name, job_group, job_name, fired_time);
CREATE INDEX qrtz_execution_history_trigger ON qrtz_execution_history (sched_name, trigger_group, trigger_name, fired_time);
CREATE INDEX qrtz_misfire_history_instance ON qrtz_misfire_history (sched_name, instance_name);
CREATE INDEX qrtz_misfire_history_time ON qrtz_misfire_history (sched_name, misfire_time);

-- Each proactive message is claimed here before it is queued: one per rep, workflow and key (a local date, an
-- event, a stall), whatever restarts, misfires or replicas do.
CREATE TABLE proactive_deliveries (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id       uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id      uuid NOT NULL,
    workflow     text NOT NULL CHECK (workflow IN ('daily_digest', 'meeting_brief', 'task_reminder', 'deal_stall', 'win_loss')),
    entity_key   text NOT NULL,
    created_at   timestamptz NOT NULL,
    outbox_id    bigint,
    UNIQUE (user_id, workflow, entity_key),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);

ALTER TABLE proactive_deliveries ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY proactive_deliveries_system ON proactive_deliveries TO CURRENT_USER
    USING ((SELECT app_system())) WITH CHECK ((SELECT app_system()));
CREATE POLICY proactive_deliveries_owner ON proactive_deliveries FOR ALL
    USING (org_id = (SELECT app_org_id()) AND user_id = (SELECT app_user_id()))
    WITH CHECK (org_id = (SELECT app_org_id()) AND user_id = (SELECT app_user_id()));

-- When the rep's morning digest comes, on their own wall clock.
ALTER TABLE user_preferences ADD COLUMN digest_time time NOT NULL DEFAULT '09:00';

-- A rep's "Snooze" on a suggestion (a deal in the digest's next actions, a stall alert): not suggested again until then.
CREATE TABLE proactive_snoozes (
    org_id     uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL,
    entity_key text NOT NULL,
    until      timestamptz NOT NULL,
    PRIMARY KEY (user_id, entity_key),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
ALTER TABLE proactive_snoozes ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY proactive_snoozes_system ON proactive_snoozes TO CURRENT_USER
    USING ((SELECT app_system())) WITH CHECK ((SELECT app_system()));
CREATE POLICY proactive_snoozes_owner ON proactive_snoozes FOR ALL
    USING (org_id = (SELECT app_org_id()) AND user_id = (SELECT app_user_id()))
    WITH CHECK (org_id = (SELECT app_org_id()) AND user_id = (SELECT app_user_id()));

-- The org's proactive defaults: after how many quiet days an open deal counts as stalled, and where wins and losses are posted.
ALTER TABLE org_settings
    ADD COLUMN stall_threshold_days integer NOT NULL DEFAULT 7 CHECK (stall_threshold_days BETWEEN 1 AND 90),
    ADD COLUMN win_loss_channel text;

-- What reps do with what use60 sends: every click on a proactive message (a snooze counts as a dismissal). A workflow a rep
-- keeps ignoring is throttled (the daily digest becomes weekly) until they restore it.
CREATE TABLE proactive_engagement (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL,
    delivery_id bigint NOT NULL REFERENCES proactive_deliveries (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('click', 'dismiss')),
    action_id   text NOT NULL,
    created_at  timestamptz NOT NULL,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX proactive_engagement_delivery ON proactive_engagement (delivery_id);

CREATE TABLE proactive_throttles (
    org_id   uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id  uuid NOT NULL,
    workflow text NOT NULL,
    since    timestamptz NOT NULL,
    PRIMARY KEY (user_id, workflow),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['proactive_engagement', 'proactive_throttles']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I TO CURRENT_USER USING ((SELECT app_system())) WITH CHECK ((SELECT app_system()))', t || '_system', t);
        EXECUTE format('CREATE POLICY %I ON %I FOR ALL USING (org_id = (SELECT app_org_id()) AND user_id = (SELECT app_user_id())) '
                       'WITH CHECK (org_id = (SELECT app_org_id()) AND user_id = (SELECT app_user_id()))', t || '_owner', t);
        -- Engagement per workflow and rep is for the admin site: counts of clicks, never message content.
        EXECUTE format('CREATE POLICY %I ON %I FOR SELECT USING (org_id = (SELECT app_org_id()) AND (SELECT app_is_org_admin()))', t || '_admin_read', t);
    END LOOP;
END
$$;
CREATE POLICY proactive_deliveries_admin_read ON proactive_deliveries FOR SELECT
    USING (org_id = (SELECT app_org_id()) AND (SELECT app_is_org_admin()));
