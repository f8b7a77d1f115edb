/**
 * A hostile guest (DESIGN §10): random and malformed control commands,
 * descriptor tables full of garbage, avail indices from nowhere, random
 * register writes. The device must never throw out of a transport or backend
 * call; it answers VIRTIO_NET_ERR, or marks itself broken with
 * DEVICE_NEEDS_RESET, and works again after a reset.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';

import { NetHarness, concat, ethFrame, le32, withHeader } from '../../../test/support/virtio-net-harness.js';
import { VIRTIO_CONFIG_S_NEEDS_RESET, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from '../../virtio/index.js';
import { VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, VIRTIO_NET_ERR, VIRTIO_NET_OK } from './spec-constants.js';

function invariants(h: NetHarness): void {
  const n = h.device.net;
  assert.ok(n.inUse <= 64 && n.firstMulti <= n.inUse, `mac table ${n.firstMulti}/${n.inUse}`);
  assert.ok(n.currQueuePairs >= 1 && n.currQueuePairs <= h.device.maxQueuePairs);
  if (n.rss.enabled) {
    assert.equal(n.rss.table.length, n.rss.indirectionsLen);
    assert.equal(n.rss.indirectionsLen & (n.rss.indirectionsLen - 1), 0);
    assert.ok(n.rss.defaultQueue < h.device.maxQueuePairs);
  }
  h.device.queryRxFilter();
  h.device.saveState();
}

describe('hostile control commands', () => {
  test('random commands always get an ack byte and never break the device', () => {
    const h = new NetHarness({ loopback: { queuePairs: 4 }, properties: { mq: true, rss: true } });
    h.start();
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 6 }), fc.uint8Array({ maxLength: 96 }), (cls, cmd, data) => {
        const ack = h.ctrl(cls, cmd, data);
        assert.ok(ack === VIRTIO_NET_OK || ack === VIRTIO_NET_ERR, `ack ${ack}`);
        assert.equal(h.device.broken, false);
        invariants(h);
      }),
      { numRuns: 600 },
    );
  });

  test('MAC tables with hostile counts (including ones whose × 6 wraps in u32) are handled as QEMU does', () => {
    const h = new NetHarness();
    h.start();
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: 0, max: 80 }), fc.constantFrom(0x2aaaaaab, 0xffffffff, 0x80000000)), fc.integer({ min: 0, max: 80 }), fc.integer({ min: 0, max: 400 }), (uni, multi, bytes) => {
        const body = concat([le32(uni), new Uint8Array(Math.min(uni, 80) * 6), le32(multi), new Uint8Array(bytes)]);
        const ack = h.ctrl(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, body);
        assert.ok(ack === VIRTIO_NET_OK || ack === VIRTIO_NET_ERR);
        invariants(h);
      }),
      { numRuns: 300 },
    );
    // 0x2aaaaaab × 6 = 2 (mod 2^32): QEMU skips 2 bytes and calls it an overflowing unicast list.
    const quirk = concat([le32(0x2aaaaaab), Uint8Array.of(0, 0), le32(0)]);
    assert.equal(h.ctrl(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, quirk), VIRTIO_NET_OK);
    assert.equal(h.device.net.uniOverflow, 1);
  });
});

interface RawDesc {
  addr: number;
  len: number;
  flags: number;
  next: number;
}

const rawDesc = (ram: number) =>
  fc.record({
    addr: fc.oneof(fc.integer({ min: 0, max: ram + 4096 }), fc.constantFrom(0, ram - 16, 0xffffffff)),
    len: fc.oneof(fc.integer({ min: 0, max: 4096 }), fc.constantFrom(0, 1, 11, 12, 0xffffffff)),
    flags: fc.integer({ min: 0, max: 7 }),
    next: fc.integer({ min: 0, max: 300 }),
  });

describe('hostile rings', () => {
  test('garbage descriptors on any queue: no throw; either processed or DEVICE_NEEDS_RESET; a reset recovers', async () => {
    const h = new NetHarness({ loopback: { echo: true } });
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2 }),
        fc.array(rawDesc(h.memory.size), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 0, max: 0xffff }),
        async (queue, descs: RawDesc[], heads, availJump) => {
          h.start();
          h.postRx(0, 4);
          const d = h.driver(queue);
          descs.forEach((x, i) => d.writeDescriptor(i, x));
          heads.forEach((head, i) => d.setAvailRing(i, head));
          d.setAvailIdx(availJump % 3 === 0 ? availJump : heads.length);
          h.kick(queue);
          h.backend.inject(0, withHeader(ethFrame({ dst: '52:54:00:12:34:56' })));
          await h.settle(4);
          if (h.device.broken) assert.ok(h.status & VIRTIO_CONFIG_S_NEEDS_RESET);
          invariants(h);
        },
      ),
      { numRuns: 150 },
    );
    // After all that, a clean start works.
    h.start();
    h.postRx(0, 2);
    h.backend.inject(0, withHeader(ethFrame({ dst: '52:54:00:12:34:56' })));
    await h.settle();
    assert.equal(h.device.broken, false);
    assert.ok(h.received(0).length >= 1);
  });

  test('an avail idx more than a ring ahead breaks the device at once (rx, tx and ctrl)', async () => {
    for (const queue of [0, 1, 2]) {
      const h = new NetHarness();
      h.start();
      h.driver(queue).setAvailIdx(1000);
      h.kick(queue);
      if (queue === 0) h.backend.inject(0, withHeader(ethFrame({ dst: '52:54:00:12:34:56' })));
      await h.settle();
      assert.ok(h.device.broken, `queue ${queue}`);
      assert.equal(h.device.lastError?.code, 'ERR_VIRTIO_BAD_AVAIL_IDX');
      assert.ok(h.status & VIRTIO_CONFIG_S_NEEDS_RESET);
    }
  });

  test('receive chains without writable buffers, loops and nested indirect tables are guest errors, not crashes', async () => {
    const cases: [string, (h: NetHarness) => void][] = [
      ['read-only RX buffer', (h) => h.driver(0).add([{ gpa: h.driver(0).alloc(64), len: 64, writable: false }])],
      [
        'descriptor loop',
        (h) => {
          const d = h.driver(1);
          d.writeDescriptor(0, { addr: d.alloc(64), len: 64, flags: VIRTQ_DESC_F_NEXT, next: 1 });
          d.writeDescriptor(1, { addr: d.alloc(64), len: 64, flags: VIRTQ_DESC_F_NEXT, next: 0 });
          d.setAvailRing(0, 0);
          d.setAvailIdx(1);
        },
      ],
      [
        'nested indirect',
        (h) => {
          const d = h.driver(1);
          const table = d.alloc(32, 16);
          d.writeDescriptor(0, { addr: table, len: 16, flags: VIRTQ_DESC_F_INDIRECT, next: 0 }, table);
          d.writeDescriptor(0, { addr: table, len: 16, flags: VIRTQ_DESC_F_INDIRECT, next: 0 });
          d.setAvailRing(0, 0);
          d.setAvailIdx(1);
        },
      ],
      [
        'writable TX buffer only',
        (h) => {
          const d = h.driver(1);
          d.writeDescriptor(0, { addr: d.alloc(64), len: 64, flags: VIRTQ_DESC_F_WRITE, next: 0 });
          d.setAvailRing(0, 0);
          d.setAvailIdx(1);
        },
      ],
    ];
    for (const [name, poison] of cases) {
      const h = new NetHarness();
      h.start();
      poison(h);
      h.kick(0);
      h.kick(1);
      h.backend.inject(0, withHeader(ethFrame({ dst: '52:54:00:12:34:56' })));
      await h.settle();
      assert.ok(h.device.broken, name);
      assert.ok(h.status & VIRTIO_CONFIG_S_NEEDS_RESET, name);
      assert.deepEqual(h.device.inFlight().every((n) => n === 0), true, `${name}: nothing left half-processed`);
    }
  });
});

describe('hostile registers', () => {
  test('random MMIO reads and writes over the whole BAR never throw', async () => {
    const h = new NetHarness({ loopback: { queuePairs: 2 }, properties: { mq: true } });
    h.start();
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            addr: fc.oneof(fc.integer({ min: 0, max: 0x40 }), fc.integer({ min: 0x2000, max: 0x2020 }), fc.integer({ min: 0x3000, max: 0x3020 }), fc.integer({ min: 0, max: 0x12000 })),
            size: fc.constantFrom(1, 2, 4, 8),
            value: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
            write: fc.boolean(),
          }),
          { maxLength: 40 },
        ),
        (ops) => {
          for (const op of ops) {
            if (op.write) h.transport.write(op.addr, op.size, op.value & ((1n << BigInt(8 * op.size)) - 1n));
            else h.transport.read(op.addr, op.size);
          }
          invariants(h);
        },
      ),
      { numRuns: 300 },
    );
    await h.settle();
  });
});
