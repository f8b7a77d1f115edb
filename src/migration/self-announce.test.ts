/**
 * qemu_announce_self's rounds (self-announce.ts), against a NIC double that
 * records what it was asked: every round sends a RARP and asks the guest to
 * announce, except that a first RARP sent already (a destination sends it
 * right after SHUT) is not sent twice.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { VirtioNetDevice } from '../devices/net/index.js';
import { announceSelf } from './self-announce.js';

function nicDouble(calls: string[]): VirtioNetDevice {
  return {
    announceSelf: () => {
      calls.push('rarp+guest');
      return { rarp: true, guest: true };
    },
    guestAnnounce: () => {
      calls.push('guest');
      return true;
    },
  } as unknown as VirtioNetDevice;
}

const PARAMS = { initial: 1, max: 5, rounds: 3, step: 1 };

async function rounds(options?: { rarpSent?: boolean }): Promise<string[]> {
  const calls: string[] = [];
  const a = announceSelf(nicDouble(calls), PARAMS, options);
  assert.equal(a.sent, 1, 'the first round goes at once');
  while (a.sent < PARAMS.rounds) await new Promise((r) => setTimeout(r, 2));
  return calls;
}

test('each round sends a RARP and asks the guest to announce', async () => {
  assert.deepEqual(await rounds(), ['rarp+guest', 'rarp+guest', 'rarp+guest']);
});

test('with the first RARP already sent, the first round only asks the guest; the later rounds are whole', async () => {
  assert.deepEqual(await rounds({ rarpSent: true }), ['guest', 'rarp+guest', 'rarp+guest']);
});

test('stop() ends the rounds', async () => {
  const calls: string[] = [];
  const a = announceSelf(nicDouble(calls), { ...PARAMS, initial: 20 });
  a.stop();
  await new Promise((r) => setTimeout(r, 40));
  assert.deepEqual(calls, ['rarp+guest']);
});
