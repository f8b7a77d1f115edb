import assert from 'node:assert/strict';
import { test } from 'node:test';

import { FINAL_PAGES, MAX_TIGHT_PASSES, stopWithRemainder } from './outgoing.js';

/** Feed remainders as successive passes would leave them; returns how many short passes were sent before the stop. */
function passesBeforeStop(remainders: number[]): { passes: number; stoppedWith: number } {
  let passes = 0;
  let last = 0;
  for (const r of remainders) {
    if (stopWithRemainder(r, passes, last)) return { passes, stoppedWith: r };
    passes++;
    last = r;
  }
  throw new Error('never stopped');
}

test('a remainder of FINAL_PAGES pages or fewer goes into the downtime as it is', () => {
  assert.deepEqual(passesBeforeStop([FINAL_PAGES]), { passes: 0, stoppedWith: FINAL_PAGES });
  assert.deepEqual(passesBeforeStop([0]), { passes: 0, stoppedWith: 0 });
});

test('a larger remainder goes as short passes until it is small', () => {
  // A guest dirtying a page or two per millisecond: 874 → 23 → 3.
  assert.deepEqual(passesBeforeStop([874, 23, 3]), { passes: 2, stoppedWith: 3 });
  assert.deepEqual(passesBeforeStop([FINAL_PAGES + 1, 2]), { passes: 1, stoppedWith: 2 });
});

test('the passes stop when one does not halve the remainder (the guest dirties as fast as they send)', () => {
  assert.deepEqual(passesBeforeStop([874, 500]), { passes: 1, stoppedWith: 500 });
  assert.deepEqual(passesBeforeStop([100, 40, 30]), { passes: 2, stoppedWith: 30 });
});

test('at most MAX_TIGHT_PASSES short passes', () => {
  const halving = Array.from({ length: MAX_TIGHT_PASSES + 3 }, (_, i) => 4096 >> i);
  assert.deepEqual(passesBeforeStop(halving), { passes: MAX_TIGHT_PASSES, stoppedWith: halving[MAX_TIGHT_PASSES] });
});
