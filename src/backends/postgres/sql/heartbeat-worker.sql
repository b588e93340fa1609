-- Heartbeat of a worker record.
-- Params: $1 name, $2 running jobs int
-- Returns: name when the record exists
UPDATE __SCHEMA__.workers SET last_heartbeat_at = now(), running_jobs = $2 WHERE name = $1 RETURNING name
