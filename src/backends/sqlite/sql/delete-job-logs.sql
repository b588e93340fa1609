-- Delete the log lines of one job.
-- Params: :jobId (text)
DELETE FROM logs WHERE job_id = :jobId
