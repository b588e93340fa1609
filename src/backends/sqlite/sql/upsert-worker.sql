-- Register a worker (replacing a dead record of the same name; worker.ts checks liveness first).
-- Params: :name :host :pid :queues (JSON text) :concurrency :ttlMs :version :now
INSERT OR REPLACE INTO workers (name, host, pid, queues, concurrency, ttl_ms, version, started_at, last_heartbeat_at, running_jobs)
VALUES (:name, :host, :pid, :queues, :concurrency, :ttlMs, :version, :now, :now, 0)
