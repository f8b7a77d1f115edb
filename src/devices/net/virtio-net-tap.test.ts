/**
 * The device on a real TAP (TapBackend) in a network namespace this file
 * creates: the guest's ARP request leaves through the device and the TAP,
 * the kernel's reply comes back into a guest RX buffer. Across quiesce the
 * guest's TX waits (tx_waiting) and goes out after unquiesce. Skipped
 * without root or /dev/net/tun.
 */

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';

import { tapUnavailableReason } from '../../../test/support/host-testing.js';
import { NetHarness, withHeader } from '../../../test/support/virtio-net-harness.js';
import type { ReceivedFrame } from '../../../test/support/virtio-net-harness.js';
import { TapBackend } from '../../backends/index.js';

const GUEST_MAC = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function arpRequest(senderIp: number[], targetIp: number[]): Uint8Array {
  return Uint8Array.from([...new Array(6).fill(0xff), ...GUEST_MAC, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1, ...GUEST_MAC, ...senderIp, 0, 0, 0, 0, 0, 0, ...targetIp, ...new Array(18).fill(0)]);
}

const isArpReply = (r: ReceivedFrame) => r.frame[12] === 0x08 && r.frame[13] === 0x06 && r.frame[21] === 2;

async function waitFor<T>(what: string, poll: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = poll();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('VirtioNetDevice over a real TAP', () => {
  const unavailable = tapUnavailableReason();
  const skipped = (t: TestContext): boolean => {
    if (unavailable !== undefined) t.skip(unavailable);
    return unavailable !== undefined;
  };
  const ns = `vmig-n-${randomBytes(4).toString('hex')}`;
  const subnet = [10, 200 + randomInt(50), 1 + randomInt(250)];
  let nsCreated = false;
  let h: NetHarness<TapBackend> | undefined;

  before(() => {
    if (unavailable !== undefined) return;
    const tap = TapBackend.open({ ifname: `vmign${randomBytes(3).toString('hex')}` });
    h = new NetHarness({ backend: tap });
    ip('netns', 'add', ns);
    nsCreated = true;
    ip('link', 'set', tap.device.ifname, 'netns', ns);
    ip('-n', ns, 'addr', 'add', `${subnet.join('.')}.1/24`, 'dev', tap.device.ifname);
    ip('-n', ns, 'link', 'set', tap.device.ifname, 'up');
  });

  after(() => {
    try {
      h?.device.close();
      h?.backend.close();
    } finally {
      if (nsCreated) ip('netns', 'del', ns);
    }
  });

  it('the guest\'s ARP request reaches the kernel and the reply lands in a guest RX buffer', { timeout: 15_000 }, async (t) => {
    if (skipped(t)) return;
    const g = h!;
    g.start();
    g.postRx(0, 64);
    const request = withHeader(arpRequest([...subnet, 2], [...subnet, 1]));
    const got: ReceivedFrame[] = [];
    const reply = await waitFor('the ARP reply', () => {
      if (g.backend.stats.txDropped[0] === 0 && got.length === 0 && g.device.stats[0]!.txPackets < 20) g.addTx(0, request);
      got.push(...g.received(0));
      return got.find(isArpReply);
    });
    assert.deepEqual([...reply.frame.subarray(0, 6)], GUEST_MAC);
    assert.deepEqual([...reply.frame.subarray(28, 32)], [...subnet, 1]);
    assert.deepEqual(g.errors, []);

    // Stop-and-copy: the guest's next request is parked, then sent after unquiesce.
    await g.settle(); // earlier requests finish first
    g.device.quiesce();
    g.received(0);
    const sentBefore = g.device.stats[0]!.txPackets;
    g.addTx(0, request);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(g.device.stats[0]!.txPackets, sentBefore, 'nothing leaves a quiesced device');
    assert.deepEqual(g.device.inFlight().every((n) => n === 0), true);
    g.device.unquiesce();
    const again = await waitFor('the reply after unquiesce', () => g.received(0).find(isArpReply));
    assert.ok(again);
    assert.equal(g.device.stats[0]!.txPackets, sentBefore + 1);
  });
});
