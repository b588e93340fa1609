-- Prototype (session 7, not shipped): finished jobs in an append-only table of their own, for
-- EXTRA_SQL (__S__ = the schema). A completion DELETEs the running row from jobs and INSERTs the
-- finished one here (complete-finished.sql): no new row version in jobs and none of its index
-- entries (primary key, jobs_completed_idx, jobs_queue_id_idx, jobs_done_idx). Indexes kept for
-- the readers a real migration would serve: primary key (show/get), (queue, id) (list --queue),
-- failed listing, done_seq as BRIN (rows arrive in done_seq order). Counts: the insert trigger
-- of migration 2; the DELETE on jobs fires jobs' delete trigger. Readers are NOT adapted.
CREATE TABLE __S__.jobs_finished (LIKE __S__.jobs INCLUDING DEFAULTS);
ALTER TABLE __S__.jobs_finished ADD PRIMARY KEY (id);
CREATE INDEX jobs_finished_queue_id_idx ON __S__.jobs_finished (queue, id);
CREATE INDEX jobs_finished_failed_idx ON __S__.jobs_finished (id) INCLUDE (queue) WHERE state = 'failed';
CREATE INDEX jobs_finished_done_idx ON __S__.jobs_finished USING brin (done_seq);
CREATE TRIGGER job_counts_ins AFTER INSERT ON __S__.jobs_finished
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION __S__.job_counts_ins();
