-- Live workers.
-- Params: :now
-- Returns: alive
SELECT count(*) AS alive FROM workers WHERE last_heartbeat_at + ttl_ms > :now
