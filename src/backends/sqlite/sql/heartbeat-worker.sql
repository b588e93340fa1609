-- Heartbeat of a worker.
-- Params: :name :runningJobs :now
-- Returns: changes = 0 when the record is gone
UPDATE workers SET last_heartbeat_at = :now, running_jobs = :runningJobs WHERE name = :name
