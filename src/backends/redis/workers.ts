/** Worker registry: a hash of worker infos and a hash of heartbeats, both in the registry slot. */
import type { WorkerInfo, WorkerRecord } from '../../core/backend.js';
import { ValidationError } from '../../core/errors.js';
import type { Ctx } from './context.js';

/** Dead records are removed by the next registration once they have been dead this long. */
const PRUNE_DEAD_AFTER_MS = 24 * 3600 * 1000;

export async function registerWorker(ctx: Ctx, info: WorkerInfo): Promise<void> {
  if (!info.name || /[\u0000-\u001f\u007f]/.test(info.name) || info.name.length > 200) {
    throw new ValidationError(
      `invalid worker name ${JSON.stringify(info.name)}`,
      'worker names are 1-200 characters without control characters',
    );
  }
  const ttl = Math.max(1, Math.round(info.ttlMs));
  await ctx.run(
    'registerWorker',
    [ctx.keys.workers, ctx.keys.workerBeats],
    [info.name, JSON.stringify(info), ttl, PRUNE_DEAD_AFTER_MS],
  );
}

export async function heartbeatWorker(ctx: Ctx, name: string, runningJobs: number): Promise<boolean> {
  const r = await ctx.run<number>(
    'heartbeatWorker',
    [ctx.keys.workers, ctx.keys.workerBeats],
    [name, Math.max(0, Math.round(runningJobs))],
  );
  return r === 1;
}

export async function listWorkers(ctx: Ctx): Promise<WorkerRecord[]> {
  const snap = await ctx.snapshot();
  const out: WorkerRecord[] = [];
  for (const [name, text] of snap.infos) {
    const beat = snap.beats.get(name);
    if (!beat) continue;
    let info: WorkerInfo;
    try {
      info = JSON.parse(text) as WorkerInfo;
    } catch {
      continue;
    }
    out.push({
      name,
      host: String(info.host ?? ''),
      pid: Number(info.pid ?? 0),
      queues: Array.isArray(info.queues) ? info.queues.map(String) : [],
      concurrency: Number(info.concurrency ?? 0),
      ttlMs: beat.ttlMs,
      version: String(info.version ?? ''),
      startedAt: beat.startedAt,
      lastHeartbeatAt: beat.lastHeartbeatAt,
      runningJobs: beat.runningJobs,
      alive: beat.lastHeartbeatAt + beat.ttlMs > snap.now,
    });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

export async function unregisterWorker(ctx: Ctx, name: string): Promise<void> {
  await ctx.cmd(Promise.all([ctx.client.hdel(ctx.keys.workers, name), ctx.client.hdel(ctx.keys.workerBeats, name)]));
}
