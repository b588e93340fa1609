/**
 * Raw, pipelined JetStream operations on one NATS connection.
 *
 * The client library's request helpers cost ~40 µs of client CPU each; the hot path (KV compare-
 * and-set, direct get, pull) instead publishes with a reply subject on ONE multiplexed inbox and
 * parses the server's answer itself, so a batch of operations is in flight together.
 */
import {
  createInbox,
  PermissionViolationError,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Status,
  type Subscription,
} from '@nats-io/transport-node';
import { PermissionError, UnavailableError } from '../../core/errors.js';

const dec = new TextDecoder();
/** UTF-8 bytes of a string (Buffer.from: about 3× faster than TextEncoder on Node 20). */
export const bytes = (s: string): Uint8Array => Buffer.from(s, 'utf8');

/** JetStream API error (err_code as the server reports it). */
export class JsApiError extends Error {
  constructor(
    readonly code: number,
    readonly errCode: number,
    description: string,
  ) {
    super(description);
  }
}

/**
 * How long a claim's no_wait pull waits for the server's answer before giving up on it (see
 * Wire.pull) — at least; under load it waits a few of the connection's recent round trips.
 */
export const NO_WAIT_GIVE_UP_MS = 250;
/** Round trips (smoothed) a give-up waits at least, and the most it waits. */
const GIVE_UP_RTTS = 4;
const GIVE_UP_MAX_MS = 3000;
/** How long a read's pull may be silent before it checks whether anything is left (see Wire.pull). */
const SILENCE_MS = 250;

/** err_code of "wrong last sequence" (a failed compare-and-set). */
export const ERR_WRONG_LAST_SEQ = 10071;
/**
 * JetStream's err_codes for a write refused because storage is used up: the account's limits
 * (10002 "resource limits exceeded for account") or the server's (10023 insufficient resources,
 * 10028 memory, 10047 storage).
 */
const STORAGE_FULL = new Set([10002, 10023, 10028, 10047]);

/** A JetStream error reply as an Error: storage used up is an outage to retry, the rest JsApiError. */
export function jsError(e: { code: number; err_code: number; description: string }): Error {
  if (STORAGE_FULL.has(e.err_code))
    return new UnavailableError(`NATS JetStream refused a write: ${e.description} (its storage is full)`, {
      hint: "raise the account's JetStream limits (max_file, max_mem) or the server's store size, or delete finished jobs (jobctl purge)",
    });
  return new JsApiError(e.code, e.err_code, e.description);
}

export interface RawMsg {
  subject: string;
  reply?: string;
  data: Uint8Array;
  headers?: MsgHdrs;
  /** a work message's record, decoded once per delivery (work.ts msgRec; null: not ours) */
  rec?: unknown;
  /** when a long-poll delivered it (epoch ms; work.ts precheck) */
  parkedAt?: number;
}

/** One outbound message of a batch written as one buffer (Wire.sendMany); subjects are ASCII. */
export interface OutMsg {
  subject: string;
  /** header block (`NATS/1.0\r\n…\r\n\r\n`, ASCII) */
  hdr?: string;
  data: string;
}

/** The client's protocol handler (not public API): what sendMany writes through. */
interface Proto {
  sendCommand(cmd: Uint8Array): void;
  noMorePublishing?: boolean;
  info?: { max_payload?: number };
}

/** The replies of one requestMany: `<inbox>.<token>-<index>`. */
type BatchPending = {
  sentAt: number;
  deadline: number;
  subject: string;
  replies: (Msg | undefined)[];
  left: number;
  resolve: (replies: (Msg | undefined)[]) => void;
  reject: (e: Error) => void;
};

type Pending = {
  sentAt: number;
  deadline: number;
  /** where it was sent (for the timeout message) */
  subject: string;
  /** return true when this reply completes the operation */
  onMsg: (m: Msg) => boolean;
  onError: (e: Error) => void;
};

/**
 * Message headers as the client library sends them: it only calls `encode()`. Built directly
 * (the library's MsgHdrs costs a Map, validation and an encode per message on the hot path).
 */
