import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import type { Backend } from '../../../src/core/backend.js';
import { open } from '../../../src/backends/nats/index.js';
import { Store, type ReadItem } from '../../../src/backends/nats/store.js';
import { Wire } from '../../../src/backends/nats/wire.js';

export const NATS_URL = process.env.JOBCTL_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

const used: string[] = [];

export const randomNs = (): string => `t${randomBytes(5).toString('hex')}`;

/** A backend on a fresh namespace; every namespace opened here is deleted by cleanupNamespaces(). */
export async function openFresh(ns = randomNs()): Promise<Backend> {
  used.push(ns);
  return open({ url: NATS_URL, namespace: ns, autoMigrate: true });
}

/** Have cleanupNamespaces delete this namespace too (e.g. one a spawned CLI used). */
export function trackNamespace(ns: string): void {
  used.push(ns);
}

export async function cleanupNamespaces(): Promise<void> {
  const nc = await connect({ servers: NATS_URL.replace(/^nats:\/\//, '') });
  const jsm = await jetstreamManager(nc);
  const doomed = new Set(
    used.flatMap((ns) => [
      `JC_${ns}_WORK`,
      `JC_${ns}_IDX`,
      `JC_${ns}_FIN`,
      `JC_${ns}_ACT`,
      `JC_${ns}_QUE`,
      `JC_${ns}_LOGS`,
      `KV_jc_${ns}_jobs`,
      `KV_jc_${ns}_workers`,
    ]),
  );
  // collect first, delete afterwards: deleting while the (paged) listing is still being read
  // skipped streams, and every run left the KV buckets of a few namespaces on the shared server
  const names: string[] = [];
  for await (const s of jsm.streams.list()) if (doomed.has(s.config.name)) names.push(s.config.name);
  let failed = false;
  for (const name of names) await jsm.streams.delete(name).catch(() => (failed = true));
  // a delete that timed out may still have happened: report only the streams still there
  const left: string[] = [];
  if (failed) for await (const s of jsm.streams.list()) if (doomed.has(s.config.name)) left.push(s.config.name);
  used.length = 0;
  await nc.close();
  if (left.length > 0) throw new Error(`could not delete NATS streams: ${left.join(', ')}`);
}

/** Consumer state of one queue's default-priority consumer (S0 checks). */
export async function consumerState(ns: string, queueToken: string, level = 'L1000000') {
  const nc = await connect({ servers: NATS_URL.replace(/^nats:\/\//, '') });
  const jsm = await jetstreamManager(nc);
  const ci = await jsm.consumers.info(`JC_${ns}_WORK`, `w_${queueToken}_${level}`);
  const si = await jsm.streams.info(`JC_${ns}_WORK`);
  await nc.close();
  return {
    ackPending: ci.num_ack_pending,
    pending: ci.num_pending,
    redelivered: ci.num_redelivered,
    streamMessages: si.state.messages,
  };
}

/**
 * A throwaway nats-server (JetStream, own temp dir, free 127.0.0.1 port) for tests that stall
 * or kill the server; never the shared one.
 */
export async function startOwnServer(): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const { spawn } = await import('node:child_process');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { createServer } = await import('node:net');
  const port = await new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const dir = mkdtempSync(join(tmpdir(), 'jobctl-nats-'));
  const child = spawn('/usr/sbin/nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir], { stdio: 'ignore' });
  const url = `nats://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      const nc = await connect({ servers: `127.0.0.1:${port}`, timeout: 500 });
      const jsm = await jetstreamManager(nc);
      await jsm.getAccountInfo();
      await nc.close();
      break;
    } catch (e) {
      if (i > 50) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    pid: child.pid!,
    stop: async () => {
      try {
        process.kill(child.pid!, 'SIGCONT');
      } catch {
        // gone
      }
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Counts what the NATS handles of this process read: `weigh` says what each message counts —
 * direct gets (by subject or by sequence) and every message a stream read (Store.readAll)
 * delivered. `restore()` undoes the patch.
 */
export function countReads(weigh: (subject: string, data: Uint8Array) => number): { n: () => number; restore: () => void } {
  let n = 0;
  const dg = Wire.prototype.directGet;
  Wire.prototype.directGet = async function (this: Wire, ...a: Parameters<Wire['directGet']>) {
    const m = await dg.apply(this, a);
    if (m !== null) n += weigh(a[1], m.data);
    return m;
  };
  const dgs = Wire.prototype.directGetSeq;
  Wire.prototype.directGetSeq = async function (this: Wire, ...a: Parameters<Wire['directGetSeq']>) {
    const m = await dgs.apply(this, a);
    if (m !== null) n += weigh(m.subject, m.data);
    return m;
  };
  const ra = Store.prototype.readAll;
  Store.prototype.readAll = async function (this: Store, ...a: Parameters<Store['readAll']>): Promise<ReadItem[]> {
    const items = await ra.apply(this, a);
    for (const it of items) n += weigh(it.subject, it.data);
    return items;
  };
  return {
    n: () => n,
    restore: () => {
      Wire.prototype.directGet = dg;
      Wire.prototype.directGetSeq = dgs;
      Store.prototype.readAll = ra;
    },
  };
}
