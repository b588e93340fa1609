-- Every worker record, alive or not.
-- Params: none
-- Returns: worker rows in name order
SELECT w.name, w.host, w.pid, w.queues, w.concurrency, w.ttl_ms, w.version, w.started_at, w.last_heartbeat_at,
       w.running_jobs, w.last_heartbeat_at + w.ttl_ms * interval '1 millisecond' > now() AS alive
FROM __SCHEMA__.workers w
ORDER BY w.name
