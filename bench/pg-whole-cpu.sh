#!/usr/bin/env bash
# CPU per job of one whole benchmark run, jobctl's or a peer's: the run's node process (user + sys,
# with its children) and the WHOLE postgres server (every server process, plus the postmaster's
# reaped children: the run's backends and autovacuum workers), from /proc, same machine. Prints
# one JSON line: the run's enqueue/work jobs/s and node_us_job, pg_us_job over N jobs (enqueue +
# work + latency phase; LAT_N=1 keeps that phase out). Other clients of the server count too:
# hold the heavy lock.
#   N=40000 LAT_N=1 bench/pg-whole-cpu.sh jobctl . node bench/run.mjs --backend pg
#   N=40000 LAT_N=1 bench/pg-whole-cpu.sh graphile /tmp/jobctl-peer-bench node bench-graphile.mjs batched
set -euo pipefail
label="$1"; dir="$2"; shift 2
N="${N:-20000}"
datadir=$(psql "${PG_URL:-postgres://postgres@127.0.0.1:5432/test}" -tAc 'show data_directory')
postmaster=$(head -n 1 "$datadir/postmaster.pid")
server_ticks() { # live server processes (utime + stime) + the postmaster's reaped children (cutime + cstime)
  local t=0 p f
  for p in $(pgrep -P "$postmaster") "$postmaster"; do
    read -r -a f < <(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
    t=$((t + f[11] + f[12]))
  done
  read -r -a f < <(sed 's/.*) //' "/proc/$postmaster/stat")
  echo $((t + f[13] + f[14]))
}
timing=$(mktemp)
p0=$(server_ticks)
out=$(cd "$dir" && { TIMEFORMAT='%U %S'; time "$@" 2>/dev/null | tail -n 1; } 2>"$timing")
p1=$(server_ticks)
read -r u s <"$timing"; rm -f "$timing"
LABEL="$label" OUT="$out" U="$u" S="$s" P="$((p1 - p0))" N="$N" node -e '
const e = process.env, r = JSON.parse(e.OUT), n = +e.N, hz = 100; // clock ticks per second (USER_HZ)
console.log(JSON.stringify({ label: e.LABEL, n, enqueue_jobs_s: r.enqueue_jobs_s, work_jobs_s: r.work_jobs_s,
  lat_p50_ms: r.lat_p50_ms, node_us_job: +(((+e.U + +e.S) * 1e6) / n).toFixed(1), pg_us_job: +((+e.P * 1e6) / hz / n).toFixed(1),
  load: require("fs").readFileSync("/proc/loadavg", "utf8").split(" ")[0] }));'