export function rawHeaders(h: Record<string, string>): MsgHdrs {
  let s = 'NATS/1.0\r\n';
  for (const k in h) s += `${k}: ${h[k]}\r\n`;
  const b = bytes(s + '\r\n');
  return { encode: () => b } as unknown as MsgHdrs;
}

const EXPECT_NONE = rawHeaders({ 'Nats-Expected-Last-Subject-Sequence': '0' });
/** The compare-and-set header alone (every record write): built without an intermediate object. */
function expectHeader(seq: number): MsgHdrs {
  if (seq === 0) return EXPECT_NONE;
  const b = bytes(`NATS/1.0\r\nNats-Expected-Last-Subject-Sequence: ${seq}\r\n\r\n`);
  return { encode: () => b } as unknown as MsgHdrs;
}

/** The compare-and-set header as text (a batch is encoded as one string, Wire.sendMany). */
const expectHeaderText = (seq: number): string => `NATS/1.0\r\nNats-Expected-Last-Subject-Sequence: ${seq}\r\n\r\n`;

const PUB = bytes('PUB ');
const HPUB = bytes('HPUB ');

/** Write the decimal digits of a non-negative integer at `at`; returns the offset after them. */
function writeUint(buf: Uint8Array, at: number, n: number): number {
  let digits = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
  for (let k = at + digits - 1, x = n; k >= at; k--, x = Math.floor(x / 10)) buf[k] = 48 + (x % 10);
  return at + digits;
}

const SEQ_FIELD = bytes('"seq":');
const ERROR_FIELD = bytes('"error"');

/** N of a PubAck's `"seq":N` read from its bytes; null when it has none (an error reply). */
function pubAckSeqBytes(b: Uint8Array): number | null {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const at = buf.indexOf(SEQ_FIELD);
  if (at === -1 || buf.indexOf(ERROR_FIELD) !== -1) return null;
  let n = 0;
  let i = at + SEQ_FIELD.length;
  const start = i;
  for (; i < b.length; i++) {
    const c = b[i]!;
    if (c < 48 || c > 57) break;
    n = n * 10 + (c - 48);
  }
  return i > start ? n : null;
}

/** The stream sequence a PubAck reports; null for a failed compare-and-set; other errors thrown. */
function pubAckSeq(m: Msg, subject: string): number | null {
  if (m.headers?.code === 503 || (m.data.length === 0 && m.headers?.hasError)) {
    throw new UnavailableError(`no stream accepted ${subject}`, { hint: 'run `jobctl migrate --backend nats`' });
  }
  // a PubAck is {"stream":…,"seq":N[,"duplicate":true]}: read the number from the bytes (no
  // decode, no JSON parse); an error reply has no "seq" field
  const seq = pubAckSeqBytes(m.data);
  if (seq !== null) return seq;
  const r = JSON.parse(dec.decode(m.data)) as { seq?: number; error?: { code: number; err_code: number; description: string } };
  if (r.error) {
    if (r.error.err_code === ERR_WRONG_LAST_SEQ) return null;
    throw jsError(r.error);
  }
  return r.seq!;
}

export class Wire {
  private readonly inbox: string;
  private readonly sub: Subscription;
  private readonly pending = new Map<string, Pending>();
  private readonly batches = new Map<string, BatchPending>();
  private next = 0;
  private readonly sweeper: NodeJS.Timeout;
  /** pull requests in flight (the subject each was sent to): ended with this error when the connection drops */
  private readonly pulls = new Map<(e: Error) => void, string>();
  private readonly statusIter: AsyncIterable<Status> & { stop?: () => void };
  /** disconnected, reconnecting: requests fail at once (nothing could answer them) */
  private down = false;
  /** the server refused this connection's reply subscription: no request can ever be answered */
  private deaf: PermissionError | null = null;
  /** smoothed round trip of the requests answered on this connection (ms) */
  private rttMs = 0;
  /** mayPublish calls waiting to learn whether the server refused their subject */
  private readonly probes = new Map<string, (e: PermissionError) => void>();
  /** the last ack or nak the server refused (fire-and-forget: nobody waited for it); see NatsBackend.checkAcks */
  ackRefusal: PermissionError | null = null;

