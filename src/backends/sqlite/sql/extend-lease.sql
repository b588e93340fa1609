-- Extend the lease of a held claim.
-- Params: :id :attempt :workerId :leaseUntil
-- Returns: changes = 1 when the claim is still held
UPDATE jobs
SET lease_expires_at = :leaseUntil
WHERE id = :id AND state = 'running' AND attempts = :attempt AND worker_id = :workerId
