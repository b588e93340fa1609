#!/usr/bin/env node
// jobctl entry point. Kept tiny: oclif loads only the command that runs, and commands load
// their backend driver lazily, so `jobctl --version` and `--help` stay fast.
// Global flags typed before the command (`jobctl --url X stats`) are moved after it.
import { execute } from '@oclif/core';
import { hoistGlobalFlags } from '../dist/cli/argv.js';

await execute({ dir: import.meta.url, args: hoistGlobalFlags(process.argv.slice(2)) });