  constructor(
    readonly nc: NatsConnection,
    private readonly timeoutMs = 10_000,
  ) {
    this.inbox = createInbox();
    this.sub = nc.subscribe(`${this.inbox}.*`, {
      callback: (err, m) => {
        if (err) {
          // the user may not subscribe to the inbox: every request would wait for its timeout
          if (err instanceof PermissionViolationError) {
            this.deaf = permissionError(err);
            this.failPending(this.deaf);
          }
          return;
        }
        const token = m.subject.slice(this.inbox.length + 1);
        const p = this.pending.get(token);
        if (p === undefined) return this.onBatchReply(token, m);
        let done: boolean;
        try {
          done = p.onMsg(m);
        } catch (e) {
          this.pending.delete(token);
          p.onError(e as Error);
          return;
        }
        if (done) {
          this.pending.delete(token);
          this.rttMs += (Date.now() - p.sentAt - this.rttMs) / 8;
        }
      },
    });
    this.sweeper = setInterval(() => this.sweep(), 250);
    this.sweeper.unref();
    // A reply can never come over a connection that dropped (the server forgets the request with
    // it; after a reconnect the inbox is a new subscription): fail what is pending at once instead
    // of at its timeout, so that callers retry on the new connection.
    const status = nc.status() as AsyncIterable<Status> & { stop?: () => void };
    this.statusIter = status;
    void (async () => {
      for await (const st of status) {
        if (st.type === 'disconnect') {
          this.down = true;
          this.failPending('the NATS connection dropped');
        } else if (st.type === 'reconnect') this.down = false;
        else if (st.type === 'error' && st.error instanceof PermissionViolationError && st.error.operation === 'publish')
          this.refused(st.error);
      }
    })().catch(() => {});
  }

  /** A reply to one message of a requestMany batch. */
  private onBatchReply(token: string, m: Msg): void {
    const dash = token.indexOf('-');
    if (dash < 0) return;
    const key = token.slice(0, dash);
    const b = this.batches.get(key);
    const i = Number(token.slice(dash + 1));
    if (b === undefined || b.replies[i] !== undefined) return;
    b.replies[i] = m;
    if (--b.left > 0) return;
    this.batches.delete(key);
    this.rttMs += (Date.now() - b.sentAt - this.rttMs) / 8;
    b.resolve(b.replies);
  }

  private failPending(why: string | PermissionError): void {
    const err = () => (typeof why === 'string' ? new UnavailableError(why, { hint: 'is nats-server running?' }) : why);
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.onError(err());
    const batches = [...this.batches.values()];
    this.batches.clear();
    for (const b of batches) b.reject(err());
    const pulls = [...this.pulls.keys()];
    this.pulls.clear();
    for (const end of pulls) end(err());
  }

  /**
   * The server refused a publish of this connection (the user's permissions): it says only to
   * which subject, and drops the message, so whatever waits for an answer to a message sent
   * there would wait for its timeout (10 s) and then blame the server. Those requests fail now
   * with a PermissionError: single requests and pulls sent to that subject, and batches whose
   * messages go where it went (a batch's subjects differ only in their last token: records
   * `$KV.<bucket>.<id>`, markers). A fire-and-forget publish (ack, nak, event line) has nobody
   * waiting: the refusal is only seen by the request that follows it.
   */
  private refused(e: PermissionViolationError): void {
    const err = permissionError(e);
    this.probes.get(e.subject)?.(err);
    if (e.subject.startsWith('$JS.ACK.')) this.ackRefusal = err;
    const parent = (s: string) => s.slice(0, s.lastIndexOf('.'));
    for (const [token, p] of this.pending)
      if (p.subject === e.subject) {
        this.pending.delete(token);
        p.onError(err);
      }
    for (const [key, b] of this.batches)
      if (b.subject === e.subject || parent(b.subject) === parent(e.subject)) {
        this.batches.delete(key);
        b.reject(err);
      }
    for (const [end, subject] of this.pulls)
      if (subject === e.subject) {
        this.pulls.delete(end);
        end(err);
      }
  }

