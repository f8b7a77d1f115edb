/**
 * The TAP backend: QEMU's offload mapping as a pure function, then a real
 * multi-queue TAP moved into a network namespace this file creates
 * (vmig-b-<random>), where the kernel answers an ARP request the "device"
 * sends through the backend — send via writev from two pieces, the reply
 * read back through rxReady/receive. Skipped without root or /dev/net/tun.
 */

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';

import { tapUnavailableReason } from '../../../test/support/host-testing.js';
import { TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_TSO_ECN, TUN_F_UFO } from '../../host/index.js';
import type { NetBackendClient } from '../net-backend.js';
import { NET_BUFSIZE, VNET_HDR_LEN } from '../net-backend.js';
import { TapBackend, tunOffloadFlags } from './tap-backend.js';

describe('tunOffloadFlags (QEMU tap_fd_set_offload)', () => {
  const off = { csum: false, tso4: false, tso6: false, ecn: false, ufo: false };
  it('maps guest offloads to TUN_F_* with CSUM as the precondition of everything', () => {
    assert.equal(tunOffloadFlags(off), 0);
    assert.equal(tunOffloadFlags({ ...off, tso4: true, ufo: true }), 0, 'nothing without csum');
    assert.equal(tunOffloadFlags({ ...off, csum: true }), TUN_F_CSUM);
    assert.equal(tunOffloadFlags({ csum: true, tso4: true, tso6: true, ecn: true, ufo: true }), TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_UFO);
    assert.equal(tunOffloadFlags({ ...off, csum: true, ecn: true }), TUN_F_CSUM, 'ECN only with TSO');
  });
});

const HOST_MAC = [0x02, 0x76, 0x6d, 0x00, 0x01, 0x01];
const GUEST_MAC = [0x02, 0x76, 0x6d, 0x00, 0x01, 0x02];

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function arpRequest(senderIp: number[], targetIp: number[]): Uint8Array {
  return Uint8Array.from([
    ...[0xff, 0xff, 0xff, 0xff, 0xff, 0xff], ...GUEST_MAC, 0x08, 0x06,
    0, 1, 8, 0, 6, 4, 0, 1, ...GUEST_MAC, ...senderIp, 0, 0, 0, 0, 0, 0, ...targetIp,
    ...new Array(18).fill(0),
  ]);
}

describe('TapBackend on a real TAP in a network namespace', () => {
  const unavailable = tapUnavailableReason();
  const skipped = (t: TestContext): boolean => {
    if (unavailable !== undefined) t.skip(unavailable);
    return unavailable !== undefined;
  };
  const ns = `vmig-b-${randomBytes(4).toString('hex')}`;
  const subnet = [10, 150 + randomInt(50), 1 + randomInt(250)];
  let nsCreated = false;
  let backend: TapBackend | undefined;

  before(() => {
    if (unavailable !== undefined) return;
    backend = TapBackend.open({ ifname: `vmigb${randomBytes(3).toString('hex')}`, queues: 2 });
    ip('netns', 'add', ns);
    nsCreated = true;
    const name = backend.device.ifname;
    ip('link', 'set', name, 'netns', ns);
    ip('-n', ns, 'link', 'set', name, 'address', HOST_MAC.map((b) => b.toString(16).padStart(2, '0')).join(':'));
    ip('-n', ns, 'addr', 'add', `${subnet.join('.')}.1/24`, 'dev', name);
    ip('-n', ns, 'link', 'set', name, 'up');
  });

  after(() => {
    try {
      backend?.close();
    } finally {
      if (nsCreated) ip('netns', 'del', ns);
    }
  });

  it('runs with 12-byte vnet headers and probes UFO without leaving offloads on', (t) => {
    if (skipped(t)) return;
    assert.ok(backend);
    assert.equal(backend.queuePairs, 2);
    assert.equal(backend.hasVnetHdr, true);
    assert.equal(backend.device.vnetHdrSize, VNET_HDR_LEN);
    assert.equal(typeof backend.hasUfo, 'boolean');
  });

  it('sends a frame from pieces (writev) and delivers the kernel\'s reply through rxReady/receive', { timeout: 10_000 }, async (t) => {
    if (skipped(t)) return;
    const b = backend!;
    const replies: { queue: number; frame: Uint8Array }[] = [];
    const errors: unknown[] = [];
    const buf = new Uint8Array(NET_BUFSIZE);
    let done: () => void = () => {};
    const got = new Promise<void>((resolve) => (done = resolve));
    const client: NetBackendClient = {
      rxReady(queue) {
        for (let n = b.receive(queue, buf); n >= 0; n = b.receive(queue, buf)) {
          const frame = buf.slice(VNET_HDR_LEN, n);
          if (frame[12] === 0x08 && frame[13] === 0x06 && frame[21] === 2) {
            replies.push({ queue, frame });
            done();
          }
        }
      },
      txReady() {},
      backendError: (_q, e) => errors.push(e),
    };
    b.attach(client);
    b.resume(0);
    b.resume(1);
    b.setOffloads({ csum: true, tso4: true, tso6: true, ecn: true, ufo: false });
    b.setQueueEnabled(1, false);
    b.setQueueEnabled(1, true);
    b.resume(1);
    // Header and frame as two pieces, the way a device hands over guest buffers.
    const frame = arpRequest([...subnet, 2], [...subnet, 1]);
    const timer = setInterval(() => assert.equal(b.send(0, [new Uint8Array(VNET_HDR_LEN), frame]), true), 200);
    try {
      assert.equal(b.send(0, [new Uint8Array(VNET_HDR_LEN), frame]), true);
      await got;
    } finally {
      clearInterval(timer);
    }
    assert.deepEqual(errors, []);
    const reply = replies[0]!.frame;
    assert.deepEqual([...reply.subarray(0, 6)], GUEST_MAC, 'to the guest');
    assert.deepEqual([...reply.subarray(28, 32)], [...subnet, 1], 'the host IP answers');
    b.pause(0);
    b.pause(1);
  });

  it('drops (and counts) frames sent while the link is down', (t) => {
    if (skipped(t)) return;
    const b = backend!;
    const before = b.stats.txDropped[0]!;
    b.setLinkUp(false);
    assert.equal(b.send(0, [new Uint8Array(VNET_HDR_LEN + 60)]), true);
    assert.equal(b.stats.txDropped[0], before + 1);
    b.setLinkUp(true);
  });
});
