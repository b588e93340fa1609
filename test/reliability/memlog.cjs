// Loaded into a jobctl process by a reliability test (NODE_OPTIONS=--require <this file>) to
// record what its memory is made of: every 250 ms one line "<ms since epoch> <rss> <heapTotal>
// <heapUsed> <external> <arrayBuffers>" (bytes, process.memoryUsage()) appended to the file in
// JOBCTL_TEST_MEMLOG. RSS alone cannot tell a heap that grew from buffers held outside it or
// from native memory (compiler zones, sockets): scenario 14 reads the line at the peak.
'use strict';
const { appendFileSync } = require('node:fs');

const file = process.env.JOBCTL_TEST_MEMLOG;
if (file) {
  setInterval(() => {
    const m = process.memoryUsage();
    try {
      appendFileSync(file, `${Date.now()} ${m.rss} ${m.heapTotal} ${m.heapUsed} ${m.external} ${m.arrayBuffers}\n`);
    } catch {
      // the test's directory is gone: nothing to record
    }
  }, 250).unref();
}
