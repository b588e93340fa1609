-- Requeue one batch of finished jobs of one state (oldest id first) in one statement; rows other
-- transactions hold are skipped, so it can run concurrently and be re-run until nothing changes.
-- Same changes as requeue-ids.sql (also the kept `completed` line moved into the logs table).
-- Params: $1 state text, $2 reset attempts bool, $3 queue text (NULL = all), $4 limit int,
--         $5 wake-up channel text
-- Returns: id (text) of each requeued job, in id order
WITH cand AS MATERIALIZED (
  SELECT j.id, j.done_seq, j.done_worker, j.done_line, j.finished_at, j.queue FROM __SCHEMA__.jobs j
  WHERE j.state = $1 AND ($3::text IS NULL OR j.queue = $3) AND NOT EXISTS (SELECT 1 FROM __SCHEMA__.jobs x WHERE j.unique_key IS NOT NULL AND x.unique_key = j.unique_key AND x.state IN ('queued', 'running'))
  ORDER BY j.id
  LIMIT $4
  FOR UPDATE OF j SKIP LOCKED
), upd AS (
  UPDATE __SCHEMA__.jobs j
  SET state = 'queued', run_at = now(), updated_at = now(), finished_at = NULL, worker_id = NULL, lease_expires_at = NULL,
      attempts = CASE WHEN $2 THEN 0 ELSE j.attempts END,
      max_attempts = CASE WHEN NOT $2 AND j.attempts >= j.max_attempts THEN j.attempts + 1 ELSE j.max_attempts END,
      done_seq = NULL, done_worker = NULL, done_line = NULL
  FROM cand c
  WHERE j.id = c.id AND j.state = $1
  RETURNING j.id, j.queue
), kept AS (
  -- the `completed` line kept on the row goes to the logs table, under its seq
  INSERT INTO __SCHEMA__.logs (seq, ts, job_id, worker, queue, stream, message)
  SELECT c.done_seq, c.finished_at, c.id, c.done_worker, c.queue, 'event', c.done_line
  FROM cand c JOIN upd ON upd.id = c.id
  WHERE c.done_seq IS NOT NULL
), woke AS (
  SELECT count(pg_notify($5, q.queue)) AS n FROM (SELECT DISTINCT queue FROM upd) q
)
SELECT upd.id::text AS id, (SELECT n FROM woke) AS woke FROM upd ORDER BY upd.id
