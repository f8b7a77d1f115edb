import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SCHED_IDLE, SCHED_OTHER, helperThreads, idleHelperThreads, setHelperThreads, threadPolicy } from './helper-threads.js';
import { native } from './native.js';
import { parkedThread, processThreadIds } from './testing/parked-thread.js';

test('the process\'s thread ids include the main thread\'s (the process id) and a worker\'s', async () => {
  const t = await parkedThread();
  try {
    const ids = processThreadIds();
    assert.ok(ids.includes(process.pid));
    assert.ok(ids.includes(t.tid));
  } finally {
    await t.stop();
  }
});

test('the main thread is never a helper, nor a thread that is gone or not ours', async () => {
  const a = await parkedThread();
  try {
    setHelperThreads([process.pid, 1, 2 ** 31 - 1, a.tid]);
    assert.deepEqual(helperThreads(), [a.tid]);
  } finally {
    setHelperThreads([]);
    await a.stop();
  }
});

test('with no helpers recorded nothing is changed', () => {
  setHelperThreads([]);
  assert.equal(idleHelperThreads(), undefined);
});

test('helpers wait in SCHED_IDLE until the restore, which puts back the policy they had, once', async (t) => {
  const a = await parkedThread();
  const b = await parkedThread();
  try {
    setHelperThreads([a.tid, b.tid]);
    const restore = idleHelperThreads();
    if (!restore) {
      t.skip('going back from SCHED_IDLE needs CAP_SYS_NICE (run as root): without it the helpers are left alone');
      return;
    }
    assert.deepEqual([threadPolicy(a.tid), threadPolicy(b.tid)], [SCHED_IDLE, SCHED_IDLE]);
    assert.equal(threadPolicy(process.pid), SCHED_OTHER, 'the event-loop thread is untouched');
    assert.equal(idleHelperThreads(), undefined, 'already idle: a second window changes nothing (and will not undo the first)');
    restore();
    assert.deepEqual([threadPolicy(a.tid), threadPolicy(b.tid)], [SCHED_OTHER, SCHED_OTHER]);
    native().setThreadPolicy(a.tid, SCHED_IDLE);
    restore();
    assert.equal(threadPolicy(a.tid), SCHED_IDLE, 'a second restore changes nothing');
    native().setThreadPolicy(a.tid, SCHED_OTHER);
  } finally {
    setHelperThreads([]);
    await a.stop();
    await b.stop();
  }
});

test('a helper that has exited meanwhile is skipped', async (t) => {
  const a = await parkedThread();
  const gone = await parkedThread();
  try {
    setHelperThreads([gone.tid, a.tid]);
    await gone.stop();
    const restore = idleHelperThreads();
    if (!restore) {
      t.skip('going back from SCHED_IDLE needs CAP_SYS_NICE (run as root)');
      return;
    }
    assert.equal(threadPolicy(a.tid), SCHED_IDLE);
    restore();
    assert.equal(threadPolicy(a.tid), SCHED_OTHER);
  } finally {
    setHelperThreads([]);
    await a.stop();
  }
});

test('the addon answers -1 for a thread that is not this process\'s, and refuses a realtime policy with a typed error', async () => {
  assert.equal(native().threadPolicy(1), -1);
  assert.equal(native().setThreadPolicy(1, SCHED_IDLE), -1, 'another process\'s thread is never changed');
  assert.equal(threadPolicy(1), undefined);
  const a = await parkedThread();
  try {
    assert.throws(() => native().setThreadPolicy(a.tid, 1 /* SCHED_FIFO */), (e: unknown) => (e as { code?: string }).code === 'ERR_HOST_OUT_OF_RANGE');
    assert.throws(() => native().setThreadPolicy(a.tid, 2.5), (e: unknown) => (e as { code?: string }).code === 'ERR_HOST_OUT_OF_RANGE');
    assert.equal(threadPolicy(a.tid), SCHED_OTHER, 'unchanged');
  } finally {
    await a.stop();
  }
});
