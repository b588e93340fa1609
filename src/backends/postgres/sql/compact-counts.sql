-- Fold job_counts' delta rows into one row per (queue, state): job_counts_fold (migration-002.sql).
-- Params: $1 lock key text
-- Returns: folded (delta rows read; 0 when another folder holds the lock)
SELECT __SCHEMA__.job_counts_fold($1) AS folded
