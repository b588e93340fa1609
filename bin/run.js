#!/usr/bin/env node
// jobctl entry point. Kept tiny: oclif loads only the command that runs, and commands load
// their backend driver lazily, so `jobctl --version` and `--help` stay fast.
// Global flags typed before the command (`jobctl --url X stats`) are moved after it.
import { execute } from '@oclif/core';
import { hoistGlobalFlags } from '../dist/cli/argv.js';

await execute({ dir: import.meta.url, args: hoistGlobalFlags(process.argv.slice(2)) });
// The command has finished and closed its backend: exit even if a socket is still closing (a
// NATS connection's close was seen to keep a `jobs show` alive for 20+ s while the server was
// busy). The timer is unref'd, so a process with nothing left running exits at once, as before.
setTimeout(() => process.exit(), 1000).unref();
