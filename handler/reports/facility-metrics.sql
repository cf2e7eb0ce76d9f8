-- One row per facility (its latest record): size, services offered, and when its first listed
-- accreditation expires (NULL when it lists none).
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
)
SELECT facility_id,
       facility_name,
       employee_count,
       cardinality(services) AS number_of_offered_services,
       element_at(accreditations, 1).valid_until AS expiry_date_of_first_accreditation
FROM latest
ORDER BY facility_id
