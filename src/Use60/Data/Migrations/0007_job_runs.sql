-- 0007 job runs: the last run of each scheduled job (when, on which replica, how it ended), for the admin site's Jobs page.
-- Quartz's own tables say when a job fires next; this says how its runs went. Not tenant data: job names, times, outcomes.

CREATE TABLE job_runs (
    job_name         text PRIMARY KEY,
    last_started_at  timestamptz,
    last_finished_at timestamptz,
    last_outcome     text CHECK (last_outcome IN ('running', 'succeeded', 'failed')),
    last_error       text,
    last_duration_ms integer,
    last_instance    text,
    runs             bigint NOT NULL DEFAULT 0,
    failures         bigint NOT NULL DEFAULT 0
);

ALTER TABLE job_runs ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY job_runs_system ON job_runs TO CURRENT_USER USING ((SELECT app_system())) WITH CHECK ((SELECT app_system()));
-- Every org's owners and admins may see how the shared jobs are doing.
CREATE POLICY job_runs_admin_read ON job_runs FOR SELECT USING ((SELECT app_is_org_admin()));
