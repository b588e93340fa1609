-- Claim up to $2 ready jobs in ONE statement: the queues in the given order (weights already
-- applied by the worker), within a queue priority, run_at, id; rows locked by other claimers are
-- skipped. Each claimed job: running, attempts + 1 (the fencing token), worker, lease, started_at.
-- Only what the claim does not already tell is returned, times as epoch ms: state, worker, lease,
-- started_at and updated_at follow from the claim itself and `now` (rows.ts toClaimedJob). The
-- jobs come as ONE JSON text of arrays (one JSON.parse in the worker instead of a type parser per
-- column and row), in claim order.
-- Params: $1 queues text[] (in order), $2 limit int, $3 worker text, $4 lease ms float8
-- Returns: one row: jobs (text, NULL when none: a JSON array with per claimed job the array
--          [id (text), queue, name, payload, priority, attempts, max_attempts, run_at_ms, timeout_ms,
--          unique_key, last_error, errors (NULL when empty), result, progress, created_at_ms]),
--          now_ms
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
), claimed AS (
  UPDATE __SCHEMA__.jobs j
  SET state = 'running', attempts = j.attempts + 1, worker_id = $3,
      lease_expires_at = now() + $4 * interval '1 millisecond', started_at = now(), updated_at = now()
  FROM picked
  WHERE j.id = picked.id
  RETURNING j.id, j.queue, j.name, j.payload, j.priority, j.attempts, j.max_attempts, j.run_at, j.timeout_ms,
            j.unique_key, j.last_error, j.errors, j.result, j.progress, j.created_at, picked.ord
)
SELECT json_agg(json_build_array(c.id::text, c.queue, c.name, c.payload, c.priority, c.attempts, c.max_attempts,
                                 date_part('epoch', c.run_at) * 1000, c.timeout_ms, c.unique_key, c.last_error,
                                 CASE WHEN c.errors <> '[]' THEN c.errors END, c.result, c.progress,
                                 date_part('epoch', c.created_at) * 1000)
                ORDER BY c.ord, c.priority, c.run_at, c.id)::text AS jobs,
       date_part('epoch', now()) * 1000 AS now_ms
FROM claimed c
