-- Cancel unfinished jobs by id in one statement: scheduled | queued | running -> cancelled; a
-- running job's holder loses its claim (its heartbeat and outcome are refused). Dry run: nothing
-- written.
-- Params: $1 ids bigint[], $2 dry run bool
-- Returns: one row per distinct id in input order: id, changed, state (before), scheduled (before)
WITH input AS (
  SELECT t.id, min(t.ord) AS ord FROM unnest($1::bigint[]) WITH ORDINALITY AS t(id, ord) GROUP BY t.id
), upd AS (
  UPDATE __SCHEMA__.jobs j
  SET state = 'cancelled', finished_at = now(), updated_at = now(), worker_id = NULL, lease_expires_at = NULL
  FROM input i
  WHERE j.id = i.id AND NOT $2 AND j.state IN ('queued', 'running')
  RETURNING j.id
)
SELECT i.id::text AS id, upd.id IS NOT NULL AS changed, j.state, j.run_at > now() AS scheduled
FROM input i
LEFT JOIN upd ON upd.id = i.id
LEFT JOIN __SCHEMA__.jobs j ON j.id = i.id
ORDER BY i.ord
