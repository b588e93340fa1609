// Build step: writes oclif.manifest.json (what `oclif manifest` does), so that `jobctl --help`
// and command lookup read one JSON file instead of importing every command module.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Plugin } from '@oclif/core';

const root = fileURLToPath(new URL('..', import.meta.url));
const plugin = new Plugin({ root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true });
await plugin.load();
writeFileSync(new URL('../oclif.manifest.json', import.meta.url), JSON.stringify(plugin.manifest, null, 2) + '\n');
console.error(`oclif.manifest.json: ${Object.keys(plugin.manifest.commands).length} commands`);
