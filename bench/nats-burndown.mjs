// The NATS burn-down the per-job scripts measure (nats-cpu.mjs, nats-wire-bytes.mjs): N no-op jobs
// enqueued into a fresh namespace, a worker of CONC slots ready to burn them down, and the
// namespace's streams deleted afterwards.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { connect as natsConnect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';

/**
 * Enqueue N jobs into namespace `ns` with the build in `distDir` and make (not start) the worker
 * (`worker`, on `backend`; PREFETCH=n gives it a fixed prefetch). `run()` starts it and resolves
 * when every job is finished (handlers done, nothing queued, running or scheduled left);
 * `cleanup()` deletes the namespace's streams.
 */
export async function prepareBurnDown(distDir, ns, { n, conc, label }) {
  const dist = resolve(distDir);
  const { connect, createWorker } = await import(pathToFileURL(`${dist}/index.js`).href);
  const client = await connect('nats://127.0.0.1:4222', { backend: 'nats', namespace: ns });
  const b = client.backend;
  for (let s = 0; s < n; s += 1000)
    await client.enqueueMany(
      Array.from({ length: Math.min(1000, n - s) }, (_, i) => ({ name: 'noop', queue: 'q', payload: { i: s + i } })),
    );
  let count = 0;
  let done;
  const finished = new Promise((r) => (done = r));
  const w = createWorker({
    backend: b,
    queues: 'q',
    concurrency: conc,
    handlers: { noop: async () => void (++count === n && done()) },
    name: `${label}-${process.pid}`,
    ...(process.env.JOB_EVENTS === '0' ? { jobEvents: false } : {}),
    ...(process.env.PREFETCH ? { prefetch: Number(process.env.PREFETCH) } : {}),
  });
  return {
    dist,
    worker: w,
    backend: b,
    async run() {
      await w.start();
      await finished;
      for (;;) {
        const q = (await b.stats({ queue: 'q' })).queues[0];
        if (!q || q.queued + q.running + q.scheduled === 0) break;
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async cleanup() {
      const nc = await natsConnect({ servers: '127.0.0.1:4222' });
      const jsm = await jetstreamManager(nc);
      const names = [];
      for await (const s of jsm.streams.names()) if (s.includes(`_${ns}_`)) names.push(s);
      for (const s of names) await jsm.streams.delete(s);
      await nc.close();
    },
  };
}
