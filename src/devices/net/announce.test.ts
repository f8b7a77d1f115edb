/** RARP bytes, QEMU's round spacing, and an announce timer that stops with the VM. */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { AnnounceTimer, DEFAULT_ANNOUNCE_PARAMS, announceStepDelay, buildRarpFrame } from './announce.js';
import type { TimerHost } from './announce.js';

function fakeTimers(): TimerHost & { pending: { fn: () => void; ms: number }[]; run(): void } {
  const pending: { fn: () => void; ms: number }[] = [];
  return {
    pending,
    setTimeout: (fn, ms) => {
      const t = { fn, ms };
      pending.push(t);
      return t;
    },
    clearTimeout: (h) => {
      const i = pending.indexOf(h as { fn: () => void; ms: number });
      if (i >= 0) pending.splice(i, 1);
    },
    run() {
      const t = pending.shift();
      t?.fn();
    },
  };
}

describe('announce', () => {
  test('the RARP is QEMU\'s announce_self_create: 60 bytes, broadcast, 0x8035, op 3, MAC as sender and target', () => {
    const mac = Uint8Array.of(0x52, 0x54, 0, 1, 2, 3);
    const f = buildRarpFrame(mac);
    const expected = new Uint8Array(60);
    expected.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0, 1, 2, 3, 0x80, 0x35, 0, 1, 8, 0, 6, 4, 0, 3, 0x52, 0x54, 0, 1, 2, 3, 0, 0, 0, 0, 0x52, 0x54, 0, 1, 2, 3]);
    assert.deepEqual(f, expected);
  });

  test('round spacing: initial + (rounds − round − 1) × step, capped at max', () => {
    const p = DEFAULT_ANNOUNCE_PARAMS;
    // QEMU steps after a round fired, so `round` is what remains: 4, 3, 2, 1.
    assert.deepEqual([4, 3, 2, 1].map((r) => announceStepDelay(p, r)), [50, 150, 250, 350]);
    assert.equal(announceStepDelay({ ...p, max: 200 }, 1), 200);
  });

  test('a paused timer keeps its armed round until resume', () => {
    const timers = fakeTimers();
    let fired = 0;
    const t = new AnnounceTimer(() => fired++, timers);
    t.reset({ ...DEFAULT_ANNOUNCE_PARAMS, rounds: 2 });
    t.pause();
    t.arm(0);
    assert.equal(timers.pending.length, 0);
    assert.ok(t.armed);
    t.resume();
    timers.run();
    assert.equal(fired, 1);
    t.round = 1;
    t.step();
    assert.equal(timers.pending[0]!.ms, 50);
    t.stop();
    assert.equal(timers.pending.length, 0);
    assert.equal(t.round, 0);
  });
});
