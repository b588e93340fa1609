-- What operator mutations decide on: state, claim, lease and whether the holder is alive.
-- Params: :id :now
-- Returns: one facts row (see rows.ts FactsRow), or none
SELECT CAST(j.id AS TEXT) AS id, j.state, j.queue, j.run_at, j.attempts, j.max_attempts, j.errors, j.last_error,
       j.worker_id, j.lease_expires_at, j.started_at, j.timeout_ms, j.unique_key,
       (w.name IS NOT NULL AND w.last_heartbeat_at + w.ttl_ms > :now) AS worker_alive
FROM jobs j LEFT JOIN workers w ON w.name = j.worker_id
WHERE j.id = :id
