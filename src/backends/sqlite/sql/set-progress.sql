-- Record progress of a held claim.
-- Params: :id :attempt :workerId :progress (JSON text) :now
-- Returns: changes = 1 when the claim is still held
UPDATE jobs
SET progress = :progress, updated_at = :now
WHERE id = :id AND state = 'running' AND attempts = :attempt AND worker_id = :workerId
