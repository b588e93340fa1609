#!/usr/bin/env node
// jobctl entry point. Kept tiny: it runs the bundle in dist/app/ (scripts/bundle.mjs), where
// oclif loads only the command that runs and commands load their backend and its driver
// lazily, so `jobctl --version` and `--help` stay fast. The bundle is CommonJS, loaded with the
// V8 code cache the build saved in dist/code-cache/ (src/cli/code-cache.ts; a missing or stale
// cache only costs time). This file is CommonJS too (bin/package.json), so that a start does
// not set up node's ES module loader. Global flags typed before the command
// (`jobctl --url X stats`) are moved after it (src/cli/main.ts).
const { join } = require('node:path');

const { requireWithCodeCache } = require('../dist/app/code-cache.js');
const { run } = requireWithCodeCache(join(__dirname, '../dist/app'), join(__dirname, '../dist/code-cache'), './run.js');

// the package's root: oclif reads package.json and the manifest there
run(join(__dirname, '..'), process.argv.slice(2)).then(() => {
  // The command has finished and closed its backend: exit even if a socket is still closing (a
  // NATS connection's close was seen to keep a `jobs show` alive for 20+ s while the server was
  // busy). The timer is unref'd, so a process with nothing left running exits at once, as before.
  setTimeout(() => process.exit(), 1000).unref();
});
