-- Migration 2: per-queue, per-state job counts for `stats` at any table size, and cheaper logs.
-- Run by migrate.ts like migration-001.sql (one transaction, migrate lock); __SCHEMA__ is the
-- quoted schema name.
-- Params: none (a script of DDL statements)
--
-- job_counts holds DELTA rows: every statement that inserts, updates or deletes jobs appends, from
-- a statement-level trigger over its transition tables, one row per (queue, state) whose count it
-- changed. Appending never contends (no row is updated in place, so concurrent workers never wait
-- on each other for a counter). compact-counts.sql folds the rows into one per (queue, state)
-- now and then. stats sums them: its cost follows the number of queues, not of jobs. The
-- triggers see every change, also hand-written SQL (UPDATE ... SET state = 'queued').
CREATE TABLE __SCHEMA__.job_counts (
  queue text   NOT NULL,
  state text   NOT NULL,
  n     bigint NOT NULL
);

CREATE FUNCTION __SCHEMA__.job_counts_ins() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO __SCHEMA__.job_counts (queue, state, n)
  SELECT t.queue, t.state, count(*) FROM new_rows t GROUP BY t.queue, t.state;
  RETURN NULL;
END $$;

CREATE FUNCTION __SCHEMA__.job_counts_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO __SCHEMA__.job_counts (queue, state, n)
  SELECT t.queue, t.state, -count(*) FROM old_rows t GROUP BY t.queue, t.state;
  RETURN NULL;
END $$;

CREATE FUNCTION __SCHEMA__.job_counts_upd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO __SCHEMA__.job_counts (queue, state, n)
  SELECT d.queue, d.state, sum(d.n)
  FROM (SELECT t.queue, t.state, count(*) AS n FROM new_rows t GROUP BY t.queue, t.state
        UNION ALL
        SELECT t.queue, t.state, -count(*) FROM old_rows t GROUP BY t.queue, t.state) d
  GROUP BY d.queue, d.state
  HAVING sum(d.n) <> 0;
  RETURN NULL;
END $$;

CREATE FUNCTION __SCHEMA__.job_counts_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM __SCHEMA__.job_counts;
  RETURN NULL;
END $$;

CREATE TRIGGER job_counts_ins AFTER INSERT ON __SCHEMA__.jobs
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION __SCHEMA__.job_counts_ins();
CREATE TRIGGER job_counts_upd AFTER UPDATE ON __SCHEMA__.jobs
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION __SCHEMA__.job_counts_upd();
CREATE TRIGGER job_counts_del AFTER DELETE ON __SCHEMA__.jobs
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION __SCHEMA__.job_counts_del();
CREATE TRIGGER job_counts_truncate AFTER TRUNCATE ON __SCHEMA__.jobs
  FOR EACH STATEMENT EXECUTE FUNCTION __SCHEMA__.job_counts_truncate();

-- the jobs already there (the triggers above hold the table's lock until this transaction
-- commits, so no change is missed or counted twice)
INSERT INTO __SCHEMA__.job_counts (queue, state, n)
SELECT j.queue, j.state, count(*) FROM __SCHEMA__.jobs j GROUP BY j.queue, j.state;
