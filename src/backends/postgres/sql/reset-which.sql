-- Reset one batch of orphaned or stuck jobs (see list-jobs.sql) in one statement; rows other
-- transactions hold are skipped. Stuck jobs are held by a live worker with a valid lease: they
-- change only when forced (the others are returned as not changed).
-- Params: $1 which text ('orphaned' | 'stuck'), $2 queue text (NULL = all), $3 limit int,
--         $4 force bool, $5 wake-up channel text,
--         $6 errors kept int
-- Returns: id (text), changed, worker_id, in id order
WITH cand AS MATERIALIZED (
  SELECT j.id, j.worker_id, (j.lease_expires_at > now() AND EXISTS (SELECT 1 FROM __SCHEMA__.workers w WHERE w.name = j.worker_id AND w.last_heartbeat_at + w.ttl_ms * interval '1 millisecond' > now())) AS held
  FROM __SCHEMA__.jobs j
  WHERE j.state = 'running' AND ($2::text IS NULL OR j.queue = $2)
    AND CASE WHEN $1 = 'orphaned'
             THEN j.lease_expires_at IS NULL OR j.lease_expires_at <= now() OR NOT EXISTS (SELECT 1 FROM __SCHEMA__.workers w WHERE w.name = j.worker_id AND w.last_heartbeat_at + w.ttl_ms * interval '1 millisecond' > now())
             ELSE j.lease_expires_at > now() AND EXISTS (SELECT 1 FROM __SCHEMA__.workers w WHERE w.name = j.worker_id AND w.last_heartbeat_at + w.ttl_ms * interval '1 millisecond' > now()) AND j.started_at + j.timeout_ms * interval '1 millisecond' < now() END
  ORDER BY j.id
  LIMIT $3
  FOR UPDATE OF j SKIP LOCKED
), upd AS (
  UPDATE __SCHEMA__.jobs j
  SET state = 'queued', run_at = now(), worker_id = NULL, lease_expires_at = NULL, updated_at = now(),
      last_error = 'reset by an operator (was held by ' || coalesce(j.worker_id, 'nobody') || ')',
      errors = (SELECT coalesce(jsonb_agg(e.v ORDER BY e.n), '[]'::jsonb)
                FROM jsonb_array_elements(j.errors || jsonb_build_array(jsonb_build_object(
                       'attempt', j.attempts, 'at', round(date_part('epoch', now()) * 1000)::bigint,
                       'message', 'reset by an operator (was held by ' || coalesce(j.worker_id, 'nobody') || ')')))
                     WITH ORDINALITY AS e(v, n)
                WHERE e.n > jsonb_array_length(j.errors) + 1 - $6)
  FROM cand c
  WHERE j.id = c.id AND j.state = 'running' AND ($4 OR NOT c.held)
  RETURNING j.id, j.queue
), woke AS (
  SELECT count(pg_notify($5, q.queue)) AS n FROM (SELECT DISTINCT queue FROM upd) q
)
SELECT c.id::text AS id, upd.id IS NOT NULL AS changed, c.worker_id, (SELECT n FROM woke) AS woke
FROM cand c LEFT JOIN upd ON upd.id = c.id
ORDER BY c.id
