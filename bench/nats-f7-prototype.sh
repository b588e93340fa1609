#!/usr/bin/env bash
# A measurement prototype of NATS storage format 7 (docs/architecture.md, "Format 7"), NOT the
# product: a copy of this checkout's dist/ whose outcome path writes what format 7 would write on
# the benchmark's path, to measure it against the product and the bare loop in one sitting:
#   - no per-job record (the outcome's compare-and-sets of `<id>` are skipped, as in the no-record
#     bound of session 9);
#   - the finished-batch markers carry each job's record (full: encodeRecText; `delta`: only the
#     fields an outcome changes, what a reader would merge over `n.<id>`);
#   - after the markers and before the acks, one more stored write per 200 finished jobs (the
#     commit: compare-and-set of the claim's running marker, here a plain publish of the ids).
# Readers, fences and every other path are untouched: the copy serves the benchmark's burn-down
# and nothing else. Usage (then BASE_DIR=<dir> bench/compare.sh nats "bench-nats.mjs"):
#   npm run build && bench/nats-f7-prototype.sh /tmp/f7proto [full|delta]
set -euo pipefail
cd "$(dirname "$0")/.."
dir="$1"
mode="${2:-full}"
rm -rf "$dir" && mkdir -p "$dir"
cp -r dist bench package.json bin "$dir/"
ln -s "$PWD/node_modules" "$dir/node_modules"
MODE="$mode" python3 - "$dir/dist/backends/nats/work.js" <<'EOF'
import os, sys
p = sys.argv[1]
s = open(p).read()
def sub(old, new):
    global s
    assert old in s, f"not found in {p}: {old[:60]}"
    s = s.replace(old, new, 1)
sub("const revs = await ctx.store.casMany(fast, now);", "const revs = fast.map(() => 1);")
sub("import { clearClaim, decodeRec, encodeRec,", "import { encodeRecText } from './record.js';\nimport { clearClaim, decodeRec, encodeRec,")
sub("(b = { state: r.state, queue: r.queue, id: newId(), ids: [] })", "(b = { state: r.state, queue: r.queue, id: newId(), ids: [], recs: [] })")
if os.environ["MODE"] == "delta":
    rec = """'{"i":' + JSON.stringify(r.id) + ',"s":"' + r.state + '","a":' + r.attempts + ',"w":' + JSON.stringify(r.workerId) + ',"sa":' + r.startedAt + ',"fa":' + r.finishedAt + (r.result == null ? '' : ',"r":' + JSON.stringify(r.result)) + (r.lb && r.lb.length ? ',"lb":' + JSON.stringify(r.lb) : '') + (r.errors.length ? ',"es":' + JSON.stringify(r.errors) : '') + '}'"""
else:
    rec = "encodeRecText(r)"
sub("this.byKey.get(key)?.ids.push(r.id);", "const b = this.byKey.get(key);\n        if (b) { b.ids.push(r.id); b.recs.push(" + rec + "); }")
sub("ctx.store.writeFinBatch(b.state, b.queue, b.id, b.ids)",
    "ctx.w.publish(ctx.n.finMarker(b.state + '-b', b.queue, b.id), '[' + b.recs.join(',') + ']', { headers: { 'Jc-N': String(b.ids.length), 'Jc-Min': b.ids[0], 'Jc-Max': b.ids[b.ids.length - 1] } })")
sub("""    if (!(await batches.write(ctx)))
        return;""", """    if (!(await batches.write(ctx)))
        return;
    const chunks = [];
    for (const b of batches.byKey.values()) for (let i = 0; i < b.ids.length; i += 200) chunks.push({ q: b.queue, ids: b.ids.slice(i, i + 200) });
    await Promise.all(chunks.map((c) => ctx.w.publish(ctx.n.marker('rb', c.q, c.ids[0]), JSON.stringify({ v: 7, d: c.ids }))));""")
open(p, "w").write(s)
EOF
echo "format-7 prototype ($mode) in $dir" >&2
