/**
 * Neutralise control and escape characters in text that came from jobs (payloads, errors, log
 * lines, names) before it reaches a terminal, so job output can never move the cursor, change
 * colours, set the window title (OSC), hide text with \r, or forge a line of jobctl's own output.
 *
 * Each dangerous character is rendered as visible text: ESC → `\x1b`, CR → `\r`, LF → `\n`,
 * other C0 / DEL / C1 → `\xNN` / `\u00NN`. A literal backslash is left alone: the output is for
 * people, not a round-trip encoding. Tab is kept (optionally expanded).
 */

// C0 controls except TAB, DEL, C1 controls (U+0080–U+009F), and the Unicode line/paragraph
// separators and bidi overrides that some terminals honour.
const UNSAFE = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;

function escapeChar(ch: string): string {
  switch (ch) {
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\u001b':
      return '\\x1b';
    case '\u0000':
      return '\\0';
    default: {
      const code = ch.codePointAt(0)!;
      return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
    }
  }
}

export interface SanitizeOptions {
  /** keep text exactly as given (the user asked for --raw) */
  raw?: boolean;
  /** keep newlines as real line breaks (multi-line fields shown in blocks, e.g. `jobs show`) */
  keepNewlines?: boolean;
}

/** Make job-provided text safe to print on a terminal. */
export function sanitize(text: string, opts: SanitizeOptions = {}): string {
  if (opts.raw) return text;
  if (opts.keepNewlines) {
    return text
      .split('\n')
      .map((line) => line.replace(UNSAFE, escapeChar))
      .join('\n');
  }
  return text.replace(UNSAFE, escapeChar);
}

/** Sanitise and collapse to one line of at most `max` characters (table cells, error summaries). */
export function oneLine(text: string | null | undefined, max = Infinity): string {
  if (text === null || text === undefined) return '';
  const flat = sanitize(text.replace(/\r?\n/g, ' ⏎ ').replace(/\t/g, ' '));
  return flat.length <= max ? flat : `${flat.slice(0, Math.max(0, max - 1))}…`;
}
