-- 0028: what erasure and retention need to reach everything about a person, and nothing of anyone else's.

-- True when the attendee list names one of the addresses and every other outside attendee (not the calendar's owner, not a member
-- of the org) is one of them too: a meeting that was only with these people. Retention and erasure both ask it.
CREATE FUNCTION only_outside_attendees(attendees jsonb, org uuid, emails text[]) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT EXISTS (SELECT 1 FROM jsonb_array_elements(attendees) a WHERE lower(a ->> 'email') = ANY (emails))
       AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(attendees) a
                       WHERE NOT coalesce((a ->> 'self')::boolean, false) AND lower(a ->> 'email') <> ALL (emails)
                         AND lower(a ->> 'email') NOT IN (SELECT lower(u.email) FROM users u WHERE u.org_id = org AND u.email IS NOT NULL))
$$;

-- The value with every string in it (object keys included) rewritten by regexp_replace(…, pattern, replacement, 'gi'), and its
-- structure untouched: a mention is erased from JSON without rewriting the document as text (where a match could straddle quotes
-- or escapes and leave invalid JSON, or erase a key's punctuation).
CREATE FUNCTION jsonb_scrub_strings(value jsonb, pattern text, replacement text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    CASE jsonb_typeof(value)
        WHEN 'string' THEN
            RETURN to_jsonb(regexp_replace(value #>> '{}', pattern, replacement, 'gi'));
        WHEN 'array' THEN
            RETURN coalesce((SELECT jsonb_agg(jsonb_scrub_strings(e, pattern, replacement) ORDER BY i)
                             FROM jsonb_array_elements(value) WITH ORDINALITY AS t (e, i)), '[]'::jsonb);
        WHEN 'object' THEN
            RETURN coalesce((SELECT jsonb_object_agg(regexp_replace(k, pattern, replacement, 'gi'), jsonb_scrub_strings(v, pattern, replacement))
                             FROM jsonb_each(value) AS t (k, v)), '{}'::jsonb);
        ELSE
            RETURN value;
    END CASE;
END
$$;

-- The org a webhook delivery turned out to be about, once processed (null: it matched none). An erasure scrubs its own org's
-- deliveries only; the table has no org until the delivery is read.
ALTER TABLE webhook_inbox ADD COLUMN org_id uuid REFERENCES orgs (id) ON DELETE CASCADE;
CREATE INDEX webhook_inbox_org ON webhook_inbox (org_id) WHERE org_id IS NOT NULL;
-- A table with an org now: the app's own connections are bound by a policy too (they see none of it; only the system path reads it).
CREATE POLICY webhook_inbox_tenant_none ON webhook_inbox FOR ALL USING (false) WITH CHECK (false);

-- An erasure that keeps failing is tried a few times, then waits for an admin (who is alerted) instead of failing every hour forever.
ALTER TABLE privacy_requests ADD COLUMN attempts integer NOT NULL DEFAULT 0;

-- The Fathom pull's place in a backlog longer than one run reads: the next run goes on from Fathom's cursor (with the filter it
-- belongs to, and what the scan has seen so far) instead of reading the same first pages again and never reaching the end.
ALTER TABLE fathom_sync ADD COLUMN scan_cursor text, ADD COLUMN scan_since timestamptz, ADD COLUMN scan_newest timestamptz,
    ADD COLUMN scan_hold timestamptz;
