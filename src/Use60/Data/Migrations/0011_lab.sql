-- 0011 lab: Copilot Lab's saved test cases — a skill or sequence run as a given rep with given inputs, and the key facts its
-- result must contain — re-run together as a regression suite.

CREATE TABLE copilot_lab_cases (
    id             uuid PRIMARY KEY,
    org_id         uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name           text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    run_as         uuid NOT NULL,
    skill_key      text NOT NULL,
    inputs         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(inputs) = 'object'),
    expected_facts text[] NOT NULL CHECK (cardinality(expected_facts) BETWEEN 1 AND 20),
    created_by     uuid NOT NULL,
    created_at     timestamptz NOT NULL,
    last_run_at    timestamptz,
    last_passed    boolean,
    last_missing   text[],
    FOREIGN KEY (org_id, run_as) REFERENCES users (org_id, id) ON DELETE CASCADE
);

ALTER TABLE copilot_lab_cases ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY copilot_lab_cases_system ON copilot_lab_cases TO CURRENT_USER USING ((SELECT app_system())) WITH CHECK ((SELECT app_system()));
CREATE POLICY copilot_lab_cases_admin ON copilot_lab_cases FOR ALL
    USING (org_id = (SELECT app_org_id()) AND (SELECT app_is_org_admin()))
    WITH CHECK (org_id = (SELECT app_org_id()) AND (SELECT app_is_org_admin()));
