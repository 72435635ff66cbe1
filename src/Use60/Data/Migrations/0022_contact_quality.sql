-- 0022 contact quality: each contact's data-quality score, 0-100 (Privacy/ContactFields.cs: ContactQuality says how). The app
-- keeps it on every write (Privacy/ContactValidation.cs); these functions compute the same in SQL, for the rows written before
-- this migration and for bulk SQL inserts (the benchmark's data). ContactQualityTests keeps the two in step.

CREATE FUNCTION contact_email_is_valid(email text) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT e ~ '^[A-Za-z0-9!#$%&''*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&''*+/=?^_`{|}~-]+)*@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,63}|[Xx][Nn]--[A-Za-z0-9-]{0,58}[A-Za-z0-9])$'
           AND length(e) <= 254 AND position('@' IN e) <= 65
    FROM (SELECT btrim(regexp_replace(btrim(email), '^mailto:', '', 'i')) AS e) given
$$;

-- Digits with formatting (spaces, dashes, dots, brackets, a "(0)" trunk prefix); with + or 00 in front, E.164.
CREATE FUNCTION contact_phone_is_valid(phone text) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
               WHEN body !~ '^[0-9 .()/-]*$' THEN false
               WHEN international OR digits LIKE '00%' THEN
                   number ~ '^[1-9][0-9]{6,14}$' AND (number NOT LIKE '1%' OR length(number) = 11)
               ELSE length(digits) BETWEEN 7 AND 15
           END
    FROM (SELECT btrim(regexp_replace(btrim(phone), '^tel:', '', 'i')) AS t) given
    CROSS JOIN LATERAL (SELECT t LIKE '+%' AS international, replace(CASE WHEN t LIKE '+%' THEN substr(t, 2) ELSE t END, '(0)', '') AS body) parts
    CROSS JOIN LATERAL (SELECT regexp_replace(body, '[^0-9]', '', 'g') AS digits) only_digits
    CROSS JOIN LATERAL (SELECT CASE WHEN international THEN digits ELSE substr(digits, 3) END AS number) e164
$$;

-- A person's /in/ profile on linkedin.com (any case, www., m. or a country's subdomain, with or without a scheme).
CREATE FUNCTION contact_linkedin_is_valid(url text) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT u !~ '\s'
           AND u ~* '^https?://(linkedin\.com|(www|m|[a-z]{2})\.linkedin\.com)(:[0-9]+)?/in/([A-Za-z0-9_-]|%[0-9A-Fa-f]{2}){3,100}(/[^?#]*)?([?#].*)?$'
    FROM (SELECT CASE WHEN btrim(url) LIKE '%://%' THEN btrim(url) ELSE 'https://' || btrim(url) END AS u) given
$$;

CREATE FUNCTION contact_data_quality_score(first_name text, last_name text, title text, company_id uuid, email text, phone text,
                                           linkedin_url text) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN coalesce(btrim(email), '') <> '' AND contact_email_is_valid(email) THEN 30 ELSE 0 END
         + CASE WHEN coalesce(btrim(phone), '') <> '' AND contact_phone_is_valid(phone) THEN 20 ELSE 0 END
         + CASE WHEN coalesce(btrim(linkedin_url), '') <> '' AND contact_linkedin_is_valid(linkedin_url) THEN 20 ELSE 0 END
         + CASE WHEN coalesce(btrim(first_name), '') <> '' AND coalesce(btrim(last_name), '') <> '' THEN 10 ELSE 0 END
         + CASE WHEN coalesce(btrim(title), '') <> '' THEN 10 ELSE 0 END
         + CASE WHEN company_id IS NOT NULL THEN 10 ELSE 0 END
$$;

ALTER TABLE contacts ADD COLUMN data_quality_score integer NOT NULL DEFAULT 0 CHECK (data_quality_score BETWEEN 0 AND 100);

-- The admin page lists an org's lowest-scoring contacts first.
CREATE INDEX contacts_org_quality ON contacts (org_id, data_quality_score);

-- Rows from before: scored in the system context (row-level security is forced, on the owner too).
SELECT set_config('app.system', 'on', true);
-- Rows from before encryption (migration 0021) still hold their plaintext in unsealed_* until the app's start-up pass seals them.
UPDATE contacts SET data_quality_score = contact_data_quality_score(first_name, last_name, title, company_id, unsealed_email, unsealed_phone, unsealed_linkedin_url);
SELECT set_config('app.system', 'off', true);
