// Build step after tsc: bundles what `jobctl` runs into dist/app/, so that a start reads a few
// files instead of ~250 (node resolves, stats and compiles each one; that was most of the
// ~140 ms the CLI took before any work). Input is tsc's output (tsc stays the compiler and the
// type checker); dist/ keeps the library (dist/index.js) as it was.
//   dist/app/run.js                 entry of bin/run.js (src/cli/main.ts)
//   dist/app/commands/**.js         one file per command, found by oclif through the manifest
//   dist/app/backends/<name>.js     each backend with its driver, imported only when opened
//   dist/app/chunks/*.js            code shared by several of the above (@oclif/core, the base)
//   dist/app/code-cache.js          the loader bin/run.js runs the rest with (src/cli/code-cache.ts)
// The bundle is CommonJS (dist/app/package.json says so), so that it can be loaded with V8's
// code cache, which Node 20 has only for scripts; each file ends with a trailer naming the hash
// of its content, which ties it to its cache (scripts/code-cache.mjs writes dist/code-cache/).
// Left outside: better-sqlite3 (a native addon), and what @oclif/core only loads in
// development or on other platforms (typescript, ts-node) and pg's optional pg-native and
// pg-cloudflare.
import { createHash } from 'node:crypto';
import { appendFileSync, rmSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { build } from 'rolldown';
import { TRAILER } from '../dist/cli/code-cache.js';

const dist = new URL('../dist/', import.meta.url).pathname;
const out = join(dist, 'app');
const external = /^(better-sqlite3|typescript|ts-node|pg-native|pg-cloudflare|cloudflare:.*)(\/|$)/;

const input = { run: join(dist, 'cli/main.js'), 'code-cache': join(dist, 'cli/code-cache.js') };
const walk = (dir) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name.endsWith('.js')) input[relative(dist, p).slice(0, -3)] = p;
  }
};
walk(join(dist, 'commands'));

/**
 * @oclif/core sorts the commands of a plugin with localeCompare on every start; the first
 * localeCompare of a process builds an ICU collator: 15-20 ms of CPU, about a tenth of a
 * `jobctl stats`. The ids are ASCII, and help sorts them again by code point, so comparing by
 * code point here orders them the same. The build fails if the line is not found (an oclif
 * upgrade changed it): look again then, rather than lose the saving silently.
 */
const ASCII_SORT = {
  name: 'oclif-ascii-command-sort',
  transform: {
    filter: { id: /@oclif[\\/]core[\\/]lib[\\/]config[\\/]plugin\.js$/ },
    handler(code) {
      const from = '.sort((a, b) => a.id.localeCompare(b.id))';
      if (!code.includes(from)) throw new Error(`bundle: ${from} not found in @oclif/core's config/plugin.js`);
      return { code: code.replace(from, '.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))'), map: null };
    },
  },
};

/**
 * Modules required at start but used only on paths a read command does not take. Each is
 * compiled when required: required from the listed importer, each resolves to a stand-in that
 * requires the real module on first use (any property access); `__esModule` is answered from
 * the real module at build time, so interop helpers do not trigger the load.
 * - from @oclif/core: packages for command discovery without a manifest, plugin patterns,
 *   rc-file search, s3 update templates, help templates, spinners (~120 KB of source), and
 *   three built-in modules;
 * - from pg: its crypto helpers (SCRAM and MD5 password authentication), which load node:crypto
 *   (~20 built-in modules) on every start; connections without a password never use them.
 */
const oclifRequire = createRequire(createRequire(import.meta.url).resolve('@oclif/core/package.json'));
const OCLIF = /@oclif[\\/]core[\\/]/;
const pgCrypto = join(dirname(createRequire(import.meta.url).resolve('pg')), 'crypto/utils.js');
const LAZY = [
  ...['tinyglobby', 'minimatch', 'lilconfig', 'ejs', 'cli-spinners'].map((name) => ({
    name,
    path: oclifRequire.resolve(name),
    from: (source, importer) => source === name && OCLIF.test(importer),
  })),
  // built-ins: marks for OCLIF_PERFORMANCE/debug only, stdin reading for `-` arguments, the
  // shell of a Windows user (child_process is still loaded, by wsl-utils, an ES module)
  ...['node:perf_hooks', 'node:readline', 'node:child_process'].map((name) => ({
    name,
    path: name,
    from: (source, importer) => source === name && OCLIF.test(importer),
  })),
  {
    name: 'pg-crypto-utils',
    path: pgCrypto,
    from: (source, importer) =>
      (source === './crypto/utils' && /[\\/]pg[\\/]lib[\\/]client\.js$/.test(importer)) ||
      (source === './utils' && /[\\/]pg[\\/]lib[\\/]crypto[\\/]sasl\.js$/.test(importer)),
  },
];
const LAZY_MODULES = {
  name: 'lazy-modules',
  resolveId(source, importer) {
    const lazy = importer && LAZY.find((l) => l.from(source, importer));
    return lazy ? `\0lazy:${lazy.name}` : null;
  },
  load(id) {
    if (!id.startsWith('\0lazy:')) return null;
    const { path } = LAZY.find((l) => l.name === id.slice(6));
    const esModule = oclifRequire(path).__esModule === true;
    return `let real;
const load = () => (real ??= require(${JSON.stringify(path)}));
module.exports = new Proxy({}, {
  get: (_, key) => (key === '__esModule' ? ${esModule} : load()[key]),
  has: (_, key) => key in load(),
  ownKeys: () => Reflect.ownKeys(load()),
  getOwnPropertyDescriptor: (_, key) => {
    const d = Reflect.getOwnPropertyDescriptor(load(), key);
    return d && { ...d, configurable: true };
  },
});
`;
  },
};

rmSync(out, { recursive: true, force: true });
const backend = /\/dist\/backends\/(\w+)\/index\.js$/;
const result = await build({
  input,
  platform: 'node',
  external,
  plugins: [ASCII_SORT, LAZY_MODULES],
  preserveEntrySignatures: 'allow-extension', // what the native-import group below needs
  logLevel: 'warn',
  output: {
    dir: out,
    format: 'cjs',
    entryFileNames: '[name].js',
    // The worker's import() of a handlers module needs node's own import callback, which code
    // compiled by vm.Script with a code cache does not have on Node 20: the module with that
    // import() is a chunk of its own, left without a trailer, so node compiles it as usual.
    codeSplitting: {
      groups: [{ name: 'native-import', test: /[\\/]dist[\\/]worker[\\/]handlers\.js$/, includeDependenciesRecursively: false }],
    },
    chunkFileNames: (chunk) => {
      const m = chunk.facadeModuleId && backend.exec(chunk.facadeModuleId);
      return m ? `backends/${m[1]}.js` : 'chunks/[name]-[hash].js';
    },
  },
});
// CommonJS, so that bin/run.js can load it with V8's code cache (src/cli/code-cache.ts)
writeFileSync(join(out, 'package.json'), '{ "type": "commonjs" }\n');
const files = result.output.filter((o) => o.type === 'chunk');
// the trailer that ties a file to its code cache (dist/code-cache/, scripts/code-cache.mjs)
for (const o of files) {
  if (o.fileName.startsWith('chunks/native-import-')) continue;
  appendFileSync(join(out, o.fileName), `${TRAILER}${createHash('sha256').update(o.code).digest('hex').slice(0, 32)}\n`);
}
const kb = Math.round(files.reduce((n, o) => n + o.code.length, 0) / 1024);
console.error(`dist/app: ${files.length} files, ${kb} KiB`);
