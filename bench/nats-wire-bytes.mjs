#!/usr/bin/env node
// What the NATS backend's burn-down sends and receives per job (work phase only; docs/benchmarks.md):
// enqueue N no-op jobs into a fresh namespace, then count the protocol messages and bytes the
// worker's connections write (PUB/HPUB, by subject kind) and read (MSG/HMSG, by subject kind)
// while CONC slots burn them down; prints one JSON line (per kind: messages and bytes per job)
// and deletes the namespace. Not a timing: bytes do not depend on the load of the box.
//   node bench/nats-wire-bytes.mjs [dist dir, default ./dist]      (N=20000 CONC=24 JOB_EVENTS=0)
import { Socket } from 'node:net';
import { prepareBurnDown } from './nats-burndown.mjs';

const N = Number(process.env.N ?? 20000);
const CONC = Number(process.env.CONC ?? 24);

/** The kind of a subject: what the bytes are for. */
function kind(subject, out) {
  const t = subject.split('.');
  if (subject.startsWith('$JS.ACK.')) return out ? 'ack' : 'delivery';
  if (subject.startsWith('$KV.')) return subject.includes('_jobs.') ? 'record' : 'kv-other';
  if (subject.startsWith('$JS.API.CONSUMER.MSG.NEXT.')) return 'pull';
  if (subject.startsWith('$JS.API.')) return 'api';
  if (t[0] === 'jc')
    return { w: 'work', a: 'run-marker', f: 'fin-marker', l: 'log', q: 'que-marker', x: 'idx-marker' }[t[2]] ?? 'jc-other';
  if (subject.startsWith('_INBOX.')) return out ? 'inbox' : 'reply';
  return 'other';
}

/** Counts protocol messages in a byte stream (chunks may split them). */
function counter(out) {
  const by = {};
  let buf = Buffer.alloc(0);
  let skip = 0;
  let cur = null;
  const add = (k, n) => ((by[k] ??= { msgs: 0, bytes: 0 }).msgs++, (by[k].bytes += n));
  return {
    by,
    feed(chunk) {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (skip > 0) {
          const n = Math.min(skip, buf.length);
          buf = buf.subarray(n);
          skip -= n;
          if (skip > 0) return;
          cur = null;
        }
        const e = buf.indexOf('\r\n');
        if (e === -1) return;
        const line = buf.subarray(0, e).toString('latin1');
        const p = line.split(' ');
        const op = p[0].toUpperCase();
        buf = buf.subarray(e + 2);
        if (op === 'PUB' || op === 'HPUB' || op === 'MSG' || op === 'HMSG') {
          const len = Number(p[p.length - 1]);
          // a delivery's reply subject is its ack subject: name the message by that
          const subject = !out && p.length >= 5 && p[3].startsWith('$JS.ACK.') ? p[3] : p[1];
          cur = kind(subject, out);
          add(cur, e + 2 + len + 2);
          skip = len + 2;
        } else if (op) add(op.toLowerCase(), e + 2);
      }
    },
  };
}

const burn = await prepareBurnDown(process.argv[2] ?? 'dist', `bytes_${process.pid}`, { n: N, conc: CONC, label: 'bytes' });
const sent = counter(true);
const got = counter(false);
const write = Socket.prototype.write;
Socket.prototype.write = function (d, ...a) {
  sent.feed(typeof d === 'string' ? Buffer.from(d) : Buffer.from(d.buffer, d.byteOffset, d.byteLength));
  return write.call(this, d, ...a);
};
const emit = Socket.prototype.emit;
Socket.prototype.emit = function (ev, d, ...a) {
  if (ev === 'data') got.feed(d);
  return emit.call(this, ev, d, ...a);
};
await burn.run();
Socket.prototype.write = write;
Socket.prototype.emit = emit;
const perJob = (by) =>
  Object.fromEntries(
    Object.entries(by)
      .sort((x, y) => y[1].bytes - x[1].bytes)
      .map(([k, v]) => [k, { msgs: +(v.msgs / N).toFixed(3), bytes: +(v.bytes / N).toFixed(1) }]),
  );
const total = (by) => +(Object.values(by).reduce((n, v) => n + v.bytes, 0) / N).toFixed(1);
console.log(
  JSON.stringify({
    label: burn.dist,
    n: N,
    sent_bytes_job: total(sent.by),
    received_bytes_job: total(got.by),
    sent: perJob(sent.by),
    received: perJob(got.by),
  }),
);
await burn.cleanup();
process.exit(0);
