-- Counts per queue in one statement: each stored state but queued by an index-only scan of its
-- partial index; queued, scheduled and the oldest ready run_at in one scan of the claim index; orphaned and stuck over
-- running rows (see list-jobs.sql for their definitions); live workers.
-- Params: $1 queue text (NULL = all)
-- Returns: rows (queue, kind, n, ts, now): kind is a stored state, 'scheduled', 'orphaned',
--          'stuck', 'oldest' (ts = oldest ready run_at) or 'workers' (queue NULL, n = alive)
WITH counts AS (
  SELECT j.queue, 'running' AS kind, count(*) AS n FROM __SCHEMA__.jobs j
  WHERE j.state = 'running' AND ($1::text IS NULL OR j.queue = $1) GROUP BY j.queue
  UNION ALL
  SELECT j.queue, 'completed', count(*) FROM __SCHEMA__.jobs j
  WHERE j.state = 'completed' AND ($1::text IS NULL OR j.queue = $1) GROUP BY j.queue
  UNION ALL
  SELECT j.queue, 'failed', count(*) FROM __SCHEMA__.jobs j
  WHERE j.state = 'failed' AND ($1::text IS NULL OR j.queue = $1) GROUP BY j.queue
  UNION ALL
  SELECT j.queue, 'cancelled', count(*) FROM __SCHEMA__.jobs j
  WHERE j.state = 'cancelled' AND ($1::text IS NULL OR j.queue = $1) GROUP BY j.queue
), queued AS (
  -- one scan of the queued rows gives all three: total, scheduled (run_at ahead), oldest ready
  SELECT j.queue, count(*) AS total, count(*) FILTER (WHERE j.run_at > now()) AS scheduled,
         min(j.run_at) FILTER (WHERE j.run_at <= now()) AS oldest
  FROM __SCHEMA__.jobs j
  WHERE j.state = 'queued' AND ($1::text IS NULL OR j.queue = $1)
  GROUP BY j.queue
), running AS (
  SELECT r.queue, count(*) FILTER (WHERE r.orphan) AS orphaned,
         count(*) FILTER (WHERE NOT r.orphan AND r.overdue) AS stuck
  FROM (
    SELECT j.queue,
           (j.lease_expires_at IS NULL OR j.lease_expires_at <= now() OR w.name IS NULL
            OR w.last_heartbeat_at + w.ttl_ms * interval '1 millisecond' <= now()) AS orphan,
           j.started_at + j.timeout_ms * interval '1 millisecond' < now() AS overdue
    FROM __SCHEMA__.jobs j
    LEFT JOIN __SCHEMA__.workers w ON w.name = j.worker_id
    WHERE j.state = 'running' AND ($1::text IS NULL OR j.queue = $1)
  ) r
  GROUP BY r.queue
)
SELECT queue, kind, n, NULL::timestamptz AS ts, now() AS now FROM counts
UNION ALL SELECT queue, 'queued', total, NULL, now() FROM queued
UNION ALL SELECT queue, 'scheduled', scheduled, NULL, now() FROM queued
UNION ALL SELECT queue, 'oldest', 0, oldest, now() FROM queued
UNION ALL SELECT queue, 'orphaned', orphaned, NULL, now() FROM running
UNION ALL SELECT queue, 'stuck', stuck, NULL, now() FROM running
UNION ALL SELECT NULL, 'workers', count(*), NULL, now() FROM __SCHEMA__.workers w
          WHERE w.last_heartbeat_at + w.ttl_ms * interval '1 millisecond' > now()
