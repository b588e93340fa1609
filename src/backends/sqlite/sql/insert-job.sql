-- Insert one queued job; inserts nothing when its unique key is held by an unfinished job.
-- Params: :queue :name :payload :priority :maxAttempts :runAt :timeoutMs :uniqueKey :now
-- Returns: id (text), or no row on a unique-key conflict.
INSERT INTO jobs (queue, name, payload, priority, state, attempts, max_attempts, run_at, timeout_ms, unique_key, created_at, updated_at)
VALUES (:queue, :name, :payload, :priority, 'queued', 0, :maxAttempts, :runAt, :timeoutMs, :uniqueKey, :now, :now)
ON CONFLICT DO NOTHING
RETURNING CAST(id AS TEXT) AS id
