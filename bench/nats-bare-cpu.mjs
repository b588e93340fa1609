#!/usr/bin/env node
// CPU per job of the peer bench's bare JetStream fetch-and-ack loop (../shared/peer-bench
// bench-nats.mjs, same stream/consumer settings), work phase only, to set against
// bench/nats-cpu.mjs: enqueue N messages, then measure process.cpuUsage() and the nats-server's
// utime+stime around the burn-down (fetch 256, ack each). Prints one JSON line.
//   node bench/nats-bare-cpu.mjs                 (N=20000 ROUNDS=1 PAD=0)
// PAD=n: each message's JSON carries n more characters (jobctl's work message carries the job's
// record, ~230 bytes: how much of the gap is the size of what is delivered).
// main_us_job / helpers_us_job: the client's CPU split by thread (bench/thread-cpu.mjs).
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, AckPolicy, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { natsServerCpu } from './nats-server-cpu.mjs';
import { threadCpu } from './thread-cpu.mjs';

const N = Number(process.env.N ?? 20000);
const ticks = natsServerCpu();
const STREAM = `BARECPU_${process.pid}`;
const nc = await connect({ servers: '127.0.0.1:4222' });
const jsm = await jetstreamManager(nc);
await jsm.streams.add({
  name: STREAM,
  subjects: [`barecpu${process.pid}.>`],
  retention: RetentionPolicy.Workqueue,
  storage: StorageType.File,
});
await jsm.consumers.add(STREAM, {
  durable_name: 'w',
  ack_policy: AckPolicy.Explicit,
  max_ack_pending: 1024,
  ack_wait: 30_000_000_000,
});
const js = jetstream(nc);
// ROUNDS=n: n burn-downs one after another in this process (as bench/nats-cpu.mjs ROUNDS)
const ROUNDS = Number(process.env.ROUNDS ?? 1);
const PAD = 'x'.repeat(Number(process.env.PAD ?? 0));
for (let round = 1; round <= ROUNDS; round++) {
  for (let s = 0; s < N; s += 1000) {
    const acks = [];
    for (let i = s; i < Math.min(N, s + 1000); i++)
      acks.push(js.publish(`barecpu${process.pid}.noop`, JSON.stringify(PAD ? { i, lat: false, pad: PAD } : { i, lat: false })));
    await Promise.all(acks);
  }
  const consumer = await js.consumers.get(STREAM, 'w');
  const threads = threadCpu();
  const c0 = process.cpuUsage();
  const s0 = ticks();
  const t0 = performance.now();
  let n = 0;
  while (n < N) {
    const msgs = await consumer.fetch({ max_messages: Math.min(256, N - n), expires: 5000 });
    for await (const m of msgs) {
      m.json();
      m.ack();
      n++;
    }
  }
  await nc.flush();
  const t1 = performance.now();
  const c1 = process.cpuUsage(c0);
  const s1 = ticks();
  console.log(
    JSON.stringify({
      label: PAD ? `bare+${PAD.length}` : 'bare',
      ...(ROUNDS > 1 ? { round } : {}),
      jobs_s: Math.round(N / ((t1 - t0) / 1000)),
      client_us_job: Math.round((c1.user + c1.system) / N),
      client_sys_us_job: Math.round(c1.system / N),
      ...threads.perJob(N),
      server_us_job: Math.round((s1 - s0) / N),
      load: readFileSync('/proc/loadavg', 'utf8').split(' ')[0],
    }),
  );
}
await jsm.streams.delete(STREAM);
await nc.close();
