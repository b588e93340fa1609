-- The facts an outcome needs, only while the claim (id, attempt, worker) is still held.
-- Params: :id :attempt :workerId
-- Returns: attempts, max_attempts, errors, last_error, queue — or no row when the claim is lost
SELECT attempts, max_attempts, errors, last_error, queue
FROM jobs
WHERE id = :id AND state = 'running' AND attempts = :attempt AND worker_id = :workerId
