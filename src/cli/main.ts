/**
 * What bin/run.js runs: oclif's execute() over argv with leading global flags moved after the
 * command (`jobctl --url X stats`). The build bundles this file, the commands and the parts of
 * @oclif/core they use into dist/app/ (scripts/bundle.mjs), so a start reads a few files
 * instead of hundreds; oclif is imported by subpath, not through its index, which would load
 * help, ux, semver and more on every start.
 */
import { execute } from '@oclif/core/execute';
import { hoistGlobalFlags } from './argv.js';

/** `dir`: the package root, or a file URL inside it (oclif reads package.json and the manifest there). */
export async function run(dir: string, argv: readonly string[]): Promise<void> {
  await execute({ dir, args: hoistGlobalFlags(argv) });
}
