-- Drop records of workers dead for a long time (their jobs are orphaned either way).
-- Params: :before (epoch ms: last heartbeat + ttl older than this)
DELETE FROM workers WHERE last_heartbeat_at + ttl_ms < :before
