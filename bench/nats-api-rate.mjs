#!/usr/bin/env node
// JetStream requests per kind and namespace, seen from outside: a core subscription on the
// subjects jobctl's NATS backend sends requests to (`$JS.API.>`, `$KV.>`, `jc.>`, `$JS.ACK.>`)
// counts every message by namespace and kind until SIGINT/SIGTERM or --seconds, then prints
// one JSON line per namespace: seconds observed, the count per kind, per second, and per bucket.
//
//   node bench/nats-api-rate.mjs [--url nats://127.0.0.1:4222] [--ns-prefix e2e_] [--seconds N] [--bucket 10]
//
// Kinds: the API verb (`CONSUMER.CREATE`, `DIRECT.GET`, `CONSUMER.MSG.NEXT`, …) with the stream
// kind (work / idx / jobs / workers / logs), `KV.jobs` / `KV.workers` publishes (record and
// heartbeat writes), `IDX.<state>` marker publishes, `WORK` messages, `LOG` lines, `ACK.<body>`.
// Only what names its namespace in the subject is counted (consumer and stream names do).
import { TextDecoder } from 'node:util';
import { connect } from '@nats-io/transport-node';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? dflt : process.argv[i + 1];
};
const url = arg('url', process.env.NATS_URL ?? 'nats://127.0.0.1:4222');
const prefix = arg('ns-prefix', '');
const seconds = Number(arg('seconds', '0'));
/** the timeline's bucket (s) */
const bucket = Number(arg('bucket', '10'));

const nc = await connect({ servers: url.replace(/^nats:\/\//, ''), name: 'jobctl-api-rate' });
/** ns → { first, last, kinds: Map<kind, n>, perSec: Map<second, Map<kind, n>> } */
const byNs = new Map();

function count(ns, kind) {
  if (!ns.startsWith(prefix)) return;
  const now = Date.now();
  let e = byNs.get(ns);
  if (!e) byNs.set(ns, (e = { first: now, last: now, kinds: new Map(), buckets: new Map() }));
  e.last = now;
  e.kinds.set(kind, (e.kinds.get(kind) ?? 0) + 1);
  const b = Math.floor((now - e.first) / (bucket * 1000));
  let bk = e.buckets.get(b);
  if (!bk) e.buckets.set(b, (bk = new Map()));
  bk.set(kind, (bk.get(kind) ?? 0) + 1);
}

/** stream name → [namespace, stream kind] */
function stream(name) {
  let m = /^JC_(.+)_(WORK|IDX|FIN|ACT|QUE|LOGS)$/.exec(name);
  if (m) return [m[1], m[2].toLowerCase()];
  m = /^KV_jc_(.+)_(jobs|workers)$/.exec(name);
  if (m) return [m[1], m[2]];
  return null;
}

const dec = new TextDecoder();
nc.subscribe('$JS.API.>', {
  callback: (_e, m) => {
    const t = m.subject.split('.');
    // $JS.API.<A>[.<B>].<stream>[.<consumer>]
    for (let i = 3; i < t.length; i++) {
      const s = stream(t[i]);
      if (!s) continue;
      let verb = t.slice(2, i).join('.');
      if (verb === 'CONSUMER.CREATE' || verb === 'CONSUMER.DURABLE.CREATE') {
        // an ephemeral read names its filter: `a.rb` (`x.rb` before format 5) running markers
        // (rescue, stats), `x.<state>`/`a.scheduled`/`f.<state>` markers (stats, list), the
        // workers or queues of the KV buckets
        const body = dec.decode(m.data);
        const filter = /"filter_subject":"([^"]*)"/.exec(body)?.[1] ?? '';
        const what = /\.[xaf]\.([^.]+)\./.exec(filter)?.[1] ?? /^\$KV\.[^.]+\.([^.>*]+)/.exec(filter)?.[1] ?? '';
        verb = /"durable_name"/.test(body) ? 'CONSUMER.CREATE(durable)' : `CONSUMER.CREATE${what ? `(${what})` : ''}`;
      }
      // a record read: the job record `<id>` or the initial record `n.<id>` (a light claim's)
      if (verb === 'DIRECT.GET' && s[1] === 'jobs')
        verb = /\.n\.[0-9A-Z]{26}"/.test(dec.decode(m.data)) ? 'DIRECT.GET(n.)' : 'DIRECT.GET';
      count(s[0], `${verb} ${s[1]}`);
      return;
    }
  },
});
nc.subscribe('$KV.>', {
  callback: (_e, m) => {
    const t = m.subject.split('.');
    const s = stream(`KV_${t[1]}`);
    if (s) count(s[0], `KV.${s[1]} write`);
  },
});
nc.subscribe('jc.>', {
  callback: (_e, m) => {
    // jc.<ns>.w.… work, jc.<ns>.x.<state>.… / a.… / f.… indexes, jc.<ns>.l.… logs, jc.<ns>.k.… wake-ups
    const t = m.subject.split('.');
    const kind =
      { w: 'WORK publish', l: 'LOG publish', k: 'wake-up' }[t[2]] ??
      ({ x: 'IDX', a: 'ACT', f: 'FIN' }[t[2]] ? `${{ x: 'IDX', a: 'ACT', f: 'FIN' }[t[2]]}.${t[3]} publish` : t[2]);
    count(t[1], kind);
  },
});
nc.subscribe('$JS.ACK.>', {
  callback: (_e, m) => {
    const t = m.subject.split('.');
    const s = stream(t[2]);
    if (s) count(s[0], `ACK ${dec.decode(m.data).slice(0, 4)}${m.reply ? ' (sync)' : ''}`);
  },
});
await nc.flush();
console.error(`api-rate: watching ${url} (namespaces ${prefix || 'all'})`);

const report = async () => {
  for (const [ns, e] of byNs) {
    const secs = Math.max(1, (e.last - e.first) / 1000);
    const kinds = Object.fromEntries([...e.kinds].sort((a, b) => b[1] - a[1]));
    const perSec = Object.fromEntries(Object.entries(kinds).map(([k, n]) => [k, Math.round((n / secs) * 10) / 10]));
    const timeline = [...e.buckets].map(([b, m]) => ({
      at: b * bucket,
      ...Object.fromEntries([...m].sort((x, y) => y[1] - x[1])),
    }));
    const total = [...e.kinds.values()].reduce((a, b) => a + b, 0);
    console.log(JSON.stringify({ ns, seconds: Math.round(secs * 10) / 10, total, kinds, perSec, timeline }));
  }
  await nc.close();
  process.exit(0);
};
process.on('SIGINT', report);
process.on('SIGTERM', report);
if (seconds > 0) setTimeout(report, seconds * 1000);
