-- Migration 1: jobs, workers, logs. Run with db.exec inside one BEGIN IMMEDIATE by schema.ts.
-- Params: none.
-- jobs.state stores queued|running|completed|failed|cancelled; "scheduled" is queued with
-- run_at in the future, "stuck"/"orphaned" are derived from leases and worker heartbeats.
CREATE TABLE jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  queue TEXT NOT NULL,
  name TEXT NOT NULL,
  payload TEXT,
  priority INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  run_at INTEGER NOT NULL,
  timeout_ms INTEGER NOT NULL,
  unique_key TEXT,
  worker_id TEXT,
  lease_expires_at INTEGER,
  last_error TEXT,
  errors TEXT,
  result TEXT,
  progress TEXT,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  updated_at INTEGER NOT NULL
);
-- claim order within a queue; also serves oldest-queued and the wake-up check
CREATE INDEX jobs_ready ON jobs (queue, priority, run_at, id) WHERE state = 'queued';
-- list by state (keyset by id, queue filtered in the index), running/stuck/orphaned scans,
-- and stats counts per (queue, state) as a covering scan. Kept to one index on purpose:
-- every claim and outcome rewrites the entries of each index that holds state.
CREATE INDEX jobs_state_id ON jobs (state, id, queue);
-- purge of finished jobs by age
CREATE INDEX jobs_finished ON jobs (state, finished_at) WHERE finished_at IS NOT NULL;
-- a unique key is held while the job is unfinished
CREATE UNIQUE INDEX jobs_unique_key ON jobs (unique_key) WHERE unique_key IS NOT NULL AND state IN ('queued', 'running');

CREATE TABLE workers (
  name TEXT PRIMARY KEY,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  queues TEXT NOT NULL,
  concurrency INTEGER NOT NULL,
  ttl_ms INTEGER NOT NULL,
  version TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  last_heartbeat_at INTEGER NOT NULL,
  running_jobs INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- seq is the rowid: the log cursor; AUTOINCREMENT so trimmed numbers are never reused
CREATE TABLE logs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  ts INTEGER NOT NULL,
  job_id TEXT,
  worker TEXT,
  queue TEXT,
  stream TEXT NOT NULL,
  message TEXT NOT NULL
);
-- no index on ts: every line a worker writes pays for each index; retention trims by seq
CREATE INDEX logs_job ON logs (job_id) WHERE job_id IS NOT NULL;
CREATE INDEX logs_worker ON logs (worker) WHERE worker IS NOT NULL;
CREATE INDEX logs_queue ON logs (queue) WHERE queue IS NOT NULL;
