/**
 * The scratch guest a waiting vCPU thread runs (warm-up.ts): it boots the
 * real kernel against the scratch NIC and answers the probes it is fed —
 * so the code the real guest will run has run — and it stops when told.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { warmUp } from './kernel.js';

test('the scratch guest boots, brings its NIC up and answers every UDP probe and ARP request it is fed', () => {
  const rounds = 64;
  const sent = warmUp({ rounds, stop: () => false });
  // One echo per round, plus an ARP reply every 16 rounds.
  assert.equal(sent, rounds + rounds / 16);
});

test('it stops as soon as stop() says so, before booting when asked at once', () => {
  let asked = 0;
  assert.equal(warmUp({ rounds: 1000, stop: () => ++asked > 5 }), 5, 'four rounds ran (the first check is before the boot): four echoes and round 0\'s ARP reply');
  assert.equal(warmUp({ rounds: 1000, stop: () => true }), 0);
});
