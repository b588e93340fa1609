-- Requeue finished jobs by id in one statement: failed | cancelled | completed -> queued now,
-- claim and finish cleared; reset attempts to 0, or give a job with no attempts left one more.
-- A job whose unique key another unfinished job now holds is left alone. Dry run: nothing written.
-- Params: $1 ids bigint[], $2 reset attempts bool, $3 dry run bool, $4 wake-up channel text
-- Returns: one row per distinct id in input order: id, changed, state (before), scheduled (before),
--          key_held (unique key held by another unfinished job)
WITH input AS (
  SELECT t.id, min(t.ord) AS ord FROM unnest($1::bigint[]) WITH ORDINALITY AS t(id, ord) GROUP BY t.id
), cand AS MATERIALIZED (
  -- locked first: the row as it is now (its kept `completed` line, see migration-004.sql)
  SELECT j.id, j.done_seq, j.done_worker, j.done_line, j.finished_at, j.queue
  FROM __SCHEMA__.jobs j JOIN input i ON j.id = i.id
  WHERE NOT $3 AND j.state IN ('completed', 'failed', 'cancelled') AND NOT EXISTS (SELECT 1 FROM __SCHEMA__.jobs x WHERE j.unique_key IS NOT NULL AND x.unique_key = j.unique_key AND x.state IN ('queued', 'running'))
  ORDER BY j.id
  FOR UPDATE OF j
), upd AS (
  UPDATE __SCHEMA__.jobs j
  SET state = 'queued', run_at = now(), updated_at = now(), finished_at = NULL, worker_id = NULL, lease_expires_at = NULL,
      attempts = CASE WHEN $2 THEN 0 ELSE j.attempts END,
      max_attempts = CASE WHEN NOT $2 AND j.attempts >= j.max_attempts THEN j.attempts + 1 ELSE j.max_attempts END,
      done_seq = NULL, done_worker = NULL, done_line = NULL
  FROM cand c
  WHERE j.id = c.id AND j.state IN ('completed', 'failed', 'cancelled')
  RETURNING j.id, j.queue
), kept AS (
  -- the `completed` line kept on the row goes to the logs table, under its seq
  INSERT INTO __SCHEMA__.logs (seq, ts, job_id, worker, queue, stream, message)
  SELECT c.done_seq, c.finished_at, c.id, c.done_worker, c.queue, 'event', c.done_line
  FROM cand c JOIN upd ON upd.id = c.id
  WHERE c.done_seq IS NOT NULL
), woke AS (
  SELECT count(pg_notify($4, q.queue)) AS n FROM (SELECT DISTINCT queue FROM upd) q
)
SELECT i.id::text AS id, upd.id IS NOT NULL AS changed, j.state, j.run_at > now() AS scheduled,
       NOT NOT EXISTS (SELECT 1 FROM __SCHEMA__.jobs x WHERE j.unique_key IS NOT NULL AND x.unique_key = j.unique_key AND x.state IN ('queued', 'running')) AS key_held, (SELECT n FROM woke) AS woke
FROM input i
LEFT JOIN upd ON upd.id = i.id
LEFT JOIN __SCHEMA__.jobs j ON j.id = i.id
ORDER BY i.ord
