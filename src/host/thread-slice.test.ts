import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';

import { requestThreadSlice } from './thread-slice.js';

test('a slice outside the kernel\'s 100 µs..100 ms is refused before any system call', () => {
  assert.throws(() => requestThreadSlice(50), RangeError);
  assert.throws(() => requestThreadSlice(100_001), RangeError);
  assert.throws(() => requestThreadSlice(1.5), RangeError);
});

test('the calling thread gets the slice it asks for, and only that thread', async (t) => {
  // In a worker, so the test runner's own thread keeps its slice.
  const code = `
    const { parentPort } = require('node:worker_threads');
    import(${JSON.stringify(new URL('./thread-slice.js', import.meta.url).href)}).then((m) => parentPort.postMessage({ first: m.requestThreadSlice(250) ?? null, second: m.requestThreadSlice(300) ?? null }));
  `;
  const got = await new Promise<{ first: number | null; second: number | null }>((resolve, reject) => {
    const w = new Worker(code, { eval: true });
    w.once('message', (m) => {
      resolve(m as { first: number | null; second: number | null });
      void w.terminate();
    });
    w.once('error', reject);
  });
  if (got.first === null) {
    t.skip('this kernel has no per-task slice (sched_setattr sched_runtime for SCHED_OTHER needs Linux 6.12+)');
    return;
  }
  assert.deepEqual(got, { first: 250, second: 300 });
});
