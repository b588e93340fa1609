// Loaded into a jobctl process by a reliability test (NODE_OPTIONS=--require <this file>) to
// record what its memory is made of: every 250 ms one line "<ms since epoch> <rss> <heapTotal>
// <heapUsed> <external> <arrayBuffers>" (bytes, process.memoryUsage()) appended to the file in
// JOBCTL_TEST_MEMLOG. RSS alone cannot tell a heap that grew from buffers held outside it or
// from native memory (compiler zones, sockets): scenario 14 reads the line at the peak.
// JOBCTL_TEST_HEAPSITES=<file> also runs V8's sampling heap profiler (one sample per 128 KB), and
// the first time the heap's used size passes JOBCTL_TEST_HEAPSITES_MB (default 150) writes the
// allocation sites of what is alive then (JSON: bytes per site, with its three innermost frames):
// what a spike is made of, from the process that had it. Then it runs one full garbage collection
// and adds the heap's used size after it: a heap that was mostly garbage drops, a live one stays.
'use strict';
const { appendFileSync, writeFileSync } = require('node:fs');

const file = process.env.JOBCTL_TEST_MEMLOG;
const sitesFile = process.env.JOBCTL_TEST_HEAPSITES;
const sitesAtMb = Number(process.env.JOBCTL_TEST_HEAPSITES_MB || 150);

let session = null;
let sitesWritten = false;
if (sitesFile) {
  const { Session } = require('node:inspector');
  session = new Session();
  session.connect();
  session.post('HeapProfiler.startSampling', { samplingInterval: 128 * 1024 });
}

/** The live sampled allocations by site (innermost three frames), biggest first. */
function writeSites(m) {
  sitesWritten = true;
  session.post('HeapProfiler.getSamplingProfile', (err, res) => {
    if (err) return;
    const sites = new Map();
    const walk = (node, stack) => {
      const f = node.callFrame;
      const here = [`${f.functionName || '(anon)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`, ...stack].slice(
        0,
        3,
      );
      if (node.selfSize > 0) {
        const k = here.join(' < ');
        sites.set(k, (sites.get(k) || 0) + node.selfSize);
      }
      for (const c of node.children) walk(c, here);
    };
    walk(res.profile.head, []);
    const top = [...sites].sort((a, b) => b[1] - a[1]).slice(0, 40);
    const sampled = [...sites.values()].reduce((a, b) => a + b, 0);
    require('node:v8').setFlagsFromString('--expose-gc');
    const gc = require('node:vm').runInNewContext('gc');
    const t0 = Date.now();
    gc();
    const after = process.memoryUsage();
    try {
      writeFileSync(
        sitesFile,
        JSON.stringify(
          {
            at: Date.now(),
            heapUsed: m.heapUsed,
            arrayBuffers: m.arrayBuffers,
            sampledLive: sampled,
            heapUsedAfterFullGc: after.heapUsed,
            arrayBuffersAfterFullGc: after.arrayBuffers,
            fullGcMs: Date.now() - t0,
            sites: top,
          },
          null,
          1,
        ),
      );
    } catch {
      // the test's directory is gone
    }
  });
}

if (file) {
  setInterval(() => {
    const m = process.memoryUsage();
    try {
      appendFileSync(file, `${Date.now()} ${m.rss} ${m.heapTotal} ${m.heapUsed} ${m.external} ${m.arrayBuffers}\n`);
    } catch {
      // the test's directory is gone: nothing to record
    }
    if (session !== null && !sitesWritten && m.heapUsed > sitesAtMb * 1048576) writeSites(m);
  }, 250).unref();
}
