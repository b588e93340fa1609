-- Bound (session 11, never shipped: it breaks the contract): the storage of the raw SKIP LOCKED
-- baseline under jobctl's worker and statements. Run as EXTRA_SQL after the migration, with
-- SQL_OVERRIDE=completeJobs=bench/pg-variants/complete-delete.sql: no index on jobs but the
-- primary key and jobs_claim_idx (no per-state, queue or done-line index), no count triggers
-- (`stats` then counts nothing), completions DELETE the row (no history). What is left is what
-- any storage design pays with jobctl's node side and claim: docs/benchmarks.md, session 11.
DROP INDEX __S__.jobs_running_idx;
DROP INDEX __S__.jobs_completed_idx;
DROP INDEX __S__.jobs_failed_idx;
DROP INDEX __S__.jobs_cancelled_idx;
DROP INDEX __S__.jobs_queue_id_idx;
DROP INDEX __S__.jobs_done_idx;
DROP TRIGGER job_counts_ins ON __S__.jobs;
DROP TRIGGER job_counts_upd ON __S__.jobs;
DROP TRIGGER job_counts_del ON __S__.jobs;
