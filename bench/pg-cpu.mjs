#!/usr/bin/env node
// CPU per job of a Postgres benchmark run, the steadier signal on a shared machine: runs the
// command, samples every 30 ms the utime+stime (/proc/<pid>/stat) of the postgres backends that
// serve it (application_name containing NAME, or every backend of database DB with `db:DB`),
// keeps each backend's last value, and prints one JSON line: throughput from the command's own
// JSON line, node user+sys (/usr/bin/time), postgres CPU, both per job. Same machine as the server.
//   node bench/pg-cpu.mjs jobctl_bench -- node bench/run.mjs --backend pg
//   (cd /tmp/jobctl-peer-bench && node /path/to/bench/pg-cpu.mjs db:jobbench -- node bench-rawpg.mjs)
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import pg from 'pg';

const [who, , ...cmd] = process.argv.slice(2);
const c = new pg.Client({ connectionString: process.env.PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/test' });
await c.connect();
const ticks = new Map();
let stop = false;
const sample = async () => {
  const r = who.startsWith('db:')
    ? await c.query('SELECT pid FROM pg_stat_activity WHERE datname = $1', [who.slice(3)])
    : await c.query("SELECT pid FROM pg_stat_activity WHERE application_name LIKE '%' || $1 || '%'", [who]);
  for (const { pid } of r.rows) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      ticks.set(pid, Math.max(ticks.get(pid) ?? 0, Number(f[11]) + Number(f[12])));
    } catch {
      // the backend ended between the query and the read
    }
  }
};
const loop = (async () => {
  while (!stop) {
    await sample();
    await new Promise((r) => setTimeout(r, 30));
  }
})();
const child = spawn('/usr/bin/time', ['-f', 'NODECPU %U %S', ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
let out = '';
let err = '';
child.stdout.on('data', (d) => (out += d));
child.stderr.on('data', (d) => (err += d));
await new Promise((r) => child.on('exit', r));
stop = true;
await loop;
await c.end();
const m = /NODECPU ([\d.]+) ([\d.]+)/.exec(err);
const res = JSON.parse(out.trim().split('\n').pop() || '{}');
const jobs = (res.n ?? 0) + (res.lat_n ?? 0);
const nodeS = m ? Number(m[1]) + Number(m[2]) : NaN;
const pgS = [...ticks.values()].reduce((a, b) => a + b, 0) / 100;
console.log(
  JSON.stringify({
    peer: res.peer,
    enqueue_jobs_s: res.enqueue_jobs_s,
    work_jobs_s: res.work_jobs_s,
    lat_p50_ms: res.lat_p50_ms,
    node_cpu_s: nodeS,
    pg_cpu_s: pgS,
    node_us_job: Math.round((nodeS * 1e6) / jobs),
    pg_us_job: Math.round((pgS * 1e6) / jobs),
    load: readFileSync('/proc/loadavg', 'utf8').split(' ')[0],
  }),
);
