import { BACKEND_NAMES, type BackendName } from './backend.js';
import { UsageError } from './errors.js';

export const DEFAULT_SQLITE_PATH = './.jobctl/jobs.db';

const SCHEMES: Record<string, BackendName> = {
  'sqlite:': 'sqlite',
  'file:': 'sqlite',
  'postgres:': 'pg',
  'postgresql:': 'pg',
  'redis:': 'redis',
  'rediss:': 'redis',
  'nats:': 'nats',
  'tls:': 'nats',
};

export interface ConnectionInput {
  /** --backend */
  backend?: string;
  /** --url */
  url?: string;
  /** process.env (JOBCTL_BACKEND, JOBCTL_URL) */
  env?: Record<string, string | undefined>;
}

export interface Connection {
  backend: BackendName;
  url: string;
}

/** Backend from a URL's scheme, or undefined when the URL has none we know. */
export function backendFromUrl(url: string): BackendName | undefined {
  const m = /^([a-z][a-z0-9+.-]*:)/i.exec(url);
  return m ? SCHEMES[m[1]!.toLowerCase()] : undefined;
}

export function parseBackendName(name: string): BackendName {
  const n = name.trim().toLowerCase();
  const alias = n === 'postgres' || n === 'postgresql' ? 'pg' : n;
  if ((BACKEND_NAMES as readonly string[]).includes(alias)) return alias as BackendName;
  throw new UsageError(`unknown backend "${name}"`, `use one of: ${BACKEND_NAMES.join(', ')}`);
}

/**
 * Resolve backend and URL: flag > env > inferred from the URL scheme > sqlite default.
 * Pure: everything it reads comes in through `input`.
 */
export function resolveConnection(input: ConnectionInput): Connection {
  const env = input.env ?? {};
  const url = nonEmpty(input.url) ?? nonEmpty(env.JOBCTL_URL);
  const explicit = nonEmpty(input.backend) ?? nonEmpty(env.JOBCTL_BACKEND);
  const backend = explicit ? parseBackendName(explicit) : url ? (backendFromUrl(url) ?? 'sqlite') : 'sqlite';
  if (url) {
    const fromScheme = backendFromUrl(url);
    if (explicit && fromScheme && fromScheme !== backend) {
      throw new UsageError(
        `--backend ${backend} does not match the URL ${maskUrl(url)}`,
        `drop --backend or use a ${backend} URL`,
      );
    }
    return { backend, url };
  }
  if (backend !== 'sqlite') {
    throw new UsageError(`the ${backend} backend needs a URL`, 'set --url or JOBCTL_URL');
  }
  return { backend, url: DEFAULT_SQLITE_PATH };
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v;
}

const SECRET_PARAMS = /^(password|pass|pwd|token|secret|auth|sslpassword|key|apikey|api_key)$/i;

/** The secrets a URL carries (password, token-style user, secret query parameters). */
export function urlSecrets(url: string): string[] {
  const out: string[] = [];
  try {
    const u = new URL(url);
    if (u.password) out.push(u.password, decodeURIComponent(u.password));
    // nats://TOKEN@host carries a token in the user part
    if (!u.password && u.username && /^(nats|tls):$/i.test(u.protocol)) out.push(u.username, decodeURIComponent(u.username));
    for (const [k, v] of u.searchParams) if (SECRET_PARAMS.test(k) && v) out.push(v, encodeURIComponent(v));
  } catch {
    // Not a URL we can parse: fall back to user:pass@ patterns.
    const m = /\/\/[^:/@\s]*:([^@\s]+)@/.exec(url);
    if (m?.[1]) out.push(m[1]);
  }
  return [...new Set(out.filter((s) => s.length > 0))];
}

/** The URL with its password, token and secret parameters replaced by ***. */
export function maskUrl(url: string): string {
  return redact(url, urlSecrets(url));
}

/**
 * Words jobctl prints itself (backend names, URL schemes, Redis's default user and jobctl's
 * default queue). A password equal to one (`postgres://postgres:postgres@…`, the default of the
 * official image) is masked where it is a password (in URLs, below), not as a word: masking the
 * word everywhere turned `cannot reach postgres at postgres://…` into `cannot reach *** at
 * ***://***:***@…`, which tells the password by its absence instead of hiding it.
 */
const OWN_WORDS = new Set(['postgres', 'postgresql', 'pg', 'redis', 'rediss', 'nats', 'tls', 'sqlite', 'jobctl', 'default']);
/**
 * Secrets shorter than this are masked only in URLs: a one-letter password masked as text took
 * that letter out of every word of every message (`fl***gs`).
 */
const MIN_FREE_TEXT = 3;

/** A URL's user info (`scheme://user:password@`, `scheme://token@`) and secret query parameters. */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/@?#]*)@/gi;
const SECRET_QUERY = /([?&](?:password|pass|pwd|token|secret|auth|sslpassword|key|apikey|api_key)=)([^&\s#]*)/gi;

/**
 * Mask secrets in text: in every URL its password, a token in its user part and its secret query
 * parameters, whatever they are; elsewhere every occurrence of each secret (longest first), unless
 * it is too short or one of jobctl's own words (OWN_WORDS, MIN_FREE_TEXT).
 */
export function redact(text: string, secrets: readonly string[]): string {
  // the secrets as text first: a URL written without percent-encoding (`app:p@ss@host`) must not
  // be cut at its first `@` before the whole secret is masked
  let out = text;
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) {
    if (s.length >= MIN_FREE_TEXT && !OWN_WORDS.has(s.toLowerCase())) out = out.split(s).join('***');
  }
  const tokens = new Set(secrets);
  return out
    .replace(URL_USERINFO, (_m, scheme: string, info: string) => {
      const colon = info.indexOf(':');
      if (colon >= 0) return `${scheme}${info.slice(0, colon)}:***@`;
      return tokens.has(info) || tokens.has(safeDecode(info)) ? `${scheme}***@` : `${scheme}${info}@`;
    })
    .replace(SECRET_QUERY, (_m, key: string) => `${key}***`);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
