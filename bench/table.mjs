// Medians per peer of the JSON lines written by bench/compare.sh, as a Markdown table, then the
// per-run ratios of jobctl against each peer.
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

// The issues' targets are ratios: run k of each jobctl line against run k of each peer (lines
// in the order compare.sh wrote them, one per peer per run), with the median of those ratios.
const ours = peers.filter((p) => p.startsWith('jobctl'));
const theirs = peers.filter((p) => !p.startsWith('jobctl'));
const ratioCells = (a, b, f) => {
  const rs = [];
  for (let k = 0; k < Math.min(a.length, b.length); k++)
    if (typeof a[k][f] === 'number' && typeof b[k][f] === 'number' && b[k][f] > 0) rs.push(a[k][f] / b[k][f]);
  return rs.length ? `${median(rs).toFixed(2)}× (${rs.map((r) => r.toFixed(2)).join(' ')})` : '-';
};
if (ours.length && theirs.length) {
  console.log('');
  console.log('| jobctl / peer | work ratio: median (per run) | enqueue ratio: median (per run) |');
  console.log('|---|---|---|');
  for (const p of ours)
    for (const q of theirs) {
      const a = rows.filter((r) => r.peer === p);
      const b = rows.filter((r) => r.peer === q);
      console.log(`| ${p} / ${q} | ${ratioCells(a, b, 'work_jobs_s')} | ${ratioCells(a, b, 'enqueue_jobs_s')} |`);
    }
}
