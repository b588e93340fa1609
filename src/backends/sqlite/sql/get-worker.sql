-- One worker record.
-- Params: :name
-- Returns: the worker row, or none
SELECT name, host, pid, queues, concurrency, ttl_ms, version, started_at, last_heartbeat_at, running_jobs
FROM workers WHERE name = :name
