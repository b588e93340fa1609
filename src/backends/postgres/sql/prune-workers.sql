-- Drop records of workers dead for longer than a bound (their jobs are orphaned either way).
-- Params: $1 dead for at least this many ms (float8)
DELETE FROM __SCHEMA__.workers w
WHERE w.last_heartbeat_at + w.ttl_ms * interval '1 millisecond' + $1 * interval '1 millisecond' < now()
