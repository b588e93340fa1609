-- Register a worker; a dead record of the same name is replaced, a live one is left alone.
-- Params: $1 name, $2 host, $3 pid int, $4 queues text[], $5 concurrency int, $6 ttl ms int8, $7 version
-- Returns: name when registered; no row when a live worker holds the name
INSERT INTO __SCHEMA__.workers AS w (name, host, pid, queues, concurrency, ttl_ms, version)
VALUES ($1, $2, $3, $4::text[], $5, $6, $7)
ON CONFLICT (name) DO UPDATE
SET host = excluded.host, pid = excluded.pid, queues = excluded.queues, concurrency = excluded.concurrency,
    ttl_ms = excluded.ttl_ms, version = excluded.version, started_at = now(), last_heartbeat_at = now(),
    running_jobs = 0
WHERE w.last_heartbeat_at + w.ttl_ms * interval '1 millisecond' <= now()
RETURNING w.name
