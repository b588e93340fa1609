-- One page of jobs in any state, keyset by id.
-- Params: :after (bigint, 0 = from the start) :queue :name (NULL = any) :limit
-- Returns: job rows in id order
SELECT CAST(j.id AS TEXT) AS id, j.queue, j.name, CAST(j.payload AS BLOB) AS payload, j.priority, j.state, j.attempts, j.max_attempts, j.run_at, j.timeout_ms,
       j.unique_key, j.worker_id, j.lease_expires_at, j.last_error, j.errors, j.result, j.progress,
       j.created_at, j.started_at, j.finished_at, j.updated_at
FROM jobs j
WHERE j.id > :after
  AND (:queue IS NULL OR j.queue = :queue)
  AND (:name IS NULL OR j.name = :name)
ORDER BY j.id
LIMIT :limit
