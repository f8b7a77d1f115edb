import assert from 'node:assert/strict';
import { getPriority, setPriority } from 'node:os';
import { test } from 'node:test';

import { SWITCHOVER_NICE, openSwitchoverWindow, raiseSwitchoverPriority } from './switchover-window.js';

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
