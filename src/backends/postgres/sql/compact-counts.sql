-- Fold the delta rows of job_counts into one row per (queue, state) (see migration-002.sql), in
-- one transaction: a reader sees the rows before or after, never both. Rows appended by
-- transactions not visible yet stay as they are. One compactor at a time (try-lock, never waits).
-- Params: $1 lock key text
-- Returns: folded (delta rows read; 0 when another compactor holds the lock)
WITH lock AS (
  SELECT pg_try_advisory_xact_lock(hashtext($1)) AS ok
), del AS (
  DELETE FROM __SCHEMA__.job_counts c WHERE (SELECT ok FROM lock)
  RETURNING c.queue, c.state, c.n
), ins AS (
  INSERT INTO __SCHEMA__.job_counts (queue, state, n)
  SELECT d.queue, d.state, sum(d.n) FROM del d GROUP BY d.queue, d.state HAVING sum(d.n) <> 0
)
SELECT count(*) AS folded FROM del
