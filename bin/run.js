#!/usr/bin/env node
// jobctl entry point. Kept tiny: oclif loads only the command that runs, and commands load
// their backend driver lazily, so `jobctl --version` and `--help` stay fast.
import { execute } from '@oclif/core';

await execute({ dir: import.meta.url });
