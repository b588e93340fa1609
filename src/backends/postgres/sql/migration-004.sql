-- Migration 4: a job's `completed` event line is kept on its row, not in the logs table. Run by
-- migrate.ts like migration-001.sql (one transaction, migrate lock); __SCHEMA__ is the quoted
-- schema name.
-- Params: none (a script of DDL statements)
--
-- complete-jobs.sql records an item's one event line (the worker's `completed in 3ms (attempt 1
-- of 5)`) in these columns of the completed row instead of inserting a logs row (a heap row and
-- four index entries per job: ~40% of the postgres CPU of a completion). done_seq is taken from
-- the logs sequence, so the line has its place among the logs rows; read-logs.sql and
-- tail-logs.sql merge the two by seq (its ts is finished_at, its queue the job's, stream
-- `event`). A statement that moves a job out of `completed` (requeue-ids.sql,
-- requeue-state.sql) first writes the line into the logs table under the same seq; purge deletes
-- it with the job, as it deletes the job's logs rows.
ALTER TABLE __SCHEMA__.jobs
  ADD COLUMN done_seq    bigint,
  ADD COLUMN done_worker text,
  ADD COLUMN done_line   text;
-- followers of every line, of a worker or a queue read the lines after a seq
CREATE INDEX jobs_done_idx ON __SCHEMA__.jobs (done_seq) WHERE done_seq IS NOT NULL;
