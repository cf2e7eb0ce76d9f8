-- Facilities holding at least one accreditation valid on the as-of date, per state.
-- Each facility counts once, and so do its employees, however many valid accreditations it holds
-- (the original Stage-3 query multiplied employees by the number of valid accreditations).
-- Parameters: 1 = as-of date.
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
accredited AS (
  SELECT l.facility_id,
         l.location.state AS state,
         l.employee_count,
         count(*) AS active_accreditations
  FROM latest l
  CROSS JOIN UNNEST(sequence(1, greatest(cardinality(l.accreditations), 1))) AS t(i)
  WHERE t.i <= cardinality(l.accreditations)
    AND element_at(l.accreditations, t.i).valid_until >= CAST(? AS DATE)
  GROUP BY l.facility_id, l.location.state, l.employee_count
)
SELECT state,
       count(*) AS accredited_facilities,
       sum(employee_count) AS total_employees,
       sum(active_accreditations) AS active_accreditations
FROM accredited
GROUP BY state
ORDER BY accredited_facilities DESC, state
