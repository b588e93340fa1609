// Medians per peer of the JSON lines written by bench/compare.sh, as a Markdown table.
import { readFileSync } from 'node:fs';

const rows = process.argv
  .slice(2)
  .flatMap((f) => readFileSync(f, 'utf8').trim().split('\n'))
  .filter(Boolean)
  .map((l) => JSON.parse(l));
const median = (xs) => {
  const s = xs.filter((x) => typeof x === 'number').sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : null;
};
const peers = [...new Set(rows.map((r) => r.peer))];
const fields = ['enqueue_jobs_s', 'work_jobs_s', 'lat_p50_ms', 'lat_p99_ms'];
console.log(`| peer | runs | ${fields.join(' | ')} |`);
console.log(`|---|---|${fields.map(() => '---').join('|')}|`);
for (const p of peers) {
  const mine = rows.filter((r) => r.peer === p);
  console.log(`| ${p} | ${mine.length} | ${fields.map((f) => median(mine.map((r) => r[f])) ?? '-').join(' | ')} |`);
}
