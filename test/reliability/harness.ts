/**
 * Shared by the reliability scenarios: targets (each run on its own JOBCTL_NAMESPACE, cleaned up),
 * job submission, final states, seeds and a results log for docs/reliability.md.
 *
 * Env: RELIABILITY_BACKENDS=sqlite,pg,redis,nats (default all) · RELIABILITY_SEED=<n> (replay) ·
 * RELIABILITY_JOBS=<n> (scenario 1, default 2000) · RELIABILITY_REPORT=<file> (append JSON lines).
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanupNamespaces, trackNamespace } from '../backends/nats/helpers.js';
import { dropSchemas, trackSchema } from '../backends/postgres/helpers.js';
import { cleanupPrefixes, trackPrefix } from '../backends/redis/helpers.js';
import { Sandbox, target } from '../e2e/helpers.js';

export type BackendName = 'sqlite' | 'pg' | 'redis' | 'nats';
const ALL: BackendName[] = ['sqlite', 'pg', 'redis', 'nats'];

export const BACKENDS: BackendName[] = (process.env.RELIABILITY_BACKENDS ?? ALL.join(','))
  .split(',')
  .map((s) => s.trim())
  .filter((s): s is BackendName => (ALL as string[]).includes(s));

export function seedFromEnv(): number {
  const s = process.env.RELIABILITY_SEED;
  return s !== undefined && s !== '' ? Number(s) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
}

export type RelSandbox = Sandbox & { ledger: string; ns: string };

/**
 * A sandbox (own dir, own JOBCTL_NAMESPACE) with a ledger file. On the shared servers the
 * namespace is tracked for cleanup; with `url` (a throwaway server) nothing is tracked: the
 * server and its data go away with it.
 */
export function sandbox(backend: BackendName, url?: string): RelSandbox {
  const sb = new Sandbox(target(backend)) as RelSandbox;
  sb.ns = sb.env.JOBCTL_NAMESPACE!;
  sb.ledger = join(sb.dir, 'ledger.tsv');
  sb.env.JOBCTL_LEDGER = sb.ledger;
  if (url !== undefined) {
    if (backend === 'sqlite') throw new Error('sqlite has no server URL');
    sb.env.JOBCTL_URL = url;
    return sb;
  }
  if (backend === 'pg') trackSchema(sb.ns);
  if (backend === 'redis') trackPrefix(sb.ns);
  if (backend === 'nats') trackNamespace(sb.ns);
  return sb;
}

/** Drop every server namespace the sandboxes of this file used. */
export async function cleanupBackend(backend: BackendName): Promise<void> {
  if (backend === 'pg') await dropSchemas();
  if (backend === 'redis') await cleanupPrefixes();
  if (backend === 'nats') await cleanupNamespaces();
}

/** Enqueue `rel` jobs in one batch; returns the accepted ids (as printed by trigger). */
export async function submit(sb: Sandbox, payloads: { ms: number }[]): Promise<string[]> {
  const file = join(sb.dir, `jobs-${Date.now()}.ndjson`);
  writeFileSync(file, payloads.map((p) => JSON.stringify({ name: 'rel', payload: p, maxAttempts: 25 })).join('\n') + '\n');
  const r = await sb.run(['trigger', '--file', file], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`trigger --file exited ${r.code}: ${r.stderr}`);
  const ids = r.stdout.split('\n').filter((l) => l.trim() !== '');
  if (ids.length !== payloads.length) throw new Error(`trigger printed ${ids.length} ids for ${payloads.length} jobs`);
  return ids;
}

interface JobJson {
  id: string;
  state: string;
  attempts: number;
}

/** Every job's final state (keyset pages of 1000). */
export async function finalJobs(sb: Sandbox): Promise<Map<string, JobJson>> {
  const out = new Map<string, JobJson>();
  let after: string | null = null;
  for (;;) {
    const args: string[] = ['jobs', 'list', '--limit', '1000', ...(after ? ['--after', after] : [])];
    const page: { jobs: JobJson[]; next: string | null } = await sb.json<{ jobs: JobJson[]; next: string | null }>(args);
    for (const j of page.jobs) out.set(j.id, j);
    if (!page.next || page.jobs.length === 0) return out;
    after = page.next;
  }
}

export async function completedCount(sb: Sandbox): Promise<number> {
  const s = await sb.json<{ queues: { queue: string; completed: number }[] }>(['stats']);
  return s.queues.reduce((n, q) => n + q.completed, 0);
}

export function report(row: Record<string, unknown>): void {
  const line = JSON.stringify({ at: new Date().toISOString(), ...row });
  console.log(`[reliability] ${line}`);
  if (process.env.RELIABILITY_REPORT) appendFileSync(process.env.RELIABILITY_REPORT, line + '\n');
}