  /**
   * Whether the server lets this connection publish to `subject` (its user's permissions), for
   * fire-and-forget publishes (acks, naks), whose refusal nobody would otherwise see: publishes an
   * empty message there — so `subject` must be one that nobody receives — then a PING; the server
   * answers in order, so a refusal arrives before the PONG. Returns the refusal, or null (allowed,
   * or no PONG within timeoutMs: not known, which is no reason to stop a worker).
   */
  async mayPublish(subject: string, timeoutMs = 2_000): Promise<PermissionError | null> {
    let refusal: PermissionError | null = null;
    this.probes.set(subject, (e) => (refusal = e));
    let timer: NodeJS.Timeout | undefined;
    try {
      this.nc.publish(subject);
      const answered = await Promise.race([
        this.nc.flush().then(() => true),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs))),
      ]);
      // the refusal reaches the status listener through an async iterator: let it run first
      if (answered) await new Promise((r) => setImmediate(r));
      return refusal;
    } finally {
      clearTimeout(timer);
      this.probes.delete(subject);
    }
  }

  private sweep(): void {
    const now = Date.now();
    for (const [key, b] of this.batches) {
      if (b.deadline <= now) {
        this.batches.delete(key);
        const what = b.subject.split('.').slice(0, 4).join('.');
        b.reject(new UnavailableError(`NATS request timed out (${what})`, { hint: 'is the server overloaded?' }));
      }
    }
    for (const [token, p] of this.pending) {
      if (p.deadline <= now) {
        this.pending.delete(token);
        const what = p.subject.split('.').slice(0, 4).join('.');
        p.onError(
          new UnavailableError(`NATS request timed out (${what})`, { hint: 'is the server overloaded or JetStream disabled?' }),
        );
      }
    }
  }

  /** Publish with a reply subject on the mux inbox; `onMsg` returns true when finished. */
  private send(
    subject: string,
    data: Uint8Array | string,
    hdrs: MsgHdrs | undefined,
    timeoutMs: number,
    onMsg: Pending['onMsg'],
    onError: Pending['onError'],
  ): void {
    if (this.deaf !== null) return onError(this.deaf);
    if (this.down) {
      onError(new UnavailableError('not connected to NATS (reconnecting)', { hint: 'is nats-server running?' }));
      return;
    }
    const token = (this.next++).toString(36);
    const now = Date.now();
    this.pending.set(token, { sentAt: now, deadline: now + timeoutMs, subject, onMsg, onError });
    try {
      this.nc.publish(subject, data, { reply: `${this.inbox}.${token}`, headers: hdrs });
    } catch (e) {
      this.pending.delete(token);
      onError(e as Error);
    }
  }

  request(subject: string, data: Uint8Array | string, hdrs?: MsgHdrs, timeoutMs = this.timeoutMs): Promise<Msg> {
    return new Promise((resolve, reject) => {
      this.send(
        subject,
        data,
        hdrs,
        timeoutMs,
        (m) => {
          if (m.headers?.code === 503)
            reject(new UnavailableError('JetStream is not enabled on this NATS server', { hint: 'start nats-server with -js' }));
          else resolve(m);
          return true;
        },
        reject,
      );
    });
  }

  /**
   * Write many messages (message i replies to `<replyPrefix><i>`, none without a prefix) as ONE
   * buffer: the protocol lines, headers and payloads of a whole outcome batch are written into
   * one buffer, instead of a publish call per message (its checks, its protocol line encoded on
   * its own, its buffer appended) — and without building the lines or the batch as strings first
   * (the batch joined into one string and encoded was ~750 of the ~13,800 bytes the burn-down
   * allocated per job, its protocol lines ~500 more; docs/benchmarks.md, session 8). Goes through
   * the client's protocol handler (the same outbound buffer and flush as a publish, so the order
   * with other publishes holds); a message over the server's max_payload, or a client without
   * that handler, goes through publish (which refuses it with the client's error).
   */
  sendMany(msgs: readonly OutMsg[], replyPrefix?: string): void {
    const replyOf = (i: number) => (replyPrefix === undefined ? undefined : replyPrefix + i);
    const proto = (this.nc as unknown as { protocol?: Proto }).protocol;
    if (proto === undefined || typeof proto.sendCommand !== 'function' || this.nc.isClosed() || proto.noMorePublishing) {
      msgs.forEach((m, i) => this.publishOne(m, replyOf(i)));
      return;
    }
    const max = proto.info?.max_payload ?? 1024 * 1024;
    const sizes: number[] = new Array(msgs.length);
    // per message at most: `HPUB ` + subject + ` ` + reply + ` ` + 2 numbers + CRLF, header, data, CRLF
    // (a string's UTF-16 unit takes at most 3 bytes; headers are ASCII)
    const perReply = replyPrefix === undefined ? 0 : 3 * replyPrefix.length + 12;
    let from = 0;
    let room = 0;
    for (let i = 0; i < msgs.length; i++) {
      const m = msgs[i]!;
      const dlen = Buffer.byteLength(m.data, 'utf8');
      if ((m.hdr === undefined ? 0 : m.hdr.length) + dlen > max) {
        this.writeRun(proto, msgs, sizes, replyPrefix, from, i, room);
        from = i + 1;
        room = 0;
        this.publishOne(m, replyOf(i));
        continue;
      }
      sizes[i] = dlen;
      room += 3 * m.subject.length + perReply + 40 + (m.hdr === undefined ? 0 : m.hdr.length) + dlen;
    }
    this.writeRun(proto, msgs, sizes, replyPrefix, from, msgs.length, room);
  }

  /** Messages from..to-1 of a sendMany (payload sizes known) written into one buffer and sent. */
  private writeRun(
    proto: Proto,
    msgs: readonly OutMsg[],
    sizes: readonly number[],
    replyPrefix: string | undefined,
    from: number,
    to: number,
    room: number,
  ): void {
    if (from >= to) return;
    const buf = Buffer.allocUnsafe(room);
    let at = 0;
    for (let i = from; i < to; i++) {
      const m = msgs[i]!;
      const hlen = m.hdr === undefined ? 0 : m.hdr.length;
      const dlen = sizes[i]!;
      // `PUB <subject> [reply] <size>\r\n` or `HPUB <subject> [reply] <header size> <total size>\r\n`
      buf.set(hlen === 0 ? PUB : HPUB, at);
      at += hlen === 0 ? PUB.length : HPUB.length;
      at += buf.write(m.subject, at, 'utf8');
      buf[at++] = 32;
      if (replyPrefix !== undefined) {
        at += buf.write(replyPrefix, at, 'utf8');
        at = writeUint(buf, at, i);
        buf[at++] = 32;
      }
      if (hlen > 0) {
        at = writeUint(buf, at, hlen);
        buf[at++] = 32;
      }
      at = writeUint(buf, at, hlen + dlen);
      buf[at++] = 13;
      buf[at++] = 10;
      if (hlen > 0) at += buf.write(m.hdr!, at, 'latin1');
      at += buf.write(m.data, at, dlen, 'utf8');
      buf[at++] = 13;
      buf[at++] = 10;
    }
    proto.sendCommand(buf.subarray(0, at));
  }

  private publishOne(m: OutMsg, reply: string | undefined): void {
    const headers = m.hdr === undefined ? undefined : ({ encode: () => bytes(m.hdr!) } as unknown as MsgHdrs);
    this.nc.publish(m.subject, m.data, { reply, headers });
  }

  /** sendMany with a reply for each message; resolves with the replies in order (one promise for all). */
  requestMany(msgs: readonly OutMsg[], timeoutMs = this.timeoutMs): Promise<Msg[]> {
    if (msgs.length === 0) return Promise.resolve([]);
    if (this.deaf !== null) return Promise.reject(this.deaf);
    if (this.down)
      return Promise.reject(new UnavailableError('not connected to NATS (reconnecting)', { hint: 'is nats-server running?' }));
    const key = (this.next++).toString(36);
    const now = Date.now();
    return new Promise<Msg[]>((resolve, reject) => {
      this.batches.set(key, {
        sentAt: now,
        deadline: now + timeoutMs,
        subject: msgs[0]!.subject,
        replies: new Array<Msg | undefined>(msgs.length),
        left: msgs.length,
        resolve: resolve as (r: (Msg | undefined)[]) => void,
        reject,
      });
      const prefix = `${this.inbox}.${key}-`;
      try {
        this.sendMany(msgs, prefix);
      } catch (e) {
        this.batches.delete(key);
        reject(e as Error);
      }
    });
  }

  /**
   * Publish many records into streams together, each a compare-and-set on its subject's last
   * sequence (`expectSeq`, 0 = must not exist). Per message: the new sequence, null when its
   * compare-and-set failed, or the error.
   */
  async publishMany(items: readonly { subject: string; data: string; expectSeq: number }[]): Promise<(number | null | Error)[]> {
    const replies = await this.requestMany(
      items.map((it) => ({ subject: it.subject, hdr: expectHeaderText(it.expectSeq), data: it.data })),
    );
    return replies.map((m, i) => {
      try {
        return pubAckSeq(m, items[i]!.subject);
      } catch (e) {
        return e as Error;
      }
    });
  }

  /** JetStream API call: JSON in, JSON out, errors thrown as JsApiError. */
  async api<T>(subject: string, body: unknown = {}): Promise<T> {
    const m = await this.request(subject, bytes(JSON.stringify(body)));
    const r = JSON.parse(dec.decode(m.data)) as { error?: { code: number; err_code: number; description: string } } & T;
    if (r.error) throw jsError(r.error);
    return r;
  }

  /**
   * Publish into a stream and wait for the PubAck. `expectSeq` makes it a compare-and-set on the
   * subject's last sequence (0 = must not exist). Returns the new sequence, or null when the
   * compare-and-set failed.
   */
  async publish(
    subject: string,
    data: Uint8Array | string,
    opts: { expectSeq?: number; rollup?: boolean; headers?: Record<string, string> } = {},
  ): Promise<number | null> {
    let h: MsgHdrs | undefined;
    if (opts.expectSeq !== undefined && !opts.rollup && !opts.headers) h = expectHeader(opts.expectSeq);
    else if (opts.expectSeq !== undefined || opts.rollup || opts.headers) {
      const fields: Record<string, string> = { ...opts.headers };
      if (opts.expectSeq !== undefined) fields['Nats-Expected-Last-Subject-Sequence'] = String(opts.expectSeq);
      if (opts.rollup) fields['Nats-Rollup'] = 'sub';
      h = rawHeaders(fields);
    }
    return pubAckSeq(await this.request(subject, data, h), subject);
  }

  /** Last message on an exact subject (direct get); null when there is none. */
  async directGet(stream: string, subject: string): Promise<{ seq: number; data: Uint8Array; headers?: MsgHdrs } | null> {
    const m = await this.request(`$JS.API.DIRECT.GET.${stream}`, bytes(JSON.stringify({ last_by_subj: subject })));
    const h = m.headers;
    if (h?.code === 404 || (h?.hasError ?? false)) return null;
    if (!h) throw new Error('direct get: unexpected reply');
    // a KV delete/purge leaves a marker message
    const op = h.get('KV-Operation');
    if (op === 'DEL' || op === 'PURGE') return null;
    return { seq: Number(h.get('Nats-Sequence')), data: m.data, headers: h };
  }

  /** Message by sequence (direct get); null when gone. */
  async directGetSeq(
    stream: string,
    seq: number,
    nextBySubj?: string,
  ): Promise<{ seq: number; subject: string; ts: number; data: Uint8Array } | null> {
    const body = nextBySubj ? { seq, next_by_subj: nextBySubj } : { seq };
    const m = await this.request(`$JS.API.DIRECT.GET.${stream}`, bytes(JSON.stringify(body)));
    const h = m.headers;
    if (!h || h.code === 404 || h.hasError) return null;
    return {
      seq: Number(h.get('Nats-Sequence')),
      subject: h.get('Nats-Subject'),
      ts: Date.parse(h.get('Nats-Time-Stamp')),
      data: m.data,
    };
  }

  /**
   * One pull request on a durable/ephemeral pull consumer. Resolves with the messages delivered
   * (at most `batch`) once the server ends the request (no messages / expired) or `batch` arrived.
   * Without an answer in time it rejects (UnavailableError), except with `giveUpMs` (below).
   */
  /** Smoothed round trip of the answered requests (ms; for tests). */
  get roundTripMs(): number {
    return this.rttMs;
  }

  pull(
    stream: string,
    consumer: string,
    batch: number,
    opts: { noWait?: boolean; expiresMs?: number; giveUpMs?: number; drained?: (received: number) => Promise<boolean> } = {},
  ): Promise<RawMsg[]> {
    // a pull sent while reconnecting would wait in the client's buffer and reach the server after
    // the reconnect, long after its caller gave up on it (its deliveries then wait for AckWait)
    if (this.deaf !== null) return Promise.reject(this.deaf);
    if (this.down)
      return Promise.reject(new UnavailableError('not connected to NATS (reconnecting)', { hint: 'is nats-server running?' }));
    const body: Record<string, unknown> = { batch };
    if (opts.noWait) body.no_wait = true;
    if (opts.expiresMs) body.expires = opts.expiresMs * 1_000_000;
    const out: RawMsg[] = [];
    // delivered messages keep their stream subject, so a pull needs its own inbox subscription
    const inbox = createInbox();
    let settled = false;
    return new Promise<RawMsg[]>((resolve, reject) => {
      const finish = (err?: Error) => {
        clearTimeout(timer);
        this.pulls.delete(onDrop);
        // after what the caller sends on the delivered messages (a claim's record check): the
        // unsubscribe is not on the way of the next round trip
        setImmediate(() => sub.unsubscribe());
        if (settled) return;
        settled = true;
        if (err) reject(err);
        else resolve(out);
      };
      const sub = this.nc.subscribe(inbox, {
        callback: (e, m) => {
          if (e) return finish(e instanceof PermissionViolationError ? permissionError(e) : e);
          const h = m.headers;
          if (h && m.data.length === 0 && h.code >= 100 && !m.reply) {
            if (h.code === 100) return; // heartbeat
            if (settled) return finish(); // the late end of a request given up on (below)
            if (h.code === 503)
              return finish(
                new UnavailableError('JetStream is not enabled on this NATS server', { hint: 'start nats-server with -js' }),
              );
            if (h.code === 409 && out.length === 0 && !/exceeded|leadership|timeout/i.test(h.description))
              return finish(new JsApiError(409, 0, h.description));
            return finish(); // 404 no messages, 408 expired, 409 …
          }
          if (settled) {
            // delivered after the request was given up on: hand it back at once
            if (m.reply) nak(this, m.reply, 0);
            return;
          }
          out.push({ subject: m.subject, reply: m.reply, data: m.data, headers: h, rec: undefined, parkedAt: undefined });
          if (out.length >= batch) finish();
        },
      });
      // On 2.9 a no_wait request that arrives while messages are pending, all of which are then
      // taken by another request or deleted, may stay waiting without an answer.
      // - giveUpMs (claims on the shared work consumers): give up on it after a short while
      //   (resolving with what arrived), keep listening for a bounded time, and nak whatever it
      //   still delivers. The while is at least a few smoothed round trips of this connection:
      //   a saturated server answers every request late, and a claim that gave up after 250 ms
      //   came back empty with thousands of jobs ready (reliability scenario 7: 16 draining
      //   workers ended, their late deliveries nak'ed back).
      // - a read (its own ephemeral consumer) never settles for a partial answer because the
      //   server is slow (a short worker list made live workers look dead to the rescuer): after
      //   SILENCE_MS without a message it asks `drained()` (the consumer has nothing pending:
      //   the rest was deleted) and otherwise keeps waiting; no answer in time is an error.
      let timer: NodeJS.Timeout;
      const deadline = Date.now() + (opts.expiresMs ?? 0) + this.timeoutMs;
      const timedOut = () =>
        finish(new UnavailableError(`NATS pull request on ${stream} timed out`, { hint: 'is the server overloaded?' }));
      if (opts.giveUpMs !== undefined) {
        const giveUpMs = Math.max(opts.giveUpMs, Math.min(GIVE_UP_MAX_MS, GIVE_UP_RTTS * this.rttMs));
        timer = setTimeout(() => {
          settled = true;
          resolve(out);
          timer = setTimeout(() => sub.unsubscribe(), this.timeoutMs);
          timer.unref(); // must not keep a finished CLI command alive
        }, giveUpMs);
      } else if (opts.drained !== undefined) {
        const drained = opts.drained;
        let seen = -1;
        const check = (): void => {
          if (settled) return;
          if (Date.now() >= deadline) return timedOut();
          if (out.length !== seen) {
            seen = out.length; // still arriving: look again later
            timer = setTimeout(check, SILENCE_MS);
            timer.unref();
            return;
          }
          drained(out.length).then(
            (yes) => {
              if (settled) return;
              if (yes) return finish();
              timer = setTimeout(check, SILENCE_MS);
              timer.unref();
            },
            (e: unknown) => finish(e as Error),
          );
        };
        seen = 0;
        timer = setTimeout(check, SILENCE_MS);
      } else {
        timer = setTimeout(timedOut, deadline - Date.now());
      }
      timer.unref();
      // the connection dropped: the server forgot this request. A claim returns what arrived (those
      // messages are its to work); a read never settles for a partial answer: it fails.
      // (a refused pull: the error, whatever arrived)
      const onDrop = (e: Error) =>
        finish(opts.drained === undefined && out.length && !(e instanceof PermissionError) ? undefined : e);
      const subject = `$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`;
      this.pulls.set(onDrop, subject);
      this.nc.publish(subject, bytes(JSON.stringify(body)), { reply: inbox });
    });
  }

  /** Fire-and-forget publish (acks, naks, wake-ups, index purges are separate). */
  fire(subject: string, data: Uint8Array | string = ''): void {
    this.nc.publish(subject, data);
  }

  close(): void {
    clearInterval(this.sweeper);
    this.statusIter.stop?.();
    this.sub.unsubscribe();
    for (const [, p] of this.pending) p.onError(new UnavailableError('connection closed'));
    this.pending.clear();
    for (const [, b] of this.batches) b.reject(new UnavailableError('connection closed'));
    this.batches.clear();
  }
}

