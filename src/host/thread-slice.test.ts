import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getPriority } from 'node:os';
import { Worker } from 'node:worker_threads';

import { requestThreadSlice, setThreadNice } from './thread-slice.js';

/**
 * Run `body` in a worker thread — a thread's slice and nice value are its own,
 * so the runner's thread is never touched — with this module as `m` and
 * node:os's getPriority in scope; resolves with what it passes to `done`.
 */
function inWorker<T>(body: string): Promise<T> {
  const code = `
    const { parentPort } = require('node:worker_threads');
    const { getPriority } = require('node:os');
    const done = (v) => parentPort.postMessage(v);
    import(${JSON.stringify(new URL('./thread-slice.js', import.meta.url).href)}).then((m) => { ${body} });
  `;
  return new Promise<T>((resolve, reject) => {
    const w = new Worker(code, { eval: true });
    w.once('message', (m) => {
      resolve(m as T);
      void w.terminate();
    });
    w.once('error', reject);
  });
}

test('a slice outside the kernel\'s 100 µs..100 ms is refused before any system call', () => {
  assert.throws(() => requestThreadSlice(50), RangeError);
  assert.throws(() => requestThreadSlice(100_001), RangeError);
  assert.throws(() => requestThreadSlice(1.5), RangeError);
});

test('the calling thread gets the slice it asks for, and only that thread', async (t) => {
  const got = await inWorker<{ first: number | null; second: number | null }>('done({ first: m.requestThreadSlice(250) ?? null, second: m.requestThreadSlice(300) ?? null });');
  if (got.first === null) {
    t.skip('this kernel has no per-task slice (sched_setattr sched_runtime for SCHED_OTHER needs Linux 6.12+)');
    return;
  }
  assert.deepEqual(got, { first: 250, second: 300 });
});

test('a nice value outside -20..19 is refused before any system call', () => {
  assert.throws(() => setThreadNice(-21), RangeError);
  assert.throws(() => setThreadNice(20), RangeError);
  assert.throws(() => setThreadNice(0.5), RangeError);
});

test('the calling thread gets the nice value it asks for, and the previous value back', async (t) => {
  const before = getPriority();
  const got = await inWorker<Record<string, number | null>>(`
    const first = m.setThreadNice(-5) ?? null;
    const during = getPriority();
    const second = m.setThreadNice(first ?? 0) ?? null;
    done({ first, during, second, after: getPriority() });
  `);
  if (got.first === null) {
    t.skip('lowering a nice value needs CAP_SYS_NICE (run as root)');
    return;
  }
  assert.equal(got.during, -5, 'the nice value in force');
  assert.equal(got.second, -5, 'the value it had, returned by the second call');
  assert.equal(got.after, got.first, 'put back');
  assert.equal(getPriority(), before, "the runner's own thread is untouched");
});

test('raiseThreadPriority only ever raises it, and returns the value to put back', async (t) => {
  const got = await inWorker<Record<string, number | null>>(`
    m.setThreadNice(5);
    const fromFive = m.raiseThreadPriority(-5) ?? null;
    const atMinusFive = getPriority();
    const again = m.raiseThreadPriority(0) ?? null;
    done({ fromFive, atMinusFive, again, stays: getPriority() });
  `);
  if (got.fromFive === null) {
    t.skip('lowering a nice value needs CAP_SYS_NICE (run as root)');
    return;
  }
  assert.deepEqual(got, { fromFive: 5, atMinusFive: -5, again: null, stays: -5 });
});
