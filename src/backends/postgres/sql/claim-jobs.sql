-- Claim up to $2 ready jobs in ONE statement: the queues in the given order (weights already
-- applied by the worker), within a queue priority, run_at, id; rows locked by other claimers are
-- skipped. Each claimed job: running, attempts + 1 (the fencing token), worker, lease, started_at.
-- Only what the claim does not already tell is returned, times as epoch ms (float8, cheaper to
-- print and parse than timestamptz): state, worker, lease, started_at and updated_at follow from
-- the claim itself and `now` (rows.ts toClaimedRow).
-- Params: $1 queues text[] (in order), $2 limit int, $3 worker text, $4 lease ms float8
-- Returns: per claimed job: id (text), queue, name, payload, priority, attempts, max_attempts,
--          run_at_ms, timeout_ms, unique_key, last_error, errors (NULL when empty), result,
--          progress, created_at_ms, now_ms, ord (position of the queue in $1)
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
RETURNING j.id::text AS id, j.queue, j.name, j.payload, j.priority, j.attempts, j.max_attempts,
          date_part('epoch', j.run_at) * 1000 AS run_at_ms, j.timeout_ms, j.unique_key, j.last_error,
          CASE WHEN j.errors <> '[]' THEN j.errors END AS errors, j.result, j.progress,
          date_part('epoch', j.created_at) * 1000 AS created_at_ms, date_part('epoch', now()) * 1000 AS now_ms, picked.ord