const ACK = bytes('+ACK');
const NAK = bytes('-NAK');
const WPI = bytes('+WPI');
export const ack = (w: Wire, reply: string): void => w.fire(reply, ACK);
/** Ack and wait until the server confirms it processed the ack (the message is gone). */
export const ackSync = async (w: Wire, reply: string): Promise<void> => {
  await w.request(reply, ACK);
};
export const nak = (w: Wire, reply: string, delayMs = 0): void =>
  w.fire(reply, delayMs > 0 ? `-NAK ${JSON.stringify({ delay: Math.round(delayMs) * 1_000_000 })}` : NAK);
export const working = (w: Wire, reply: string): void => w.fire(reply, WPI);

/** Messages the consumer still had to deliver when it sent this one (the last token of its ack subject). */
export function pendingAfter(reply: string): number {
  return Number(reply.slice(reply.lastIndexOf('.') + 1));
}

/** Stream sequence and delivery count from an ack subject `$JS.ACK.<stream>.<consumer>.<dc>.<sseq>.<dseq>.<ts>.<pending>`. */
export function ackInfo(reply: string): { seq: number; deliveries: number } {
  // the 5th and 4th tokens from the end, found without splitting the whole subject
  let end = reply.length;
  for (let k = 0; k < 3; k++) end = reply.lastIndexOf('.', end - 1);
  const mid = reply.lastIndexOf('.', end - 1);
  const start = reply.lastIndexOf('.', mid - 1);
  return { seq: Number(reply.slice(mid + 1, end)), deliveries: Number(reply.slice(start + 1, mid)) };
}

export const text = (b: Uint8Array): string => dec.decode(b);

/**
 * The server's refusal in an error of the client library (its own requests reject with a
 * RequestError whose cause is the refusal), or null.
 */
export function refusal(e: unknown): PermissionViolationError | null {
  if (e instanceof PermissionViolationError) return e;
  const cause = (e as { cause?: unknown } | null)?.cause;
  return cause instanceof PermissionViolationError ? cause : null;
}

/** A refusal of the server (the user's permissions) as jobctl's error: what, where, and the fix. */
export function permissionError(e: PermissionViolationError): PermissionError {
  const what = e.operation === 'publish' ? 'publish to' : 'subscribe to';
  return new PermissionError(
    `this NATS user may not ${what} ${e.subject}`,
    'use a user with the permissions in the README (NATS: least privilege): a worker user for writes; `jobctl migrate` needs the admin one',
  );
}
