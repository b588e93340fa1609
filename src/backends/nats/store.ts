/**
 * Job records (KV bucket, compare-and-set by revision) with their state index markers, and
 * server-side reads over streams (ephemeral consumers): the only code that writes records.
 */
import type { Names } from './names.js';
import { decodeRec, encodeRec, markerState, type MarkerState, type Rec, type Versioned } from './record.js';
import { JsApiError, ackInfo, text, type RawMsg, type Wire } from './wire.js';

export interface ReadItem {
  subject: string;
  seq: number;
  /** epoch ms the message was stored */
  ts: number;
  data: Uint8Array;
}

export interface ReadOptions {
  startSeq?: number;
  startTimeMs?: number;
  lastPerSubject?: boolean;
  headersOnly?: boolean;
  /** stop after this many messages */
  max?: number;
}

export class Store {
  constructor(
    private readonly w: Wire,
    private readonly n: Names,
  ) {}

  async get(id: string): Promise<Versioned | null> {
    const m = await this.w.directGet(this.n.jobsStream, this.n.jobKey(id));
    return m === null ? null : { rec: decodeRec(m.data), rev: m.seq };
  }

  /**
   * Compare-and-set `next` over `prev` (null: the record must not exist). The new index marker
   * is written together with the record and the old one purged after it, so markers are always
   * a superset of the truth. Returns the new revision, or null when the record changed meanwhile.
   */
  async cas(prev: Versioned | null, next: Rec, now = Date.now()): Promise<number | null> {
    const mk = markerState(next, now);
    const oldMk = prev ? (prev.rec.mk ?? markerState(prev.rec, now)) : null;
    next.mk = mk;
    const ops: Promise<unknown>[] = [];
    if (mk !== oldMk) ops.push(this.w.publish(this.n.marker(mk, next.queue, next.id), ''));
    const write = this.w.publish(this.n.jobKey(next.id), encodeRec(next), { expectSeq: prev ? prev.rev : 0 });
    const [rev] = await Promise.all([write, ...ops]);
    if (rev === null) {
      if (mk !== oldMk) {
        // we wrote a marker for a transition that did not happen: drop it unless it is true now
        const cur = await this.get(next.id);
        const curMk = cur ? (cur.rec.mk ?? markerState(cur.rec, now)) : null;
        if (curMk !== mk) await this.purge(this.n.index, this.n.marker(mk, next.queue, next.id));
      }
      return null;
    }
    if (oldMk !== null && oldMk !== mk) await this.purge(this.n.index, this.n.marker(oldMk, next.queue, next.id));
    return rev as number;
  }

  /** Delete a record and its markers (purge). */
  async remove(r: Rec): Promise<void> {
    const mk = r.mk;
    await Promise.all([
      this.purge(this.n.jobsStream, this.n.jobKey(r.id)),
      mk ? this.purge(this.n.index, this.n.marker(mk, r.queue, r.id)) : Promise.resolve(),
      this.purge(this.n.logs, this.n.logFilter({ jobId: r.id })),
    ]);
  }

  async purge(stream: string, filter: string): Promise<number> {
    const r = await this.w.api<{ purged: number }>(`$JS.API.STREAM.PURGE.${stream}`, { filter });
    return r.purged;
  }

  private async ephemeral(stream: string, filter: string, o: ReadOptions = {}): Promise<{ name: string; pending: number }> {
    const config: Record<string, unknown> = {
      ack_policy: 'none',
      filter_subject: filter,
      inactive_threshold: 10_000_000_000,
      mem_storage: true,
      num_replicas: 1,
      deliver_policy: 'all',
    };
    if (o.startSeq !== undefined) {
      config.deliver_policy = 'by_start_sequence';
      config.opt_start_seq = Math.max(1, o.startSeq);
    } else if (o.startTimeMs !== undefined) {
      config.deliver_policy = 'by_start_time';
      config.opt_start_time = new Date(o.startTimeMs).toISOString();
    } else if (o.lastPerSubject) config.deliver_policy = 'last_per_subject';
    if (o.headersOnly) config.headers_only = true;
    const r = await this.w.api<{ name: string; num_pending: number }>(`$JS.API.CONSUMER.CREATE.${stream}`, {
      stream_name: stream,
      config,
    });
    return { name: r.name, pending: r.num_pending };
  }

  private dropConsumer(stream: string, name: string): void {
    this.w.api(`$JS.API.CONSUMER.DELETE.${stream}.${name}`).catch(() => undefined);
  }

  /** Number of messages matching a filter, counted by the server. */
  async count(stream: string, filter: string): Promise<number> {
    const c = await this.ephemeral(stream, filter, { headersOnly: true });
    this.dropConsumer(stream, c.name);
    return c.pending;
  }

  /** Every message matching a filter (in stream order), read through an ephemeral consumer. */
  async readAll(stream: string, filter: string, o: ReadOptions = {}): Promise<ReadItem[]> {
    let c: { name: string; pending: number };
    try {
      c = await this.ephemeral(stream, filter, o);
    } catch (e) {
      // start sequence past the end etc.
      if (e instanceof JsApiError && e.code === 400 && o.startSeq !== undefined) return [];
      throw e;
    }
    const out: ReadItem[] = [];
    try {
      let left = Math.min(c.pending, o.max ?? Infinity);
      while (left > 0) {
        const msgs: RawMsg[] = await this.w.pull(stream, c.name, Math.min(left, 5000), { noWait: true });
        if (msgs.length === 0) break;
        for (const m of msgs) {
          const info = ackInfo(m.reply ?? '');
          const t = (m.reply ?? '').split('.');
          out.push({ subject: m.subject, seq: info.seq, ts: Math.floor(Number(t[t.length - 2]) / 1e6), data: m.data });
        }
        left -= msgs.length;
      }
    } finally {
      this.dropConsumer(stream, c.name);
    }
    return out;
  }

  /** Ids with an index marker in these states (optionally one queue). */
  async markerIds(states: readonly MarkerState[], queue?: string): Promise<Map<string, MarkerState>> {
    const lists = await Promise.all(
      states.map((s) => this.readAll(this.n.index, this.n.markerFilter(s, queue), { headersOnly: true })),
    );
    const out = new Map<string, MarkerState>();
    for (const items of lists) {
      for (const it of items) {
        const m = this.n.parseMarker(it.subject);
        if (m) out.set(m.id, m.state as MarkerState);
      }
    }
    return out;
  }

  /** Id of the oldest marker matching a filter; null when none. */
  async firstMarkerId(filter: string): Promise<string | null> {
    const m = await this.w.directGetSeq(this.n.index, 1, filter);
    return m === null ? null : (this.n.parseMarker(m.subject)?.id ?? null);
  }

  async getMany(ids: readonly string[]): Promise<(Versioned | null)[]> {
    const out: (Versioned | null)[] = [];
    for (let i = 0; i < ids.length; i += 1000) out.push(...(await Promise.all(ids.slice(i, i + 1000).map((id) => this.get(id)))));
    return out;
  }
}

export const json = <T>(b: Uint8Array): T => JSON.parse(text(b)) as T;
