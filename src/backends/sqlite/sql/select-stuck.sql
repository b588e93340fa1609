-- Stuck jobs: running, not orphaned (valid lease, live worker), past started_at + timeout.
-- Params: :now :queue (NULL = all) :limit
-- Returns: facts rows in id order
SELECT CAST(j.id AS TEXT) AS id, j.state, j.queue, j.run_at, j.attempts, j.max_attempts, j.errors, j.last_error,
       j.worker_id, j.lease_expires_at, j.started_at, j.timeout_ms, j.unique_key,
       (w.name IS NOT NULL AND w.last_heartbeat_at + w.ttl_ms > :now) AS worker_alive
FROM jobs j JOIN workers w ON w.name = j.worker_id
WHERE j.state = 'running'
  AND j.lease_expires_at > :now AND w.last_heartbeat_at + w.ttl_ms > :now
  AND j.started_at + j.timeout_ms < :now
  AND (:queue IS NULL OR j.queue = :queue)
ORDER BY j.id
LIMIT :limit
