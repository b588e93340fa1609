-- One page of jobs in one stored state, narrowed by a view, keyset by id.
-- :view is 'all' | 'due' (queued, run_at <= now) | 'future' (scheduled) | 'orphaned' | 'stuck'.
-- Params: :state :view :after (bigint, 0 = from the start) :queue :name (NULL = any) :now :limit
-- Returns: job rows in id order
SELECT CAST(j.id AS TEXT) AS id, j.queue, j.name, CAST(j.payload AS BLOB) AS payload, j.priority, j.state, j.attempts, j.max_attempts, j.run_at, j.timeout_ms,
       j.unique_key, j.worker_id, j.lease_expires_at, j.last_error, j.errors, j.result, j.progress,
       j.created_at, j.started_at, j.finished_at, j.updated_at
FROM jobs j LEFT JOIN workers w ON w.name = j.worker_id
WHERE j.state = :state AND j.id > :after
  AND (:queue IS NULL OR j.queue = :queue)
  AND (:name IS NULL OR j.name = :name)
  AND CASE :view
    WHEN 'due' THEN j.run_at <= :now
    WHEN 'future' THEN j.run_at > :now
    WHEN 'orphaned' THEN (j.lease_expires_at IS NULL OR j.lease_expires_at <= :now OR w.name IS NULL OR w.last_heartbeat_at + w.ttl_ms <= :now)
    WHEN 'stuck' THEN (j.lease_expires_at > :now AND w.last_heartbeat_at + w.ttl_ms > :now AND j.started_at + j.timeout_ms < :now)
    ELSE 1
  END
ORDER BY j.id
LIMIT :limit
