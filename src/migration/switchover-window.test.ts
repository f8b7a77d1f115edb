import assert from 'node:assert/strict';
import { getPriority, setPriority } from 'node:os';
import { test } from 'node:test';

import { SCHED_IDLE, SCHED_OTHER, setHelperThreads, threadPolicy } from '../host/index.js';
import { parkedThread } from '../host/testing/parked-thread.js';
import { SWITCHOVER_NICE, SWITCHOVER_WINDOW_MAX_MS, openSwitchoverWindow, raiseSwitchoverPriority } from './switchover-window.js';

test('the switchover raises this thread\'s priority, and the restore puts it back once', (t) => {
  const before = getPriority();
  const restore = raiseSwitchoverPriority();
  if (getPriority() === before) {
    restore();
    t.skip('lowering a nice value needs CAP_SYS_NICE (run as root): the switchover runs at the thread\'s own priority');
    return;
  }
  assert.equal(getPriority(), SWITCHOVER_NICE);
  restore();
  assert.equal(getPriority(), before);
  // A second restore must not touch a priority someone set since.
  const again = raiseSwitchoverPriority();
  again();
  setPriority(before + 3);
  again();
  assert.equal(getPriority(), before + 3);
  setPriority(before);
});

test('the window holds the VM\'s QMP events until it closes, once', () => {
  let held = 0;
  let released = 0;
  const close = openSwitchoverWindow({
    holdEvents: () => {
      held++;
      return () => void released++;
    },
  });
  assert.deepEqual([held, released], [1, 0]);
  close();
  close();
  assert.deepEqual([held, released], [1, 1]);
});

test('a window left open closes by itself after SWITCHOVER_WINDOW_MAX_MS: the events go out, the priority comes back', async () => {
  const before = getPriority();
  let released = 0;
  const close = openSwitchoverWindow({ holdEvents: () => () => void released++ });
  await new Promise((r) => setTimeout(r, SWITCHOVER_WINDOW_MAX_MS + 50));
  assert.equal(released, 1);
  assert.equal(getPriority(), before);
  close();
  assert.equal(released, 1, 'closing it later changes nothing');
});

test('a thread already above the switchover priority keeps its own', (t) => {
  const before = getPriority();
  try {
    setPriority(SWITCHOVER_NICE - 2);
  } catch {
    t.skip('lowering a nice value needs CAP_SYS_NICE (run as root)');
    return;
  }
  const restore = raiseSwitchoverPriority();
  assert.equal(getPriority(), SWITCHOVER_NICE - 2);
  restore();
  assert.equal(getPriority(), SWITCHOVER_NICE - 2);
  setPriority(before);
});

test('inside the window the helper threads wait in SCHED_IDLE; closing it puts them back', async (t) => {
  const helper = await parkedThread();
  try {
    setHelperThreads([helper.tid]);
    const close = openSwitchoverWindow({ holdEvents: () => () => undefined });
    const during = threadPolicy(helper.tid);
    close();
    if (during === SCHED_OTHER) {
      t.skip('going back from SCHED_IDLE needs CAP_SYS_NICE (run as root): without it the window leaves the helpers alone');
      return;
    }
    assert.equal(during, SCHED_IDLE);
    assert.equal(threadPolicy(helper.tid), SCHED_OTHER);
  } finally {
    setHelperThreads([]);
    await helper.stop();
  }
});
