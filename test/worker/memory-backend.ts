/**
 * A tiny in-memory Backend for worker tests that need to inject faults (backend errors) or run
 * before/without the SQLite backend. Fenced outcomes like the real backends; not for production.
 */
import type {
  Backend,
  ClaimParams,
  CompleteItem,
  ExtendLeasesParams,
  FailItem,
  LogInput,
  LogLine,
  OutcomeResult,
  ReleaseItem,
  WorkerInfo,
  WorkerRecord,
} from '../../src/core/backend.js';
import { NotSupportedError } from '../../src/core/errors.js';
import { DEFAULTS, type ClaimedJob, type EnqueueInput, type Job } from '../../src/core/job.js';

export class MemoryBackend implements Backend {
  readonly name = 'sqlite' as const;
  readonly capabilities = new Set(['logs'] as const);
  jobs = new Map<string, Job>();
  workers = new Map<string, WorkerRecord>();
  logs: LogLine[] = [];
  private seq = 0;
  /** make the next calls of a method throw */
  faults: Partial<Record<keyof Backend, number>> = {};
  calls: Partial<Record<string, number>> = {};

  private hit(m: keyof Backend) {
    this.calls[m] = (this.calls[m] ?? 0) + 1;
    if (this.faults[m]) {
      this.faults[m]!--;
      throw Object.assign(new Error(`connect ECONNREFUSED (injected in ${m})`), { code: 'ECONNREFUSED' });
    }
  }

  add(input: EnqueueInput): Job {
    const id = String(++this.seq);
    const now = Date.now();
    const job: Job = {
      id,
      queue: input.queue ?? 'default',
      name: input.name,
      payload: input.payload ?? null,
      priority: input.priority ?? 0,
      state: 'queued',
      attempts: 0,
      maxAttempts: input.maxAttempts ?? DEFAULTS.maxAttempts,
      runAt: input.runAt ?? now,
      timeoutMs: input.timeoutMs ?? DEFAULTS.timeoutMs,
      uniqueKey: null,
      workerId: null,
      leaseExpiresAt: null,
      lastError: null,
      errors: [],
      result: null,
      progress: null,
      createdAt: now,
      startedAt: null,
      finishedAt: null,
      updatedAt: now,
    };
    this.jobs.set(id, job);
    return job;
  }

