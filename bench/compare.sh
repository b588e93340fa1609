#!/usr/bin/env bash
# Runs jobctl's benchmark and the matching peer benchmarks of ../shared/peer-bench in the SAME
# sitting, alternating (jobctl, peer, jobctl, peer, …), and prints per-run JSON lines plus medians.
#
#   bench/compare.sh sqlite                                   # jobctl only
#   bench/compare.sh pg "bench-graphile.mjs batched" "bench-rawpg.mjs"
#   bench/compare.sh redis "bench-bullmq.mjs"
#   bench/compare.sh nats "bench-nats.mjs"
#   RUNS=5 bench/compare.sh redis "bench-bullmq.mjs"
#   BASE_DIR=/tmp/base RUNS=5 bench/compare.sh nats "bench-nats.mjs"   # also a base build, each run
#
# BASE_DIR: a built checkout of another commit (e.g. `git archive <commit> | tar -x -C /tmp/base`,
# node_modules linked, `npm run build` there); its jobctl runs before this one in every run, its
# lines named "<peer> (base)", so before/after/peer are measured in the same sitting.
#
# ../shared/peer-bench is read-only, so it is copied once to $PEER_DIR (default
# /tmp/jobctl-peer-bench) and installed there. Knobs N, BATCH, CONC, LAT_N, LAT_RATE pass through.
set -euo pipefail
cd "$(dirname "$0")/.."
backend="$1"; shift
RUNS="${RUNS:-3}"
PEER_SRC="${PEER_SRC:-../shared/peer-bench}"
PEER_DIR="${PEER_DIR:-/tmp/jobctl-peer-bench}"
OUT="${OUT:-bench/results/$(date +%Y%m%d-%H%M%S)-$backend.jsonl}"
mkdir -p "$(dirname "$OUT")"
OUT="$(realpath -m "$OUT")" # the BASE_DIR runs write their stderr next to it from another directory

if [ $# -gt 0 ] && [ ! -d "$PEER_DIR/node_modules" ]; then
  rm -rf "$PEER_DIR" && cp -r "$PEER_SRC" "$PEER_DIR" && chmod -R u+w "$PEER_DIR"
  (cd "$PEER_DIR" && npm install --no-audit --no-fund >/dev/null 2>&1)
  psql -h 127.0.0.1 -U postgres -tAc "select 1 from pg_database where datname='jobbench'" | grep -q 1 \
    || createdb -h 127.0.0.1 -U postgres jobbench
fi

npm run build --silent
for run in $(seq 1 "$RUNS"); do
  if [ -n "${BASE_DIR:-}" ]; then
    echo "run $run: jobctl/$backend base $BASE_DIR (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    (cd "$BASE_DIR" && node bench/run.mjs --backend "$backend" 2>>"${OUT%.jsonl}.stderr.log" | tail -n 1) \
      | node -e 'let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>{const o=JSON.parse(s);o.peer+=" (base)";console.log(JSON.stringify(o))})' \
      | tee -a "$OUT"
  fi
  echo "run $run: jobctl/$backend (load $(cut -d' ' -f1 /proc/loadavg))" >&2
  node bench/run.mjs --backend "$backend" 2>>"${OUT%.jsonl}.stderr.log" | tail -n 1 | tee -a "$OUT"
  for peer in "$@"; do
    echo "run $run: $peer (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    # shellcheck disable=SC2086
    (cd "$PEER_DIR" && timeout -k 5 120 node $peer 2>>/dev/null | tail -n 1) | tee -a "$OUT"
    sleep 1
  done
done
node bench/table.mjs "$OUT"
