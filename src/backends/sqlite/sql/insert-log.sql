-- Append one log line.
-- Params: :ts :jobId :worker :queue :stream :message
INSERT INTO logs (ts, job_id, worker, queue, stream, message) VALUES (:ts, :jobId, :worker, :queue, :stream, :message)