  async migrate() {
    return { from: 0, to: 0 };
  }
  normalizeId(raw: string) {
    return raw;
  }
  async enqueue(): Promise<never> {
    throw new NotSupportedError('memory', 'enqueue');
  }
  async claim(p: ClaimParams): Promise<ClaimedJob[]> {
    this.hit('claim');
    const now = Date.now();
    const out: ClaimedJob[] = [];
    for (const q of p.queues) {
      const ready = [...this.jobs.values()]
        .filter((j) => j.queue === q && j.state === 'queued' && j.runAt <= now)
        .sort((a, b) => a.priority - b.priority || a.runAt - b.runAt || Number(a.id) - Number(b.id));
      for (const j of ready) {
        if (out.length >= p.limit) break;
        j.state = 'running';
        j.attempts++;
        j.workerId = p.workerId;
        j.leaseExpiresAt = now + p.leaseMs;
        j.startedAt = now;
        out.push({ ...j, attempt: j.attempts });
      }
    }
    return out;
  }
  private held(id: string, attempt: number, workerId: string): Job | null {
    const j = this.jobs.get(id);
    return j && j.state === 'running' && j.attempts === attempt && j.workerId === workerId ? j : null;
  }
  async extendLeases(p: ExtendLeasesParams) {
    this.hit('extendLeases');
    const lost: string[] = [];
    for (const r of p.jobs) {
      const j = this.held(r.id, r.attempt, p.workerId);
      if (j) j.leaseExpiresAt = Date.now() + p.leaseMs;
      else lost.push(r.id);
    }
    return { lost };
  }
  async complete(items: CompleteItem[]): Promise<OutcomeResult[]> {
    this.hit('complete');
    return items.map((it) => {
      const j = this.held(it.id, it.attempt, it.workerId);
      if (!j) return { id: it.id, ok: false, reason: 'lost' };
      Object.assign(j, {
        state: 'completed',
        result: it.result ?? null,
        finishedAt: Date.now(),
        workerId: null,
        leaseExpiresAt: null,
      });
      return { id: it.id, ok: true, state: 'completed' };
    });
  }
  async fail(items: FailItem[]): Promise<OutcomeResult[]> {
    this.hit('fail');
    return items.map((it) => {
      const j = this.held(it.id, it.attempt, it.workerId);
      if (!j) return { id: it.id, ok: false, reason: 'lost' };
      j.errors.push({ attempt: it.attempt, at: Date.now(), message: it.error });
      j.lastError = it.error;
      j.workerId = null;
      j.leaseExpiresAt = null;
      if (it.final || j.attempts >= j.maxAttempts) {
        j.state = 'failed';
        j.finishedAt = Date.now();
        return { id: it.id, ok: true, state: 'failed' };
      }
      j.state = 'queued';
      j.runAt = Date.now() + it.retryDelayMs;
      return { id: it.id, ok: true, state: 'scheduled' };
    });
  }
  async release(items: ReleaseItem[]): Promise<OutcomeResult[]> {
    this.hit('release');
    return items.map((it) => {
      const j = this.held(it.id, it.attempt, it.workerId);
      if (!j) return { id: it.id, ok: false, reason: 'lost' };
      j.workerId = null;
      j.leaseExpiresAt = null;
      j.state = j.attempts >= j.maxAttempts ? 'failed' : 'queued';
      j.runAt = Date.now();
      return { id: it.id, ok: true, state: j.state };
    });
  }
  async setProgress(ref: { id: string; attempt: number; workerId: string }, progress: unknown) {
    const j = this.held(ref.id, ref.attempt, ref.workerId);
    if (j) j.progress = progress;
    return !!j;
  }
  async rescue() {
    this.hit('rescue');
    return { requeued: [], failed: [] };
  }
  async waitForWork(_q: string[], timeoutMs: number, signal?: AbortSignal) {
    this.hit('waitForWork');
    await new Promise<void>((r) => {
      const done = () => {
        clearTimeout(t);
        signal?.removeEventListener('abort', done);
        r();
      };
      const t = setTimeout(done, Math.min(timeoutMs, 20));
      signal?.addEventListener('abort', done, { once: true });
    });
  }
  async getJob(id: string) {
    return this.jobs.get(id) ?? null;
  }
  async listJobs(): Promise<never> {
    throw new NotSupportedError('memory', 'list');
  }
  async stats(): Promise<never> {
    throw new NotSupportedError('memory', 'stats');
  }
  async requeue(): Promise<never> {
    throw new NotSupportedError('memory', 'requeue');
  }
  async reset(): Promise<never> {
    throw new NotSupportedError('memory', 'reset');
  }
  async cancel(p: { ids: string[] }) {
    for (const id of p.ids) {
      const j = this.jobs.get(id);
      if (j) j.state = 'cancelled';
    }
    return { changed: p.ids, skipped: [] };
  }
  async purge(): Promise<never> {
    throw new NotSupportedError('memory', 'purge');
  }
  async registerWorker(info: WorkerInfo) {
    this.hit('registerWorker');
    this.workers.set(info.name, { ...info, startedAt: Date.now(), lastHeartbeatAt: Date.now(), runningJobs: 0, alive: true });
  }
  async heartbeatWorker(name: string, running: number) {
    this.hit('heartbeatWorker');
    const w = this.workers.get(name);
    if (!w) return false;
    w.lastHeartbeatAt = Date.now();
    w.runningJobs = running;
    return true;
  }
  async listWorkers() {
    return [...this.workers.values()];
  }
  async unregisterWorker(name: string) {
    this.workers.delete(name);
  }
  async appendLogs(lines: LogInput[]) {
    this.hit('appendLogs');
    for (const l of lines)
      this.logs.push({
        seq: String(this.logs.length + 1),
        ts: l.ts ?? Date.now(),
        jobId: l.jobId,
        worker: l.worker,
        queue: l.queue,
        stream: l.stream,
        message: l.message,
      });
  }
  async readLogs(q: { jobId?: string; worker?: string; limit: number }) {
    const lines = this.logs
      .filter((l) => (q.jobId === undefined || l.jobId === q.jobId) && (q.worker === undefined || l.worker === q.worker))
      .slice(0, q.limit);
    return { lines, cursor: lines.at(-1)?.seq ?? null };
  }
  async waitForLogs() {}
  async warnings() {
    return [];
  }
  async close() {}
}
