-- Counts per queue in one statement, at a cost that follows the number of queues and running
-- jobs, not the size of the table:
-- - stored states: job_counts_read, the sum of the delta rows kept by triggers (migration-002.sql);
-- - scheduled (queued with run_at ahead) and the oldest ready run_at: per queue with queued jobs,
--   its distinct priorities by a skip scan of the claim index, then per priority the rows with
--   run_at ahead (counted) and the first run_at (one index probe each);
-- - orphaned and stuck over the running rows (see list-jobs.sql for their definitions);
-- - live workers.
-- Params: $1 queue text (NULL = all)
-- Returns: rows (queue, kind, n, ts, now): kind is a stored state, 'scheduled', 'orphaned',
--          'stuck', 'oldest' (ts = oldest ready run_at) or 'workers' (queue NULL, n = alive)
WITH RECURSIVE counts AS (
  SELECT c.queue, c.state AS kind, c.n FROM __SCHEMA__.job_counts_read($1::text) c
), prio(queue, p) AS (
  SELECT c.queue, (SELECT j.priority FROM __SCHEMA__.jobs j WHERE j.state = 'queued' AND j.queue = c.queue
                   ORDER BY j.priority LIMIT 1)
  FROM counts c WHERE c.kind = 'queued'
  UNION ALL
  SELECT r.queue, (SELECT j.priority FROM __SCHEMA__.jobs j WHERE j.state = 'queued' AND j.queue = r.queue AND j.priority > r.p
                   ORDER BY j.priority LIMIT 1)
  FROM prio r WHERE r.p IS NOT NULL
), queued AS (
  SELECT r.queue,
         sum((SELECT count(*) FROM __SCHEMA__.jobs j
              WHERE j.state = 'queued' AND j.queue = r.queue AND j.priority = r.p AND j.run_at > now()))::bigint AS scheduled,
         min(f.first) FILTER (WHERE f.first <= now()) AS oldest
  FROM prio r
  CROSS JOIN LATERAL (SELECT j.run_at AS first FROM __SCHEMA__.jobs j
                      WHERE j.state = 'queued' AND j.queue = r.queue AND j.priority = r.p
                      ORDER BY j.run_at LIMIT 1) f
  WHERE r.p IS NOT NULL
  GROUP BY r.queue
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
UNION ALL SELECT queue, 'scheduled', scheduled, NULL, now() FROM queued
UNION ALL SELECT queue, 'oldest', 0, oldest, now() FROM queued
UNION ALL SELECT queue, 'orphaned', orphaned, NULL, now() FROM running
UNION ALL SELECT queue, 'stuck', stuck, NULL, now() FROM running
UNION ALL SELECT NULL, 'workers', count(*), NULL, now() FROM __SCHEMA__.workers w
          WHERE w.last_heartbeat_at + w.ttl_ms * interval '1 millisecond' > now()
