-- Every worker record, by name.
-- Params: none
-- Returns: worker rows
SELECT name, host, pid, queues, concurrency, ttl_ms, version, started_at, last_heartbeat_at, running_jobs
FROM workers ORDER BY name
