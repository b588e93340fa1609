-- Migration 5: the queue index (migration-003.sql) without running rows. Run by migrate.ts like
-- migration-001.sql (one transaction, migrate lock); __SCHEMA__ is the quoted schema name.
-- Params: none (a script of DDL statements)
--
-- A claim writes the job's new row version into every index whose predicate it matches; with
-- the queue index over every row that was three entries per claim (primary key, running, queue),
-- each a duplicate of the queued version's key in the primary key and queue index. Running rows
-- are few (workers' capacity) and have their own index (jobs_running_idx, covering queue), so
-- list-jobs.sql pages a queue's running rows there and every other state here. Measured
-- (callgrind, single-user server, 2,000 jobs claimed and completed in batches of 200): server
-- instructions per job 262k -> 236k (-10%).
DROP INDEX __SCHEMA__.jobs_queue_id_idx;
CREATE INDEX jobs_queue_id_idx ON __SCHEMA__.jobs (queue, id) WHERE state <> 'running';
