-- Claim up to $2 ready jobs in ONE statement: the queues in the given order (weights already
-- applied by the worker), within a queue priority, run_at, id; rows locked by other claimers are
-- skipped. Each claimed job: running, attempts + 1 (the fencing token), worker, lease, started_at.
-- Params: $1 queues text[] (in order), $2 limit int, $3 worker text, $4 lease ms float8
-- Returns: the claimed job rows (job columns, see rows.ts) and ord (position of the queue in $1)
WITH picked AS MATERIALIZED (
  SELECT c.id, q.ord
  FROM unnest($1::text[]) WITH ORDINALITY AS q(name, ord)
  CROSS JOIN LATERAL (
    SELECT j.id FROM __SCHEMA__.jobs j
    WHERE j.state = 'queued' AND j.queue = q.name AND j.run_at <= now()
    ORDER BY j.priority, j.run_at, j.id
    LIMIT $2
    FOR UPDATE SKIP LOCKED
  ) c
  LIMIT $2
)
UPDATE __SCHEMA__.jobs j
SET state = 'running', attempts = j.attempts + 1, worker_id = $3,
    lease_expires_at = now() + $4 * interval '1 millisecond', started_at = now(), updated_at = now()
FROM picked
WHERE j.id = picked.id
RETURNING j.id::text AS id, j.queue, j.name, j.payload, j.priority, j.state, j.attempts, j.max_attempts, j.run_at,
          j.timeout_ms, j.unique_key, j.worker_id, j.lease_expires_at, j.last_error, j.errors, j.result, j.progress,
          j.created_at, j.started_at, j.finished_at, j.updated_at, now() AS now, picked.ord
