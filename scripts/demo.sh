#!/bin/sh
# The quickstart: a real job queue on the embedded SQLite file ./.jobctl/jobs.db — no server.
# Triggers a few jobs, runs a worker until the queues are drained, then shows stats and failures.
set -e
cd "$(dirname "$0")/.."
jobctl() { node bin/run.js "$@"; }

jobctl trigger send-email --payload '{"to":"ada@example.com"}'
for i in 1 2 3 4 5; do jobctl trigger resize-image --queue media --payload "{\"n\":$i}" >/dev/null; done
jobctl trigger flaky --max-attempts 1 --payload '{"why":"demo of a failure"}' >/dev/null
echo "--- working (exec: a shell command per job, payload on stdin) ---"
jobctl work --queue default,media --concurrency 4 --drain \
  --exec 'read -r p; echo "$JOBCTL_JOB_NAME #$JOBCTL_JOB_ID got $p"; [ "$JOBCTL_JOB_NAME" != flaky ] || { echo "simulated failure" >&2; exit 1; }' || true
echo "--- jobctl stats ---"
jobctl stats
echo "--- jobctl failed ---"
jobctl failed
echo "--- jobctl logs --tail 12 (job output and worker events, from the backend) ---"
jobctl logs --tail 12
