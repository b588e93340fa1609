/**
 * Writing around jobctl, straight into a sandbox's backend (scenarios 10 and 11): corrupt a job's
 * stored payload or record, move the id sequence near its end, and checksum everything stored.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Keys } from '../../src/backends/redis/keys.js';
import { admin } from '../backends/postgres/helpers.js';
import { REDIS_URL } from '../backends/redis/helpers.js';
import { NATS_URL } from '../backends/nats/helpers.js';
import type { BackendName } from './harness.js';

export type Corruption = 'invalid-json' | 'non-utf8' | 'broken-record';

const NON_UTF8 = Buffer.from([0x7b, 0x22, 0x73, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x7d]); // {"s":"\xff\xfe\xc3("}

const sqlitePath = (dir: string) => join(dir, '.jobctl', 'jobs.db');

/**
 * Corrupt job `id` (queue `queue`) in the backend. Returns what the backend did: 'written', or
 * the server's refusal when its storage type cannot hold the corruption (pg jsonb).
 */
export async function corrupt(
  backend: BackendName,
  sb: { dir: string; ns: string },
  queue: string,
  id: string,
  kind: Corruption,
): Promise<string> {
  switch (backend) {
    case 'sqlite': {
      const db = new Database(sqlitePath(sb.dir));
      try {
        if (kind === 'invalid-json') db.prepare('UPDATE jobs SET payload = ? WHERE id = ?').run('{"a": [1, 2', BigInt(id));
        else if (kind === 'non-utf8')
          db.prepare('UPDATE jobs SET payload = CAST(? AS TEXT) WHERE id = ?').run(NON_UTF8, BigInt(id));
        else db.prepare("UPDATE jobs SET errors = '[{broken', result = X'FF00' WHERE id = ?").run(BigInt(id));
      } finally {
        db.close();
      }
      return 'written';
    }
    case 'pg': {
      const t = `"${sb.ns}".jobs`;
      try {
        if (kind === 'invalid-json') await admin(`UPDATE ${t} SET payload = $1::text::jsonb WHERE id = $2`, ['{"a": [1, 2', id]);
        else if (kind === 'non-utf8')
          await admin(`UPDATE ${t} SET payload = convert_from($1, 'UTF8')::jsonb WHERE id = $2`, [NON_UTF8, id]);
        else await admin(`UPDATE ${t} SET errors = $1::text::jsonb WHERE id = $2`, ['[{broken', id]);
        return 'written';
      } catch (e) {
        return `refused by the server: ${(e as Error).message}`;
      }
    }
    case 'redis': {
      const r = new Redis(REDIS_URL);
      try {
        const key = new Keys(sb.ns).job(queue, id);
        if (kind === 'invalid-json') await r.hset(key, 'payload', '{"a": [1, 2');
        else if (kind === 'non-utf8') await r.hset(key, 'payload', NON_UTF8);
        else await r.hset(key, 'errors', '{broken\n[', 'result', Buffer.from([0xff, 0x00]));
      } finally {
        r.disconnect();
      }
      return 'written';
    }
    case 'nats': {
      const nc = await connect({ servers: NATS_URL.replace(/^nats:\/\//, '') });
      try {
        const kv = await new Kvm(nc).open(`jc_${sb.ns}_jobs`);
        // a job not yet claimed has only its initial record (n.<id>); the corrupted record is written
        // as its current record (<id>), which the first claim must then read instead of building it
        const cur = (await kv.get(id)) ?? (await kv.get(`n.${id}`));
        if (!cur) throw new Error(`no KV record ${id}`);
        if (kind === 'broken-record') {
          await kv.put(id, Buffer.from('{"v":1,"id":"' + id + '", broken'));
        } else {
          const rec = JSON.parse(new TextDecoder().decode(cur.value)) as Record<string, unknown>;
          // the record is JSON whose payload field (`p` in the compact format 2) holds the job's JSON text
          const field = rec.v === 2 ? 'p' : 'payload';
          const text = JSON.stringify({ ...rec, [field]: '@@PAYLOAD@@' });
          const [head, tail] = text.split('"@@PAYLOAD@@"') as [string, string];
          const payloadBytes =
            kind === 'invalid-json'
              ? Buffer.from(JSON.stringify('{"a": [1, 2'))
              : Buffer.concat([Buffer.from('"'), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from('"')]);
          await kv.put(id, Buffer.concat([Buffer.from(head), payloadBytes, Buffer.from(tail)]));
        }
      } finally {
        await nc.close();
      }
      return 'written';
    }
  }
}

/** Move the job id sequence so that the next ids are near the top of the id space. */
export async function idsNearTheEnd(backend: BackendName, sb: { dir: string; ns: string }): Promise<string> {
  switch (backend) {
    case 'sqlite': {
      const db = new Database(sqlitePath(sb.dir));
      try {
        db.prepare("UPDATE sqlite_sequence SET seq = ? WHERE name = 'jobs'").run(9223372036854775800n);
      } finally {
        db.close();
      }
      return 'sqlite_sequence at 2^63 - 8';
    }
    case 'pg':
      await admin(`ALTER SEQUENCE "${sb.ns}".jobs_id_seq RESTART WITH 9223372036854775801`);
      return 'jobs_id_seq at 2^63 - 7';
    case 'redis': {
      const r = new Redis(REDIS_URL);
      try {
        // ids are seq × 100000 + queue number and stay below 2^53 (exact in Lua and ZSET scores)
        await r.set(new Keys(sb.ns).jobCounter, '90071992540');
      } finally {
        r.disconnect();
      }
      return 'job counter at 90071992540 (ids ≈ 9.007e15, just under 2^53)';
    }
    case 'nats':
      return 'ULIDs (26 characters); ids created in the same millisecond differ only in their last characters';
  }
}

/**
 * A checksum of everything the namespace stores, for "nothing else changed": pg (every row of
 * every table in the schema except logs), redis (every key and value of the prefix except logs),
 * nats (the last message of every subject of the jobs KV), sqlite (every jobs/workers row).
 */
export async function checksum(backend: BackendName, sb: { dir: string; ns: string }): Promise<string> {
  const h = createHash('sha256');
  switch (backend) {
    case 'sqlite': {
      const db = new Database(sqlitePath(sb.dir), { readonly: true });
      try {
        for (const t of ['jobs']) for (const r of db.prepare(`SELECT * FROM ${t} ORDER BY 1`).all()) h.update(JSON.stringify(r));
      } finally {
        db.close();
      }
      break;
    }
    case 'pg': {
      for (const r of await admin(`SELECT to_jsonb(j)::text AS t FROM "${sb.ns}".jobs j ORDER BY id`)) h.update(String(r.t));
      for (const r of await admin(`SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1`, [sb.ns]))
        h.update(String(r.tablename));
      break;
    }
    case 'redis': {
      const r = new Redis(REDIS_URL);
      try {
        const keys: string[] = [];
        let cursor = '0';
        do {
          const [next, batch] = await r.scan(cursor, 'MATCH', new Keys(sb.ns).allPattern, 'COUNT', 1000);
          cursor = next;
          keys.push(...batch);
        } while (cursor !== '0');
        for (const k of keys.filter((k) => !/:logs?(:|$)|:log:|heartbeat|workers/.test(k)).sort()) {
          const type = await r.type(k);
          h.update(`${k}\u0000${type}\u0000`);
          if (type === 'hash') h.update(JSON.stringify(Object.entries(await r.hgetall(k)).sort()));
          else if (type === 'string') h.update(String(await r.get(k)));
          else if (type === 'zset') h.update(JSON.stringify(await r.zrange(k, 0, -1, 'WITHSCORES')));
          else if (type === 'set') h.update(JSON.stringify((await r.smembers(k)).sort()));
          else if (type === 'list') h.update(JSON.stringify(await r.lrange(k, 0, -1)));
        }
      } finally {
        r.disconnect();
      }
      break;
    }
    case 'nats': {
      const nc = await connect({ servers: NATS_URL.replace(/^nats:\/\//, '') });
      try {
        const kv = await new Kvm(nc).open(`jc_${sb.ns}_jobs`);
        const keys: string[] = [];
        for await (const k of await kv.keys()) keys.push(k);
        for (const k of keys.sort()) {
          const e = await kv.get(k);
          h.update(`${k}\u0000${e?.revision}\u0000`);
          if (e) h.update(e.value);
        }
        const jsm = await jetstreamManager(nc);
        const names: string[] = [];
        for await (const s of jsm.streams.list()) if (s.config.name.includes(sb.ns)) names.push(s.config.name);
        h.update(names.sort().join(','));
      } finally {
        await nc.close();
      }
      break;
    }
  }
  return h.digest('hex');
}
