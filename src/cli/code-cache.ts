/**
 * Loads the bundle in dist/app/ (CommonJS, scripts/bundle.mjs) with V8's code cache, what
 * v8-compile-cache did: each file is compiled with `vm.Script` and the bytecode saved for it
 * at build time (`cachedData`), so a start deserializes the functions it runs instead of
 * parsing ~1.9 MB of source and compiling them again. Node 20 has no code cache for ES modules
 * (`module.enableCompileCache()` came in Node 22), hence the CommonJS bundle.
 *
 * Build (scripts/code-cache.mjs): every file of dist/app/ ends with a trailer naming the hash of
 * its content; training runs of bin/run.js with JOBCTL_CODE_CACHE=write save, at exit, the
 * bytecode of every function that ran (with what the cache already held) to
 * dist/code-cache/<file>.bin, headed by `<node version> <arch> <hash>`.
 *
 * A start uses a file's cache only when the header matches this node and the trailer of the
 * source read now; V8 checks its own version, flags and the source length and says when it
 * rejects the data. Anything else (no cache, stale, rejected, unreadable) compiles the source
 * as node would: the cache only ever saves time. JOBCTL_CODE_CACHE=off skips it;
 * JOBCTL_CODE_CACHE_TRACE=1 prints one line per file to stderr (hit, miss, stale, rejected).
 */
import Module from 'node:module';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import vm from 'node:vm';

/** Appended to every file of dist/app/ by the build, followed by the hash of what precedes it. */
export const TRAILER = '\n//# jobctl-code-cache=';

export type CacheOutcome = 'hit' | 'miss' | 'stale' | 'rejected';

interface CjsModule {
  exports: unknown;
  require(id: string): unknown;
  _compile(content: string, filename: string): unknown;
}
interface ModuleInternals {
  prototype: CjsModule;
  wrap(script: string): string;
  _resolveFilename(request: string, parent: CjsModule, isMain: boolean, options?: unknown): string;
  _resolveLookupPaths(request: string, parent: CjsModule): string[] | null;
  _extensions: unknown;
  _cache: unknown;
}
const M = Module as unknown as ModuleInternals;

/** The hash in `source`'s trailer, or undefined when it has none. */
export function trailerHash(source: string): string | undefined {
  const at = source.lastIndexOf(TRAILER);
  if (at === -1) return undefined;
  const hash = source.slice(at + TRAILER.length).trim();
  return /^[0-9a-f]{16,64}$/.test(hash) ? hash : undefined;
}

/** The header a cache file must start with to be used for a source with this trailer hash. */
export function cacheHeader(hash: string): string {
  return `${process.version} ${process.arch} ${hash}\n`;
}

function makeRequire(mod: CjsModule): NodeJS.Require {
  const req = ((id: string) => mod.require(id)) as NodeJS.Require;
  const resolve = ((request: string, options?: unknown) =>
    M._resolveFilename(request, mod, false, options)) as NodeJS.RequireResolve;
  resolve.paths = (request: string) => M._resolveLookupPaths(request, mod);
  req.resolve = resolve;
  req.main = process.mainModule;
  req.extensions = M._extensions as NodeJS.RequireExtensions;
  req.cache = M._cache as NodeJS.Dict<NodeModule>;
  return req;
}

/**
 * Requires `entry` (a file of dist/app/) with the code cache of dist/code-cache/ for every file
 * of `appDir` it loads, now or later (commands and backends are required on demand).
 */
export function requireWithCodeCache(appDir: string, cacheDir: string, entry: string): unknown {
  const mode = process.env.JOBCTL_CODE_CACHE;
  const plainRequire = Module.createRequire(join(appDir, 'index.js'));
  if (mode === 'off') return plainRequire(entry);
  const trace = process.env.JOBCTL_CODE_CACHE_TRACE === '1';
  const write = mode === 'write';
  const compiled: { file: string; hash: string; script: vm.Script }[] = [];
  const prefix = appDir.endsWith('/') ? appDir : appDir + '/';
  const original = M.prototype._compile;

  M.prototype._compile = function (this: CjsModule, content: string, filename: string) {
    const hash = filename.startsWith(prefix) ? trailerHash(content) : undefined;
    if (hash === undefined) return original.call(this, content, filename);
    const file = relative(appDir, filename);
    const cacheFile = join(cacheDir, file + '.bin');
    let cachedData: Buffer | undefined;
    let outcome: CacheOutcome = 'miss';
    try {
      const buf = readFileSync(cacheFile);
      const nl = buf.indexOf(10);
      if (nl !== -1 && buf.toString('latin1', 0, nl + 1) === cacheHeader(hash)) cachedData = buf.subarray(nl + 1);
      else outcome = 'stale';
    } catch {
      // no cache for this file: compiled from source
    }
    // No import() in code compiled here (Node 20 runs it only with --experimental-vm-modules,
    // or with an experimental constant that warns and fails with a cache): oclif's is for ES
    // module plugins and commands (the manifest says ours are CommonJS), and the worker's, for
    // a handlers module, is in a chunk without a trailer (scripts/bundle.mjs), compiled by node.
    const script = new vm.Script(M.wrap(content), { filename, cachedData });
    if (cachedData) outcome = script.cachedDataRejected ? 'rejected' : 'hit';
    if (trace) process.stderr.write(`code-cache: ${outcome} ${file}\n`);
    if (write) compiled.push({ file, hash, script });
    const fn = script.runInThisContext({ displayErrors: true }) as (...args: unknown[]) => unknown;
    return fn.call(this.exports, this.exports, makeRequire(this), this, filename, dirname(filename));
  };

  if (write) {
    // at exit: what ran in this process, and what the cache it started from held
    process.on('exit', () => {
      for (const { file, hash, script } of compiled) {
        const out = join(cacheDir, file + '.bin');
        mkdirSync(dirname(out), { recursive: true });
        writeFileSync(out, Buffer.concat([Buffer.from(cacheHeader(hash), 'latin1'), script.createCachedData()]));
      }
    });
  }
  return plainRequire(entry);
}
