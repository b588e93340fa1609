/**
 * oclif finds the command in the first words of argv, so `jobctl --url X stats` would look for
 * a command named "--url". Users type global flags first all the time; this moves leading
 * global flags (and their values) after the command, before any `--`. Tiny and dependency-free:
 * bin/run.js may call it on every start.
 */
const VALUE_FLAGS = new Set(['--backend', '--url']);
const BOOLEAN_FLAGS = new Set(['--json', '--no-color', '--debug']);

export function hoistGlobalFlags(argv: readonly string[]): string[] {
  const lead: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const a = argv[i]!;
    if (BOOLEAN_FLAGS.has(a) || /^--(backend|url)=/.test(a)) {
      lead.push(a);
      i += 1;
    } else if (VALUE_FLAGS.has(a) && i + 1 < argv.length) {
      lead.push(a, argv[i + 1]!);
      i += 2;
    } else {
      break;
    }
  }
  if (lead.length === 0 || i >= argv.length) return [...argv];
  const rest = argv.slice(i);
  const dd = rest.indexOf('--');
  return dd === -1 ? [...rest, ...lead] : [...rest.slice(0, dd), ...lead, ...rest.slice(dd)];
}
