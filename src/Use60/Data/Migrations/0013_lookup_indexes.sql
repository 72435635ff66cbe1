-- 0013 lookup indexes: what a meeting brief looks up by something other than its owner, without reading every row of the org.
-- (Under row-level security only leakproof operators reach an index, so these index plain columns: an index on lower(email)
-- would never be used for the app's role.)
-- A contact's latest activities, on any deal: who is coming to a meeting, and what happened with them lately.
CREATE INDEX activities_contact ON activities (contact_id, occurred_at DESC);
-- A deal's open tasks.
CREATE INDEX tasks_deal_open ON tasks (deal_id, due_date) WHERE status = 'open';
