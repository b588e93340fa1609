#!/usr/bin/env node
// CPU profile of the NATS worker's burn-down only (not the enqueue before it), in a fresh process
// as in the benchmark: writes a .cpuprofile and prints the functions with the most self time.
//   node bench/nats-work-prof.mjs [dist dir] [out.cpuprofile]   (N=20000 CONC=24 TOP=40)
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { performance } from 'node:perf_hooks';
import { prepareBurnDown } from './nats-burndown.mjs';

const N = Number(process.env.N ?? 20000);
const burn = await prepareBurnDown(process.argv[2] ?? 'dist', `prof_${process.pid}`, {
  n: N,
  conc: Number(process.env.CONC ?? 24),
  label: 'prof',
});
const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.setSamplingInterval', { interval: 100 });
await session.post('Profiler.start');
const t0 = performance.now();
await burn.run();
const ms = performance.now() - t0;
const { profile } = await session.post('Profiler.stop');
await burn.worker.stop?.();
await burn.cleanup();
writeFileSync(process.argv[3] ?? '/tmp/work.cpuprofile', JSON.stringify(profile));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map();
let total = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const cf = byId.get(profile.samples[i]).callFrame;
  const key = `${cf.functionName || '(anon)'} ${cf.url.split('/').slice(-2).join('/')}:${cf.lineNumber + 1}`;
  const t = profile.timeDeltas[i] ?? 0;
  self.set(key, (self.get(key) ?? 0) + t);
  total += t;
}
console.log(
  `burn-down ${ms.toFixed(0)} ms, ${Math.round(N / (ms / 1000))} jobs/s; profiled ${(total / 1000).toFixed(0)} ms (main thread)`,
);
for (const [k, t] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.TOP ?? 40)))
  console.log((t / 1000).toFixed(1).padStart(8), ((100 * t) / total).toFixed(1).padStart(5) + '%', k);
process.exit(0);
