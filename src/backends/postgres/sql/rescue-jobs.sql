-- Put orphaned jobs back: running, and the lease expired or the worker record is missing or its
-- heartbeat is older than its TTL. Rows another rescuer holds are skipped (SKIP LOCKED), so
-- concurrent rescuers never handle the same job. The attempt stays counted and the reason is
-- appended to errors; a job whose last attempt it was -> failed. NOTIFY for requeued queues.
-- Params: $1 limit int, $2 errors kept int, $3 wake-up channel text
-- Returns: id (text), state (stored) of each rescued job
WITH cand AS MATERIALIZED (
  SELECT j.id,
         CASE WHEN j.lease_expires_at IS NULL OR j.lease_expires_at <= now()
              THEN 'lease expired (worker ' || coalesce(j.worker_id, '?') || ')'
              WHEN w.name IS NULL THEN 'worker ' || j.worker_id || ' is gone'
              ELSE 'worker ' || j.worker_id || ' stopped heartbeating' END AS reason
  FROM __SCHEMA__.jobs j
  LEFT JOIN __SCHEMA__.workers w ON w.name = j.worker_id
  WHERE j.state = 'running'
    AND (j.lease_expires_at IS NULL OR j.lease_expires_at <= now() OR w.name IS NULL
         OR w.last_heartbeat_at + w.ttl_ms * interval '1 millisecond' <= now())
  ORDER BY j.id
  LIMIT $1
  FOR UPDATE OF j SKIP LOCKED
), upd AS (
  UPDATE __SCHEMA__.jobs j
  SET state = CASE WHEN j.attempts >= j.max_attempts THEN 'failed' ELSE 'queued' END,
      run_at = CASE WHEN j.attempts >= j.max_attempts THEN j.run_at ELSE now() END,
      finished_at = CASE WHEN j.attempts >= j.max_attempts THEN now() END,
      last_error = c.reason,
      errors = (SELECT coalesce(jsonb_agg(e.v ORDER BY e.n), '[]'::jsonb)
                FROM jsonb_array_elements(j.errors || jsonb_build_array(jsonb_build_object(
                       'attempt', j.attempts, 'at', round(date_part('epoch', now()) * 1000)::bigint, 'message', c.reason)))
                     WITH ORDINALITY AS e(v, n)
                WHERE e.n > jsonb_array_length(j.errors) + 1 - $2),
      worker_id = NULL, lease_expires_at = NULL, updated_at = now()
  FROM cand c
  WHERE j.id = c.id AND j.state = 'running'
  RETURNING j.id, j.queue, j.state
), woke AS (
  SELECT count(pg_notify($3, q.queue)) AS n FROM (SELECT DISTINCT queue FROM upd WHERE state = 'queued') q
)
SELECT upd.id::text AS id, upd.state, (SELECT n FROM woke) AS woke FROM upd ORDER BY upd.id
