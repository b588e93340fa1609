#!/usr/bin/env node
// Whether the NATS burn-down's worker thread waits for replies (docs/benchmarks.md, session 8):
// the event loop's utilisation (performance.eventLoopUtilization: the share of the burn-down the
// main thread was not idle in the poller); sampled every SAMPLE_MS (a busy loop samples less
// often), what was in flight: outcome writes (the batcher's), outcomes not yet confirmed, claims,
// runs held, buffered and running jobs; per backend call (claim, complete, …) how many, how long
// on average and how many jobs; and the recorded outcomes per 100 ms since the start (warm-up).
// Prints one JSON line and deletes the namespace.
//   node bench/nats-idle.mjs [dist dir, default ./dist] [label]     (N=20000 CONC=24 SAMPLE_MS=1, PREFETCH)
import { performance } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import { prepareBurnDown } from './nats-burndown.mjs';

const N = Number(process.env.N ?? 20000);
const CONC = Number(process.env.CONC ?? 24);
const SAMPLE_MS = Number(process.env.SAMPLE_MS ?? 1);
const burn = await prepareBurnDown(process.argv[2] ?? 'dist', `idle_${process.pid}`, { n: N, conc: CONC, label: 'idle' });
const label = process.argv[3] ?? burn.dist;
const ex = burn.worker.executor;
const samples = { writes: [], outcomes: [], runs: [], buffered: [], running: [], claims: [] };
// calls in flight and their durations, by wrapping the backend's methods the worker calls
const calls = {};
let claimsIn = 0;
for (const m of ['claim', 'complete', 'fail', 'extendLeases']) {
  const f = burn.backend[m].bind(burn.backend);
  const c = (calls[m] = { n: 0, ms: 0, items: 0 });
  burn.backend[m] = async (arg) => {
    const t = performance.now();
    if (m === 'claim') claimsIn++;
    try {
      return await f(arg);
    } finally {
      if (m === 'claim') claimsIn--;
      c.n++;
      c.ms += performance.now() - t;
      c.items += Array.isArray(arg) ? arg.length : (arg?.limit ?? 0);
    }
  };
}
const timer = setInterval(() => {
  samples.writes.push(ex.batcher.writing.size);
  samples.outcomes.push(ex.batcher.inFlight);
  samples.runs.push(ex.runs.size);
  samples.buffered.push(ex.buffered);
  samples.running.push(ex.running);
  samples.claims.push(claimsIn);
}, SAMPLE_MS);
// recorded outcomes per 100 ms since the start (warm-up and tail), and the first one
const buckets = [];
let firstMs = null;
burn.worker.on('completed', () => {
  const ms = performance.now() - t0;
  firstMs ??= Math.round(ms);
  const b = Math.floor(ms / 100);
  buckets[b] = (buckets[b] ?? 0) + 1;
});
const e0 = performance.eventLoopUtilization();
const c0 = process.cpuUsage();
const t0 = performance.now();
await burn.run();
const t1 = performance.now();
const c1 = process.cpuUsage(c0);
const elu = performance.eventLoopUtilization(e0);
clearInterval(timer);
const mean = (a) => Math.round((a.reduce((s, x) => s + x, 0) / Math.max(1, a.length)) * 100) / 100;
const share = (a, f) => Math.round((a.filter(f).length / Math.max(1, a.length)) * 100) / 100;
console.log(
  JSON.stringify({
    label,
    jobs_s: Math.round(N / ((t1 - t0) / 1000)),
    client_us_job: Math.round((c1.user + c1.system) / N),
    elu: Math.round(elu.utilization * 1000) / 1000,
    idle_ms: Math.round(elu.idle),
    writes_mean: mean(samples.writes),
    writes_share: {
      0: share(samples.writes, (x) => x === 0),
      1: share(samples.writes, (x) => x === 1),
      2: share(samples.writes, (x) => x >= 2),
    },
    outcomes_mean: mean(samples.outcomes),
    runs_mean: mean(samples.runs),
    buffered_mean: mean(samples.buffered),
    running_mean: mean(samples.running),
    claims_mean: mean(samples.claims),
    calls: Object.fromEntries(
      Object.entries(calls).map(([k, c]) => [
        k,
        {
          n: c.n,
          ms_mean: Math.round((c.ms / Math.max(1, c.n)) * 100) / 100,
          items_mean: Math.round(c.items / Math.max(1, c.n)),
        },
      ]),
    ),
    samples: samples.writes.length,
    first_outcome_ms: firstMs,
    per_100ms: Array.from(buckets, (x) => x ?? 0),
    load: readFileSync('/proc/loadavg', 'utf8').split(' ')[0],
  }),
);
await burn.cleanup();
process.exit(0);
