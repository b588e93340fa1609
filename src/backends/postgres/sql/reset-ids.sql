-- Reset running jobs by id in one statement: running -> queued now, claim released, the attempt
-- stays counted. A job held by a live worker with a valid lease is left alone unless forced.
-- Dry run: nothing written.
-- Params: $1 ids bigint[], $2 force bool, $3 dry run bool, $4 wake-up channel text,
--         $5 errors kept int
-- Returns: one row per distinct id in input order: id, changed, state (before), scheduled
--          (before), worker_id, held (live worker and valid lease, before)
WITH input AS (
  SELECT t.id, min(t.ord) AS ord FROM unnest($1::bigint[]) WITH ORDINALITY AS t(id, ord) GROUP BY t.id
), upd AS (
  UPDATE __SCHEMA__.jobs j
  SET state = 'queued', run_at = now(), worker_id = NULL, lease_expires_at = NULL, updated_at = now(),
      last_error = 'reset by an operator (was held by ' || coalesce(j.worker_id, 'nobody') || ')',
      errors = (SELECT coalesce(jsonb_agg(e.v ORDER BY e.n), '[]'::jsonb)
                FROM jsonb_array_elements(j.errors || jsonb_build_array(jsonb_build_object(
                       'attempt', j.attempts, 'at', round(date_part('epoch', now()) * 1000)::bigint,
                       'message', 'reset by an operator (was held by ' || coalesce(j.worker_id, 'nobody') || ')')))
                     WITH ORDINALITY AS e(v, n)
                WHERE e.n > jsonb_array_length(j.errors) + 1 - $5)
  FROM input i
  WHERE j.id = i.id AND NOT $3 AND j.state = 'running'
    AND ($2 OR j.lease_expires_at IS NULL OR j.lease_expires_at <= now() OR NOT EXISTS (SELECT 1 FROM __SCHEMA__.workers w WHERE w.name = j.worker_id AND w.last_heartbeat_at + w.ttl_ms * interval '1 millisecond' > now()))
  RETURNING j.id, j.queue
), woke AS (
  SELECT count(pg_notify($4, q.queue)) AS n FROM (SELECT DISTINCT queue FROM upd) q
)
SELECT i.id::text AS id, upd.id IS NOT NULL AS changed, j.state, j.run_at > now() AS scheduled, j.worker_id,
       (j.lease_expires_at > now() AND EXISTS (SELECT 1 FROM __SCHEMA__.workers w WHERE w.name = j.worker_id AND w.last_heartbeat_at + w.ttl_ms * interval '1 millisecond' > now())) AS held, (SELECT n FROM woke) AS woke
FROM input i
LEFT JOIN upd ON upd.id = i.id
LEFT JOIN __SCHEMA__.jobs j ON j.id = i.id
ORDER BY i.ord
