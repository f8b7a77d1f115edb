import assert from 'node:assert/strict';
import { getPriority } from 'node:os';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';

import { lowerThreadPriority } from './thread-priority.js';

test('lowerThreadPriority changes the calling thread only (Linux: nice is per thread)', async () => {
  const before = getPriority(0);
  const url = new URL('./thread-priority.js', import.meta.url).href;
  const niceInWorker = await new Promise<number>((resolve, reject) => {
    const w = new Worker(`import('${url}').then((m) => { m.lowerThreadPriority(7); require('node:worker_threads').parentPort.postMessage(require('node:os').getPriority(0)); })`, { eval: true });
    w.once('message', (n: number) => resolve(n)).once('error', reject);
  });
  // A test run already above nice 7 may not lower it again without privileges.
  assert.ok(niceInWorker === 7 || (before > 7 && niceInWorker === before), `worker nice ${niceInWorker}, main ${before}`);
  assert.equal(getPriority(0), before, 'the main thread keeps its priority');
});

test('nice values outside 0..19 are refused', () => {
  assert.throws(() => lowerThreadPriority(20), RangeError);
  assert.throws(() => lowerThreadPriority(-1), RangeError);
});
