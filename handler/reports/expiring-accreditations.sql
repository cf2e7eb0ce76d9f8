-- Accreditations still valid on the as-of date that expire on or before the horizon date
-- (as-of date plus N months, computed by the caller), soonest first.
-- Parameters: 1 = as-of date, 2 = as-of date, 3 = horizon date.
WITH latest AS (
  SELECT *
  FROM (
    SELECT f.*,
           row_number() OVER (
             PARTITION BY f.facility_id
             ORDER BY f.ingest_time DESC, f.ingest_upload_time DESC, f.ingest_source_key DESC, f.ingest_index DESC
           ) AS recency
    FROM facilities f
  ) ranked
  WHERE recency = 1
),
held AS (
  SELECT l.facility_id,
         l.facility_name,
         l.location.state AS state,
         element_at(l.accreditations, t.i) AS accreditation
  FROM latest l
  CROSS JOIN UNNEST(sequence(1, greatest(cardinality(l.accreditations), 1))) AS t(i)
  WHERE t.i <= cardinality(l.accreditations)
)
SELECT facility_id,
       facility_name,
       state,
       accreditation.accreditation_body AS accreditation_body,
       accreditation.accreditation_id AS accreditation_id,
       accreditation.valid_until AS valid_until,
       date_diff('day', CAST(? AS DATE), accreditation.valid_until) AS days_remaining
FROM held
WHERE accreditation.valid_until BETWEEN CAST(? AS DATE) AND CAST(? AS DATE)
ORDER BY valid_until, facility_id, accreditation_id
