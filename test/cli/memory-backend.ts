/**
 * A tiny in-memory Backend for the CLI unit tests: just enough behaviour to check what the
 * commands do with flags, output and exit codes. The real semantics are tested by the
 * conformance suite against real backends.
 */
import type { Backend, LogLine, MutationResult, RequeueParams, ResetParams } from '../../src/core/backend.js';
import { ValidationError } from '../../src/core/errors.js';
import { decodeStoredPayload, type Job, type NewJob } from '../../src/core/job.js';

export interface MemoryBackend extends Backend {
  jobs: Map<string, Job>;
  logs: LogLine[];
  closed: boolean;
  calls: string[];
}

export function memoryBackend(): MemoryBackend {
  let seq = 0;
  const jobs = new Map<string, Job>();
  const logs: LogLine[] = [];
  const calls: string[] = [];
  const now = () => Date.now();
  const sel = (ids: string[], ok: (j: Job) => boolean, why: (j: Job) => string): MutationResult => {
    const r: MutationResult = { changed: [], skipped: [] };
    for (const id of ids) {
      const j = jobs.get(id);
      if (!j) r.skipped.push({ id, reason: 'not found' });
      else if (ok(j)) r.changed.push(id);
      else r.skipped.push({ id, reason: why(j) });
    }
    return r;
  };
  const b: MemoryBackend = {
    name: 'sqlite',
    capabilities: new Set(['logs', 'purge', 'unique-keys', 'migrations']),
    jobs,
    logs,
    closed: false,
    calls,
    async migrate() {
      return { from: 0, to: 1 };
    },
    normalizeId(raw) {
      if (!/^[1-9][0-9]{0,18}$/.test(raw))
        throw new ValidationError(`invalid job id ${JSON.stringify(raw)}`, 'ids are positive integers');
      return raw;
    },
    async enqueue(items: NewJob[]) {
      calls.push('enqueue');
      return items.map((n) => {
        if (n.uniqueKey) {
          const existing = [...jobs.values()].find(
            (j) => j.uniqueKey === n.uniqueKey && ['queued', 'scheduled', 'running'].includes(j.state),
          );
          if (existing) return { job: existing, created: false };
        }
        const id = String(++seq);
        const t = now();
        const runAt = n.runAt ?? t;
        const job: Job = {
          id,
          queue: n.queue,
          name: n.name,
          ...decodeStoredPayload(n.payloadJson),
          priority: n.priority,
          state: runAt > t ? 'scheduled' : 'queued',
          attempts: 0,
          maxAttempts: n.maxAttempts,
          runAt,
          timeoutMs: n.timeoutMs,
          uniqueKey: n.uniqueKey,
          workerId: null,
          leaseExpiresAt: null,
          lastError: null,
          errors: [],
          result: null,
          progress: null,
          createdAt: t,
          startedAt: null,
          finishedAt: null,
          updatedAt: t,
        };
        jobs.set(id, job);
        return { job, created: true };
      });
    },
    async getJob(id) {
      return jobs.get(id) ?? null;
    },
    async listJobs(p) {
      calls.push(`list:${(p.states ?? []).join(',')}`);
      const all = [...jobs.values()]
        .filter((j) => !p.states || p.states.includes(j.state))
        .filter((j) => !p.queue || j.queue === p.queue)
        .filter((j) => !p.name || j.name === p.name)
        .filter((j) => !p.after || BigInt(j.id) > BigInt(p.after))
        .sort((a, c) => Number(BigInt(a.id) - BigInt(c.id)));
      const page = all.slice(0, p.limit);
      return { jobs: page, next: all.length > p.limit ? page[page.length - 1]!.id : null };
    },
    async stats(p) {
      const queues = new Map<string, ReturnType<typeof emptyStats>>();
      for (const j of jobs.values()) {
        if (p.queue && j.queue !== p.queue) continue;
        const q = queues.get(j.queue) ?? emptyStats(j.queue);
        queues.set(j.queue, q);
        q[j.state]++;
        if (j.state === 'queued') q.oldestQueuedAgeMs = Math.max(q.oldestQueuedAgeMs ?? 0, now() - j.runAt);
      }
      return { queues: [...queues.values()], workers: { alive: 0 } };
    },
    async requeue(p: RequeueParams) {
      calls.push(`requeue${p.dryRun ? ':dry' : ''}`);
      const ids =
        'ids' in p
          ? p.ids
          : [...jobs.values()]
              .filter((j) => j.state === p.state && (!p.queue || j.queue === p.queue))
              .map((j) => j.id)
              .slice(0, p.limit);
      const r = sel(
        ids,
        (j) => ['failed', 'cancelled', 'completed'].includes(j.state),
        (j) => `is ${j.state}`,
      );
      if (!p.dryRun)
        for (const id of r.changed)
          Object.assign(jobs.get(id)!, { state: 'queued', ...(p.resetAttempts ? { attempts: 0 } : {}) });
      return r;
    },
    async reset(p: ResetParams) {
      calls.push(`reset${p.dryRun ? ':dry' : ''}`);
      const ids = 'ids' in p ? p.ids : [];
      const r = sel(
        ids,
        (j) => j.state === 'running' && (p.force === true || j.workerId === null),
        (j) => (j.state === 'running' ? `held by live worker ${j.workerId} with a valid lease; use --force` : `is ${j.state}`),
      );
      if (!p.dryRun) for (const id of r.changed) Object.assign(jobs.get(id)!, { state: 'queued', workerId: null });
      return r;
    },
    async cancel(p) {
      calls.push(`cancel${p.dryRun ? ':dry' : ''}`);
      const r = sel(
        p.ids,
        (j) => ['queued', 'scheduled', 'running'].includes(j.state),
        (j) => `already ${j.state}`,
      );
      if (!p.dryRun) for (const id of r.changed) jobs.get(id)!.state = 'cancelled';
      return r;
    },
    async purge() {
      return { deleted: 0 };
    },
    async listWorkers() {
      return [];
    },
    async readLogs(q) {
      let lines = logs.filter(
        (l) => (!q.jobId || l.jobId === q.jobId) && (!q.queue || l.queue === q.queue) && (!q.worker || l.worker === q.worker),
      );
      if (q.sinceMs !== undefined) lines = lines.filter((l) => l.ts >= q.sinceMs!);
      if (q.after !== undefined) lines = lines.filter((l) => Number(l.seq) > Number(q.after));
      else if (q.tail !== undefined) lines = lines.slice(-q.tail);
      lines = lines.slice(0, q.limit);
      return { lines, cursor: lines.length ? lines[lines.length - 1]!.seq : (q.after ?? null) };
    },
    async waitForLogs(ms, signal) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(ms, 20));
        signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
      });
    },
    async appendLogs(lines) {
      for (const l of lines)
        logs.push({
          seq: String(logs.length + 1),
          ts: l.ts ?? now(),
          jobId: l.jobId,
          worker: l.worker,
          queue: l.queue,
          stream: l.stream,
          message: l.message,
        });
    },
    async warnings() {
      return [];
    },
    async close() {
      b.closed = true;
    },
    claim: notHere,
    extendLeases: notHere,
    complete: notHere,
    fail: notHere,
    release: notHere,
    setProgress: notHere,
    rescue: notHere,
    waitForWork: notHere,
    registerWorker: notHere,
    heartbeatWorker: notHere,
    unregisterWorker: notHere,
  };
  return b;
}

async function notHere(): Promise<never> {
  throw new Error('not in the memory backend');
}

function emptyStats(queue: string) {
  return {
    queue,
    queued: 0,
    scheduled: 0,
    running: 0,
    stuck: 0,
    orphaned: 0,
    failed: 0,
    completed: 0,
    cancelled: 0,
    oldestQueuedAgeMs: null as number | null,
  };
}
