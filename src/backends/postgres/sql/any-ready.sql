-- Is a job ready (queued and due) in one of these queues? For a wait that began before LISTEN
-- was active: an enqueue in between notified nobody. One probe of jobs_claim_idx per queue.
-- Params: $1 queues text[]
-- Returns: one row: ready (boolean)
SELECT EXISTS (
  SELECT 1 FROM __SCHEMA__.jobs
  WHERE state = 'queued' AND queue = ANY($1::text[]) AND run_at <= now()
) AS ready
