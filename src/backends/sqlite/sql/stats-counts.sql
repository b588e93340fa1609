-- Jobs per queue and stored state, every queue.
-- Params: none
-- Returns: queue, state, n
SELECT queue, state, count(*) AS n FROM jobs GROUP BY queue, state
