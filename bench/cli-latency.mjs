#!/usr/bin/env node
// End-to-end wall time of the inspection commands as a user runs them (a new node process each,
// bin/run.js), alternating in the same sitting with `jobctl --version` (the CLI's fixed cost)
// and bare `node -e 0` (node's own start); RUNS each.
//   JOBCTL_NAMESPACE=perfpg_1m RUNS=9 node bench/cli-latency.mjs [postgres://…]
// (times stats, failed --limit 50, stuck and orphaned; a schema of 1M jobs: bench/pg-seed-1m.sql)
// ALSO adds `stats --json` on other backends, as backend=url pairs (the namespace or database
// must exist: run `jobctl migrate` there first), e.g.
//   ALSO="sqlite=/tmp/bench.db redis=redis://127.0.0.1:6379 nats=nats://127.0.0.1:4222"
// Prints one JSON line: median/min/max ms per command, and the load average after the runs.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../bin/run.js', import.meta.url));
const url = process.argv[2] ?? process.env.JOBCTL_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const runs = Number(process.env.RUNS ?? 9);
const cmds = {
  node: ['-e', '0'],
  version: [bin, '--version'],
  stats: [bin, 'stats', '--backend', 'pg', '--url', url, '--json'],
  failed50: [bin, 'failed', '--limit', '50', '--backend', 'pg', '--url', url, '--json'],
  stuck: [bin, 'stuck', '--backend', 'pg', '--url', url, '--json'],
  orphaned: [bin, 'orphaned', '--backend', 'pg', '--url', url, '--json'],
};
for (const pair of (process.env.ALSO ?? '').split(/\s+/).filter(Boolean)) {
  const [backend, ...rest] = pair.split('=');
  cmds[`stats_${backend}`] = [bin, 'stats', '--backend', backend, '--url', rest.join('='), '--json'];
}
const times = Object.fromEntries(Object.keys(cmds).map((k) => [k, []]));
for (let i = 0; i < runs; i++) {
  for (const [k, args] of Object.entries(cmds)) {
    const t = process.hrtime.bigint();
    const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    if (r.status !== 0) throw new Error(`${k} failed: ${r.stderr}`);
    times[k].push(ms);
  }
}
const out = { runs, load: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ') };
for (const [k, xs] of Object.entries(times)) {
  xs.sort((a, b) => a - b);
  out[k] = { median_ms: Math.round(xs[Math.floor(xs.length / 2)]), min_ms: Math.round(xs[0]), max_ms: Math.round(xs.at(-1)) };
}
console.log(JSON.stringify(out));
