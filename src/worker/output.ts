/**
 * Splits a child's stdout/stderr bytes into lines with bounded memory:
 * - a line keeps at most `maxLineBytes` bytes; the rest is counted and dropped, with a marker;
 * - an attempt logs at most `maxLines` lines / `maxBytes` bytes, then one "[output truncated …]"
 *   line; the pipes are still drained (so the child never blocks) but nothing more is kept;
 * - the last stderr lines are remembered for the error message of a failed attempt.
 */
import type { OutputLimits } from './types.js';

export const DEFAULT_OUTPUT_LIMITS: OutputLimits = {
  maxLineBytes: 64 * 1024,
  maxLines: 10_000,
  maxBytes: 8 * 1024 * 1024,
};

export type OutputStream = 'stdout' | 'stderr';

interface Partial {
  parts: Buffer[];
  bytes: number;
  dropped: number;
}

const NL = 0x0a;
const TAIL_LINES = 10;
const TAIL_LINE_CHARS = 500;

export class OutputCapture {
  private readonly cur: Record<OutputStream, Partial> = {
    stdout: { parts: [], bytes: 0, dropped: 0 },
    stderr: { parts: [], bytes: 0, dropped: 0 },
  };
  private lines = 0;
  private bytes = 0;
  private truncated = false;
  /** lines not logged after the cap */
  droppedLines = 0;
  readonly stderrTail: string[] = [];

  constructor(
    private readonly limits: OutputLimits,
    /** returns false when the sink wants the producer to pause */
    private readonly emit: (stream: OutputStream, line: string) => boolean,
  ) {}

  /** Feed a chunk; false = the sink is over its high-water mark (pause the pipes). */
  push(stream: OutputStream, chunk: Buffer): boolean {
    let ok = true;
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(NL, start);
      if (nl === -1) break;
      this.append(stream, chunk, start, nl);
      if (!this.endLine(stream)) ok = false;
      start = nl + 1;
    }
    if (start < chunk.length) this.append(stream, chunk, start, chunk.length);
    return ok;
  }

  /** The stream ended: emit its unterminated last line, if any. */
  end(stream: OutputStream): void {
    const p = this.cur[stream];
    if (p.bytes > 0 || p.dropped > 0) this.endLine(stream);
  }

  private append(stream: OutputStream, chunk: Buffer, from: number, to: number): void {
    if (to <= from) return;
    const p = this.cur[stream];
    // after the attempt cap only stderr still needs content (for the tail), stdout is skipped
    if (this.truncated && stream === 'stdout') {
      p.dropped += to - from;
      return;
    }
    const room = this.limits.maxLineBytes - p.bytes;
    const take = Math.min(room, to - from);
    if (take > 0) {
      // copy: the chunk's memory is reused by the stream
      p.parts.push(Buffer.from(chunk.subarray(from, from + take)));
      p.bytes += take;
    }
    p.dropped += to - from - Math.max(0, take);
  }

  private endLine(stream: OutputStream): boolean {
    const p = this.cur[stream];
    const buf = p.parts.length === 1 ? p.parts[0]! : Buffer.concat(p.parts, p.bytes);
    const dropped = p.dropped;
    p.parts = [];
    p.bytes = 0;
    p.dropped = 0;
    if (this.truncated && stream === 'stdout') {
      this.droppedLines++;
      return true;
    }
    let text = buf.toString('utf8');
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (dropped > 0) text += ` … [line truncated: ${dropped} more bytes]`;
    if (stream === 'stderr') {
      this.stderrTail.push(text.length > TAIL_LINE_CHARS ? `${text.slice(0, TAIL_LINE_CHARS)}…` : text);
      if (this.stderrTail.length > TAIL_LINES) this.stderrTail.shift();
    }
    if (this.truncated) {
      this.droppedLines++;
      return true;
    }
    if (this.lines >= this.limits.maxLines || this.bytes + text.length > this.limits.maxBytes) {
      this.truncated = true;
      this.droppedLines++;
      const why = this.lines >= this.limits.maxLines ? `${this.limits.maxLines} lines` : `${this.limits.maxBytes} bytes`;
      return this.emit('stderr', `[output truncated: limit of ${why} per attempt reached; the rest is not logged]`);
    }
    this.lines++;
    this.bytes += text.length;
    return this.emit(stream, text);
  }
}
