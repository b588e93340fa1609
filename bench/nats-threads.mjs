#!/usr/bin/env node
// CPU per job of the NATS worker's burn-down split by thread: the main (JavaScript) thread, and
// the process's other threads together ("helpers": V8's compile and GC threads, libuv). A fresh
// process pays for compiling the hot code on the helpers, in competition for the machine's cores
// with the main thread and nats-server; docs/benchmarks.md (session 15) has what that cost.
//   node bench/nats-threads.mjs [dist dir, default ./dist]      (N=20000 CONC=24 ROUNDS=1)
// ROUNDS=n: n burn-downs one after another in this process (fresh namespaces), one line each:
// round 1 is what a fresh worker (bench/run.mjs) does, later rounds show it compiled.
// MARK=1 prints RUN-START / RUN-END around each burn-down, for cutting a --trace-opt log.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { prepareBurnDown } from './nats-burndown.mjs';
import { threadCpu } from './thread-cpu.mjs';

const N = Number(process.env.N ?? 20000);
const CONC = Number(process.env.CONC ?? 24);
const ROUNDS = Number(process.env.ROUNDS ?? 1);
const MARK = process.env.MARK === '1';
for (let round = 1; round <= ROUNDS; round++) {
  const burn = await prepareBurnDown(process.argv[2] ?? 'dist', `thr_${process.pid}_${round}`, {
    n: N,
    conc: CONC,
    label: 'thr',
  });
  const threads = threadCpu();
  if (MARK) console.log('RUN-START');
  const t0 = performance.now();
  await burn.run();
  const ms = performance.now() - t0;
  if (MARK) console.log('RUN-END');
  console.log(
    JSON.stringify({
      label: burn.dist,
      ...(ROUNDS > 1 ? { round } : {}),
      jobs_s: Math.round(N / (ms / 1000)),
      ...threads.perJob(N),
      load: readFileSync('/proc/loadavg', 'utf8').split(' ')[0],
    }),
  );
  await burn.worker.stop();
  await burn.cleanup();
}
process.exit(0);
