-- Jobs per stored state of one queue.
-- Params: :queue
-- Returns: queue, state, n
SELECT queue, state, count(*) AS n FROM jobs WHERE queue = :queue GROUP BY queue, state
