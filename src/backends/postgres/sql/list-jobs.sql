-- One keyset page of jobs in ascending id order, in any of the requested states. One branch per
-- state, each an ordered scan of its own index (state, id) stopping at $2 rows; a branch whose
-- flag is false is never run. All states ($5) are two branches: running rows (jobs_running_idx)
-- and the rest (with a queue: jobs_queue_id_idx, which holds no running rows, migration-005.sql). Derived: scheduled/queued split queued rows by run_at; orphaned =
-- running with an expired lease or a missing/dead worker; stuck = running, not orphaned, past its
-- timeout.
-- Params: $1 after id bigint (0 = from the start), $2 limit int, $3 queue text (NULL = all),
--         $4 name text (NULL = all), $5 all states bool, $6 scheduled, $7 queued, $8 running,
--         $9 completed, $10 failed, $11 cancelled, $12 stuck, $13 orphaned (bool each)
-- Returns: job rows (job columns, see rows.ts) in id order
WITH ids AS (
  SELECT DISTINCT b.id FROM (
    (SELECT j.id FROM __SCHEMA__.jobs j WHERE $5 AND j.state <> 'running' AND j.id > $1 AND ($3::text IS NULL OR j.queue = $3) AND ($4::text IS NULL OR j.name = $4) ORDER BY j.id LIMIT $2)
    UNION ALL
    (SELECT j.id FROM __SCHEMA__.jobs j WHERE $5 AND j.state = 'running' AND j.id > $1 AND ($3::text IS NULL OR j.queue = $3) AND ($4::text IS NULL OR j.name = $4) ORDER BY j.id LIMIT $2)
    UNION ALL
    (SELECT j.id FROM __SCHEMA__.jobs j WHERE $6 AND j.state = 'queued' AND j.run_at > now() AND j.id > $1 AND ($3::text IS NULL OR j.queue = $3) AND ($4::text IS NULL OR j.name = $4) ORDER BY j.id LIMIT $2)
    UNION ALL
    (SELECT j.id FROM __SCHEMA__.jobs j WHERE $7 AND j.state = 'queued' AND j.run_at <= now() AND j.id > $1 AND ($3::text IS NULL OR j.queue = $3) AND ($4::text IS NULL OR j.name = $4) ORDER BY j.id LIMIT $2)
    UNION ALL
    (SELECT j.id FROM __SCHEMA__.jobs j WHERE $8 AND j.state = 'running' AND j.id > $1 AND ($3::text IS NULL OR j.queue = $3) AND ($4::text IS NULL OR j.name = $4) ORDER BY j.id LIMIT $2)
    UNION ALL
    (SELECT j.id FROM __SCHEMA__.jobs j WHERE $9 AND j.state = 'completed' AND j.id > $1 AND ($3::text IS NULL OR j.queue = $3) AND ($4::text IS NULL OR j.name = $4) ORDER BY j.id LIMIT $2)
    UNION ALL
    (SELECT j.id FROM __SCHEMA__.jobs j WHERE $10 AND j.state = 'failed' AND j.id > $1 AND ($3::text IS NULL OR j.queue = $3) AND ($4::text IS NULL OR j.name = $4) ORDER BY j.id LIMIT $2)
    UNION ALL
    (SELECT j.id FROM __SCHEMA__.jobs j WHERE $11 AND j.state = 'cancelled' AND j.id > $1 AND ($3::text IS NULL OR j.queue = $3) AND ($4::text IS NULL OR j.name = $4) ORDER BY j.id LIMIT $2)
    UNION ALL
    (SELECT j.id FROM __SCHEMA__.jobs j
     WHERE $12 AND j.state = 'running' AND j.lease_expires_at > now() AND EXISTS (SELECT 1 FROM __SCHEMA__.workers w WHERE w.name = j.worker_id AND w.last_heartbeat_at + w.ttl_ms * interval '1 millisecond' > now())
       AND j.started_at + j.timeout_ms * interval '1 millisecond' < now() AND j.id > $1 AND ($3::text IS NULL OR j.queue = $3) AND ($4::text IS NULL OR j.name = $4)
     ORDER BY j.id LIMIT $2)
    UNION ALL
    (SELECT j.id FROM __SCHEMA__.jobs j
     WHERE $13 AND j.state = 'running'
       AND (j.lease_expires_at IS NULL OR j.lease_expires_at <= now() OR NOT EXISTS (SELECT 1 FROM __SCHEMA__.workers w WHERE w.name = j.worker_id AND w.last_heartbeat_at + w.ttl_ms * interval '1 millisecond' > now())) AND j.id > $1 AND ($3::text IS NULL OR j.queue = $3) AND ($4::text IS NULL OR j.name = $4)
     ORDER BY j.id LIMIT $2)
  ) b
  ORDER BY b.id
  LIMIT $2
)
SELECT j.id::text AS id, j.queue, j.name, j.payload, j.priority, j.state, j.attempts, j.max_attempts, j.run_at,
       j.timeout_ms, j.unique_key, j.worker_id, j.lease_expires_at, j.last_error, j.errors, j.result, j.progress,
       j.created_at, j.started_at, j.finished_at, j.updated_at, now() AS now
FROM ids JOIN __SCHEMA__.jobs j ON j.id = ids.id
ORDER BY j.id
