-- Delete one batch of finished jobs that finished before now - $2 ms, and their log lines.
-- Params: $1 states text[], $2 older than ms float8, $3 queue text (NULL = all), $4 limit int
-- Returns: deleted (count)
WITH del AS (
  DELETE FROM __SCHEMA__.jobs j
  WHERE j.id IN (
    SELECT c.id FROM __SCHEMA__.jobs c
    WHERE c.state = ANY($1::text[]) AND c.state IN ('completed', 'failed', 'cancelled') AND c.finished_at < now() - $2 * interval '1 millisecond'
      AND ($3::text IS NULL OR c.queue = $3)
    ORDER BY c.finished_at
    LIMIT $4
    FOR UPDATE SKIP LOCKED
  )
  RETURNING j.id
), logs AS (
  DELETE FROM __SCHEMA__.logs l WHERE l.job_id IN (SELECT id FROM del)
)
SELECT count(*) AS deleted FROM del
