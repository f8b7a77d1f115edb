import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { addU16 } from '../core/index.js';
import { GuestMemory } from '../memory/index.js';
import {
  SplitQueue,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  VIRTQ_USED_F_NO_NOTIFY,
  VirtqueueError,
  splitQueueAreaSizes,
  type DescriptorChain,
  type RawSplitQueueState,
  type SplitQueueState,
  type VirtqueueErrorCode,
} from './index.js';
import { MockDriver, type MockBuffer } from './testing/mock-driver.js';

const KIB = 1024;

function setup(size = 16, eventIdx = false, ramBytes = 256 * KIB) {
  const mem = GuestMemory.createAnonymous(ramBytes);
  const driver = MockDriver.create(mem, size, eventIdx);
  const queue = new SplitQueue(mem, driver.config);
  return { mem, driver, queue };
}

/** A buffer in the driver's data area, readable ones filled with `fill`. */
function buffer(driver: MockDriver, len: number, writable = false, fill = 0): MockBuffer {
  const gpa = driver.alloc(len);
  if (!writable) driver.memory.fill(gpa, len, fill);
  return { gpa, len, writable };
}

function bufs(chain: DescriptorChain) {
  return { readable: chain.readable.map((b) => [b.gpa, b.len]), writable: chain.writable.map((b) => [b.gpa, b.len]) };
}

function throwsVirtq(fn: () => unknown, code: VirtqueueErrorCode): VirtqueueError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof VirtqueueError, `expected VirtqueueError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

/**
 * The pop fails with `code`, leaves the queue's state as it was, and fails
 * the same way again (no progress past the bad entry).
 */
function assertPopRejected(queue: SplitQueue, code: VirtqueueErrorCode): VirtqueueError {
  const before = queue.getState();
  const err = throwsVirtq(() => queue.popAvailable(), code);
  assert.deepEqual(queue.getState(), before, 'state unchanged after the error');
  throwsVirtq(() => queue.popAvailable(), code);
  assert.deepEqual(queue.getState(), before);
  return err;
}

describe('SplitQueue configuration', () => {
  it('virtio 1.2 §2.7: accepts a power-of-two size up to 32768 with aligned areas inside RAM', () => {
    for (const size of [1, 2, 256, 32768]) {
      const mem = GuestMemory.createAnonymous(1024 * KIB);
      const driver = MockDriver.create(mem, size, true);
      const queue = new SplitQueue(mem, driver.config);
      assert.equal(queue.size, size);
      assert.deepEqual(queue.getState(), { ...driver.config, lastAvailIdx: 0, usedIdx: 0 });
    }
  });

  for (const size of [0, 3, 6, 100, 65536, 32768 * 2, -1, 1.5, Number.NaN]) {
    it(`virtio 1.2 §2.7: rejects queue size ${size} (not a power of two in 1..32768)`, () => {
      const { mem, driver } = setup();
      const err = throwsVirtq(() => new SplitQueue(mem, { ...driver.config, size }), 'ERR_VIRTIO_BAD_QUEUE_CONFIG');
      assert.equal(err.details.field, 'size');
    });
  }

  const alignmentCases = [
    ['descAddr', 8n, 'descriptor table (align 16)'],
    ['availAddr', 0x3001n, 'available ring (align 2)'],
    ['usedAddr', 0x3002n, 'used ring (align 4)'],
  ] as const;
  for (const [field, addr, what] of alignmentCases) {
    it(`virtio 1.2 §2.7.1: rejects a misaligned ${what}`, () => {
      const { mem, driver } = setup();
      const err = throwsVirtq(() => new SplitQueue(mem, { ...driver.config, [field]: addr }), 'ERR_VIRTIO_BAD_QUEUE_CONFIG');
      assert.equal(err.details.field, field);
      assert.match(err.message, /aligned/);
    });
  }

  it('accepts each area ending exactly at the end of RAM and rejects it one alignment step later', () => {
    const size = 16;
    const ram = 64 * KIB;
    const sizes = splitQueueAreaSizes(size);
    const mem = GuestMemory.createAnonymous(ram);
    const base = { size, descAddr: 0n, availAddr: 0x1000n, usedAddr: 0x2000n, eventIdx: false };
    const fits = { descAddr: ram - sizes.desc, availAddr: ram - sizes.avail, usedAddr: ram - 8 * size - 8 };
    for (const [field, at] of Object.entries(fits)) {
      new SplitQueue(mem, { ...base, [field]: BigInt(at) });
    }
    throwsVirtq(() => new SplitQueue(mem, { ...base, descAddr: BigInt(ram - sizes.desc + 16) }), 'ERR_VIRTIO_BAD_QUEUE_CONFIG');
    throwsVirtq(() => new SplitQueue(mem, { ...base, availAddr: BigInt(ram - sizes.avail + 2) }), 'ERR_VIRTIO_BAD_QUEUE_CONFIG');
    throwsVirtq(() => new SplitQueue(mem, { ...base, usedAddr: BigInt(ram - 8 * size - 4) }), 'ERR_VIRTIO_BAD_QUEUE_CONFIG');
  });

  for (const addr of [2n ** 64n - 16n, 2n ** 32n, -16n, 2 ** 53, -16, 0.5 as number]) {
    it(`rejects a descriptor table at ${String(addr)} (outside RAM or not an address)`, () => {
      const { mem, driver } = setup();
      throwsVirtq(() => new SplitQueue(mem, { ...driver.config, descAddr: addr }), 'ERR_VIRTIO_BAD_QUEUE_CONFIG');
    });
  }
});

describe('SplitQueue state (migration)', () => {
  it('getState() → fromState() continues where the source left off', () => {
    const { mem, driver, queue } = setup(8, true);
    driver.startAt(0xfffe);
    queue.setState({ ...driver.config, lastAvailIdx: 0xfffe, usedIdx: 0xfffe });
    const heads = [0, 1, 2].map((i) => driver.add([buffer(driver, 10, false, i)]));
    assert.equal(queue.popAvailable()?.head, heads[0]);
    queue.addUsed(heads[0]!, 0);
    queue.publishUsed();
    const state = queue.getState();
    assert.deepEqual({ last: state.lastAvailIdx, used: state.usedIdx }, { last: 0xffff, used: 0xffff });

    const dest = SplitQueue.fromState(mem, state);
    assert.deepEqual(dest.getState(), state);
    assert.equal(dest.popAvailable()?.head, heads[1]);
    assert.equal(dest.popAvailable()?.head, heads[2]);
    assert.equal(dest.lastAvailIdx, 1);
    assert.equal(dest.popAvailable(), undefined);
  });

  const valid = (): SplitQueueState => ({ size: 16, descAddr: 0n, availAddr: 0x1000n, usedAddr: 0x2000n, eventIdx: true, lastAvailIdx: 7, usedIdx: 3 });
  const corruptions: [string, Partial<Record<keyof SplitQueueState, unknown>>, VirtqueueErrorCode][] = [
    ['size not a power of two', { size: 12 }, 'ERR_VIRTIO_BAD_QUEUE_CONFIG'],
    ['size above 32768', { size: 65536 }, 'ERR_VIRTIO_BAD_QUEUE_CONFIG'],
    ['size not a number', { size: '16' }, 'ERR_VIRTIO_BAD_QUEUE_CONFIG'],
    ['descriptor table not 16-aligned', { descAddr: 0x10008n }, 'ERR_VIRTIO_BAD_QUEUE_CONFIG'],
    ['available ring not 2-aligned', { availAddr: 0x1001n }, 'ERR_VIRTIO_BAD_QUEUE_CONFIG'],
    ['used ring not 4-aligned', { usedAddr: 0x2002n }, 'ERR_VIRTIO_BAD_QUEUE_CONFIG'],
    ['descriptor table outside RAM', { descAddr: BigInt(256 * KIB) }, 'ERR_VIRTIO_BAD_QUEUE_CONFIG'],
    ['available ring outside RAM', { availAddr: 2n ** 63n }, 'ERR_VIRTIO_BAD_QUEUE_CONFIG'],
    ['used ring crossing the end of RAM', { usedAddr: BigInt(256 * KIB - 64) }, 'ERR_VIRTIO_BAD_QUEUE_CONFIG'],
    ['address not an integer', { usedAddr: 'x' }, 'ERR_VIRTIO_BAD_QUEUE_CONFIG'],
    ['eventIdx not a boolean', { eventIdx: 1 }, 'ERR_VIRTIO_BAD_QUEUE_CONFIG'],
    ['lastAvailIdx above u16', { lastAvailIdx: 0x10000 }, 'ERR_VIRTIO_BAD_QUEUE_STATE'],
    ['lastAvailIdx not a number', { lastAvailIdx: 7n }, 'ERR_VIRTIO_BAD_QUEUE_STATE'],
    ['usedIdx negative', { usedIdx: -1 }, 'ERR_VIRTIO_BAD_QUEUE_STATE'],
    ['usedIdx not an integer', { usedIdx: 2.5 }, 'ERR_VIRTIO_BAD_QUEUE_STATE'],
    ['more chains in flight than the queue size', { lastAvailIdx: 20, usedIdx: 3 }, 'ERR_VIRTIO_BAD_QUEUE_STATE'],
    ['used idx ahead of last_avail_idx (in flight wraps past the size)', { lastAvailIdx: 3, usedIdx: 7 }, 'ERR_VIRTIO_BAD_QUEUE_STATE'],
  ];
  for (const [what, patch, code] of corruptions) {
    it(`setState() rejects ${what} with ${code} and keeps the old state`, () => {
      const mem = GuestMemory.createAnonymous(256 * KIB);
      const queue = SplitQueue.fromState(mem, valid());
      const before = queue.getState();
      throwsVirtq(() => queue.setState({ ...valid(), ...patch } as RawSplitQueueState), code);
      assert.deepEqual(queue.getState(), before);
      throwsVirtq(() => SplitQueue.fromState(mem, { ...valid(), ...patch } as RawSplitQueueState), code);
    });
  }

  it('accepts in-flight chains across the u16 wrap (usedIdx 0xfff8, lastAvailIdx 8 with size 16)', () => {
    const mem = GuestMemory.createAnonymous(256 * KIB);
    const queue = SplitQueue.fromState(mem, { ...valid(), lastAvailIdx: 8, usedIdx: 0xfff8 });
    assert.equal(queue.getState().lastAvailIdx, 8);
  });

  it('takeOver() reads the used index another party published and takes the next avail index given (default: the used index)', () => {
    const { mem, driver, queue } = setup();
    const other = new SplitQueue(mem, driver.config);
    for (let i = 0; i < 3; i++) {
      const head = driver.add([buffer(driver, 4)]);
      other.popAvailable();
      other.addUsed(head, 0);
    }
    other.publishUsed();
    driver.add([buffer(driver, 4)]);
    queue.takeOver(4);
    assert.deepEqual([queue.lastAvailIdx, queue.usedIdx], [4, 3]);
    queue.takeOver();
    assert.deepEqual([queue.lastAvailIdx, queue.usedIdx], [3, 3]);
    throwsVirtq(() => queue.takeOver(3 + 17), 'ERR_VIRTIO_BAD_QUEUE_STATE');
    assert.deepEqual([queue.lastAvailIdx, queue.usedIdx], [3, 3], 'unchanged after a refused take-over');
  });

  it('getState() refuses to describe a queue with unpublished used elements', () => {
    const { driver, queue } = setup();
    const head = driver.add([buffer(driver, 4)]);
    queue.popAvailable();
    queue.addUsed(head, 0);
    assert.throws(() => queue.getState(), /publishUsed/);
    queue.publishUsed();
    assert.equal(queue.getState().usedIdx, 1);
  });
});

describe('SplitQueue.popAvailable()', () => {
  it('virtio 1.2 §2.7.13: chains come out in the order the driver made them available, then undefined', () => {
    const { driver, queue } = setup();
    assert.equal(queue.popAvailable(), undefined);
    const heads = [1, 2, 3].map((n) => driver.add([buffer(driver, n, false, n)]));
    assert.equal(queue.availableCount(), 3);
    assert.deepEqual([queue.popAvailable()?.head, queue.popAvailable()?.head, queue.popAvailable()?.head], heads);
    assert.equal(queue.popAvailable(), undefined);
    assert.equal(queue.lastAvailIdx, 3);
  });

  it('virtio 1.2 §2.7.13.3: a chain is invisible until the driver publishes avail idx', () => {
    const { driver, queue } = setup();
    driver.addChain([buffer(driver, 8)]);
    assert.equal(queue.popAvailable(), undefined);
    driver.publish();
    assert.ok(queue.popAvailable());
  });

  it('virtio 1.2 §2.7.5: follows NEXT through arbitrary descriptor indices', () => {
    const { driver, queue } = setup();
    driver.writeDescriptor(5, { addr: 0x8000, len: 10, flags: VIRTQ_DESC_F_NEXT, next: 2 });
    driver.writeDescriptor(2, { addr: 0x8100, len: 20, flags: VIRTQ_DESC_F_NEXT, next: 9 });
    driver.writeDescriptor(9, { addr: 0x8200, len: 30, flags: VIRTQ_DESC_F_WRITE, next: 5 });
    driver.setAvailRing(0, 5);
    driver.setAvailIdx(1);
    const chain = queue.popAvailable()!;
    assert.equal(chain.head, 5);
    assert.deepEqual(bufs(chain), { readable: [[0x8000, 10], [0x8100, 20]], writable: [[0x8200, 30]] });
    assert.equal(chain.readableLength, 30);
    assert.equal(chain.writableLength, 30);
  });

  it('virtio 1.2 §2.7.4.2: splits device-readable buffers from the device-writable ones after them', () => {
    const { driver, queue } = setup();
    const r1 = buffer(driver, 3, false, 0xa1);
    const r2 = buffer(driver, 5, false, 0xa2);
    const w1 = buffer(driver, 4, true);
    const w2 = buffer(driver, 6, true);
    driver.add([r1, r2, w1, w2]);
    const chain = queue.popAvailable()!;
    assert.deepEqual(bufs(chain), { readable: [[r1.gpa, 3], [r2.gpa, 5]], writable: [[w1.gpa, 4], [w2.gpa, 6]] });
    assert.equal(chain.readableLength, 8);
    assert.equal(chain.writableLength, 10);
  });

  it('DescriptorChain copies readable bytes out and writes bytes across writable buffers, marking them dirty', () => {
    const { mem, driver, queue } = setup();
    const r1 = buffer(driver, 3, false, 1);
    const r2 = buffer(driver, 4, false, 2);
    const w1 = { gpa: 3 * 4096 * 10 - 2, len: 4, writable: true }; // straddles two pages
    const w2 = buffer(driver, 5, true);
    driver.add([r1, r2, w1, w2]);
    const chain = queue.popAvailable()!;
    assert.deepEqual([...chain.copyReadable()], [1, 1, 1, 2, 2, 2, 2]);
    const part = new Uint8Array(3);
    assert.equal(chain.copyReadableInto(part, 2), 3);
    assert.deepEqual([...part], [1, 2, 2]);
    assert.equal(chain.copyReadableInto(new Uint8Array(10), 5), 2);
    assert.equal(chain.copyReadableInto(new Uint8Array(10), 50), 0);
    assert.deepEqual(chain.readableViews().map((v) => v.length), [3, 4]);

    mem.dirty.fetchAndClear();
    assert.equal(chain.writeWritable(new Uint8Array([9, 8, 7, 6, 5, 4]), 1), 6);
    assert.deepEqual([...mem.slice(w1.gpa, 4)], [0, 9, 8, 7]);
    assert.deepEqual([...mem.slice(w2.gpa, 5)], [6, 5, 4, 0, 0]);
    const dirty = mem.dirty.fetchAndClear().toArray();
    for (const gpa of [w1.gpa + 1, w1.gpa + 3, w2.gpa]) assert.ok(dirty.includes(Math.floor(gpa / 4096)), `page of ${gpa} dirty`);
    assert.equal(chain.writeWritable(new Uint8Array(20)), 9, 'writes what fits and says how much');
  });

  it('virtio 1.2 §2.7.5.3.2: handles direct descriptors followed by one indirect descriptor', () => {
    const { driver, queue } = setup();
    const table = driver.alloc(48, 16);
    driver.writeDescriptor(0, { addr: 0x9000, len: 7, flags: VIRTQ_DESC_F_NEXT, next: 2 }, table);
    driver.writeDescriptor(2, { addr: 0x9100, len: 8, flags: VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, next: 1 }, table);
    driver.writeDescriptor(1, { addr: 0x9200, len: 9, flags: VIRTQ_DESC_F_WRITE, next: 0 }, table);
    driver.writeDescriptor(3, { addr: 0x8000, len: 5, flags: VIRTQ_DESC_F_NEXT, next: 4 });
    driver.writeDescriptor(4, { addr: table, len: 48, flags: VIRTQ_DESC_F_INDIRECT, next: 0 });
    driver.setAvailRing(0, 3);
    driver.setAvailIdx(1);
    const chain = queue.popAvailable()!;
    assert.equal(chain.head, 3);
    assert.deepEqual(bufs(chain), { readable: [[0x8000, 5], [0x9000, 7]], writable: [[0x9100, 8], [0x9200, 9]] });
  });

  it('virtio 1.2 §2.7.5.3.2: ignores the WRITE flag on the descriptor that refers to an indirect table', () => {
    const { driver, queue } = setup();
    const table = driver.alloc(16, 16);
    driver.writeDescriptor(0, { addr: 0x9000, len: 7, flags: 0, next: 0 }, table);
    driver.writeDescriptor(0, { addr: table, len: 16, flags: VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, next: 0 });
    driver.setAvailRing(0, 0);
    driver.setAvailIdx(1);
    assert.deepEqual(bufs(queue.popAvailable()!), { readable: [[0x9000, 7]], writable: [] });
  });

  it('virtio 1.2 §2.7.5.3: an indirect table can hold readable and writable buffers (driver-built)', () => {
    const { driver, queue } = setup(4);
    const b = [buffer(driver, 2, false, 5), buffer(driver, 3, false, 6), buffer(driver, 4, true), buffer(driver, 1, true)];
    const head = driver.add(b, { indirect: true });
    const chain = queue.popAvailable()!;
    assert.equal(chain.head, head);
    assert.deepEqual(bufs(chain), { readable: [[b[0]!.gpa, 2], [b[1]!.gpa, 3]], writable: [[b[2]!.gpa, 4], [b[3]!.gpa, 1]] });
    assert.deepEqual([...chain.copyReadable()], [5, 5, 6, 6, 6]);
  });

  it('accepts a chain of exactly queue-size descriptors and zero-length buffers', () => {
    const { driver, queue } = setup(4);
    driver.add([buffer(driver, 1), { gpa: 0x9000, len: 0, writable: false }, buffer(driver, 1, true), buffer(driver, 1, true)]);
    const chain = queue.popAvailable()!;
    assert.equal(chain.readable.length + chain.writable.length, 4);
  });

  it('accepts a buffer ending exactly at the end of RAM', () => {
    const { mem, driver, queue } = setup();
    driver.add([{ gpa: mem.size - 100, len: 100, writable: true }]);
    assert.deepEqual(bufs(queue.popAvailable()!).writable, [[mem.size - 100, 100]]);
  });

  it('avail and used ring indices wrap from 65535 to 0', () => {
    const { driver, queue } = setup(4, true);
    driver.startAt(0xfffd);
    queue.setState({ ...driver.config, lastAvailIdx: 0xfffd, usedIdx: 0xfffd });
    for (let round = 0; round < 3; round++) {
      const heads = [0, 1, 2].map((i) => driver.add([buffer(driver, 4, false, i)]));
      for (const h of heads) {
        const chain = queue.popAvailable()!;
        assert.equal(chain.head, h);
        queue.addUsed(chain.head, 4);
      }
      queue.publishUsed();
      assert.deepEqual(driver.popUsed(), heads.map((id) => ({ id, len: 4 })));
    }
    assert.equal(queue.lastAvailIdx, addU16(0xfffd, 9));
    assert.equal(driver.readUsedIdx(), addU16(0xfffd, 9));
  });

  it('undoPop() gives the last popped chain back', () => {
    const { driver, queue } = setup();
    const head = driver.add([buffer(driver, 4)]);
    assert.throws(() => queue.undoPop(), RangeError);
    assert.equal(queue.popAvailable()?.head, head);
    queue.undoPop();
    assert.equal(queue.popAvailable()?.head, head);
  });
});

describe('SplitQueue rejects a hostile guest and stays unchanged', () => {
  it('ERR_VIRTIO_BAD_AVAIL_IDX: avail idx more than the queue size ahead of last_avail_idx (a full ring is fine)', () => {
    const { driver, queue } = setup(8);
    for (let i = 0; i < 8; i++) {
      driver.writeDescriptor(i, { addr: 0x8000, len: 1, flags: 0, next: 0 });
      driver.setAvailRing(i, i);
    }
    driver.setAvailIdx(8);
    assert.equal(queue.availableCount(), 8);
    driver.setAvailIdx(9);
    const err = assertPopRejected(queue, 'ERR_VIRTIO_BAD_AVAIL_IDX');
    assert.deepEqual({ availIdx: err.details.availIdx, size: err.details.size }, { availIdx: 9, size: 8 });
    driver.setAvailIdx(0xffff); // "behind" last_avail_idx: 65535 ahead on the u16 circle
    assertPopRejected(queue, 'ERR_VIRTIO_BAD_AVAIL_IDX');
    throwsVirtq(() => queue.enableNotification(), 'ERR_VIRTIO_BAD_AVAIL_IDX');
  });

  it('ERR_VIRTIO_BAD_DESCRIPTOR_INDEX: a head index ≥ the queue size', () => {
    const { driver, queue } = setup(8);
    driver.setAvailRing(0, 8);
    driver.setAvailIdx(1);
    assert.equal(assertPopRejected(queue, 'ERR_VIRTIO_BAD_DESCRIPTOR_INDEX').details.index, 8);
  });

  it('ERR_VIRTIO_BAD_DESCRIPTOR_INDEX: a next index ≥ the queue size', () => {
    const { driver, queue } = setup(8);
    driver.writeDescriptor(0, { addr: 0x8000, len: 1, flags: VIRTQ_DESC_F_NEXT, next: 0xffff });
    driver.setAvailRing(0, 0);
    driver.setAvailIdx(1);
    assert.equal(assertPopRejected(queue, 'ERR_VIRTIO_BAD_DESCRIPTOR_INDEX').details.index, 0xffff);
  });

  const rangeCases: [string, bigint, number][] = [
    ['a buffer address outside RAM', BigInt(256 * KIB), 1],
    ['a length running past the end of RAM', BigInt(256 * KIB - 8), 16],
    ['addr + len wrapping around 2^64', 2n ** 64n - 16n, 32],
    ['an address with high bits set (2^32 + 0x8000)', 2n ** 32n + 0x8000n, 16],
    ['a u32-max length', 0x8000n, 0xffff_ffff],
  ];
  for (const [what, addr, len] of rangeCases) {
    it(`ERR_VIRTIO_BUFFER_OUT_OF_RANGE: ${what}`, () => {
      const { driver, queue } = setup(8);
      driver.writeDescriptor(0, { addr: 0x8000, len: 4, flags: VIRTQ_DESC_F_NEXT, next: 1 });
      driver.writeDescriptor(1, { addr, len, flags: VIRTQ_DESC_F_WRITE, next: 0 });
      driver.setAvailRing(0, 0);
      driver.setAvailIdx(1);
      const err = assertPopRejected(queue, 'ERR_VIRTIO_BUFFER_OUT_OF_RANGE');
      assert.equal(err.details.addr, `0x${addr.toString(16)}`);
      assert.equal(err.details.len, len);
    });
  }

  it('ERR_VIRTIO_CHAIN_TOO_LONG: a loop in the descriptor table', () => {
    const { driver, queue } = setup(8);
    driver.writeDescriptor(0, { addr: 0x8000, len: 1, flags: VIRTQ_DESC_F_NEXT, next: 1 });
    driver.writeDescriptor(1, { addr: 0x8000, len: 1, flags: VIRTQ_DESC_F_NEXT, next: 0 });
    driver.setAvailRing(0, 0);
    driver.setAvailIdx(1);
    assertPopRejected(queue, 'ERR_VIRTIO_CHAIN_TOO_LONG');
  });

  it('ERR_VIRTIO_CHAIN_TOO_LONG: a descriptor pointing at itself in a 32768-entry queue', () => {
    const { driver, queue } = setup(32768, false, 1024 * KIB);
    driver.writeDescriptor(7, { addr: 0x8000, len: 1, flags: VIRTQ_DESC_F_NEXT, next: 7 });
    driver.setAvailRing(0, 7);
    driver.setAvailIdx(1);
    assertPopRejected(queue, 'ERR_VIRTIO_CHAIN_TOO_LONG');
  });

  it('ERR_VIRTIO_CHAIN_TOO_LONG: direct plus indirect descriptors longer than the queue size (§2.7.5.3.1)', () => {
    const { driver, queue } = setup(4);
    const table = driver.alloc(48, 16);
    for (let i = 0; i < 3; i++) driver.writeDescriptor(i, { addr: 0x9000, len: 1, flags: i < 2 ? VIRTQ_DESC_F_NEXT : 0, next: i + 1 }, table);
    driver.writeDescriptor(0, { addr: 0x8000, len: 1, flags: VIRTQ_DESC_F_NEXT, next: 1 });
    driver.writeDescriptor(1, { addr: 0x8000, len: 1, flags: VIRTQ_DESC_F_NEXT, next: 2 });
    driver.writeDescriptor(2, { addr: table, len: 48, flags: VIRTQ_DESC_F_INDIRECT, next: 0 });
    driver.setAvailRing(0, 0);
    driver.setAvailIdx(1);
    assertPopRejected(queue, 'ERR_VIRTIO_CHAIN_TOO_LONG');
  });

  it('ERR_VIRTIO_CHAIN_TOO_LONG: a loop inside an indirect table', () => {
    const { driver, queue } = setup(8);
    const table = driver.alloc(32, 16);
    driver.writeDescriptor(0, { addr: 0x9000, len: 1, flags: VIRTQ_DESC_F_NEXT, next: 1 }, table);
    driver.writeDescriptor(1, { addr: 0x9000, len: 1, flags: VIRTQ_DESC_F_NEXT, next: 0 }, table);
    driver.writeDescriptor(0, { addr: table, len: 32, flags: VIRTQ_DESC_F_INDIRECT, next: 0 });
    driver.setAvailRing(0, 0);
    driver.setAvailIdx(1);
    assertPopRejected(queue, 'ERR_VIRTIO_CHAIN_TOO_LONG');
  });

  it('ERR_VIRTIO_CHAIN_TOO_LARGE: buffers adding up to more than 2^32 bytes (§2.7.5.2); exactly 2^32 is accepted', () => {
    const ram = 1024 * KIB;
    const mem = GuestMemory.createAnonymous(ram);
    const driver = MockDriver.create(mem, 8192, false);
    const queue = new SplitQueue(mem, driver.config);
    const count = 2 ** 32 / ram; // 4096 whole-RAM buffers = 2^32 bytes
    for (let i = 0; i <= count; i++) driver.writeDescriptor(i, { addr: 0, len: ram, flags: VIRTQ_DESC_F_NEXT, next: i + 1 });
    driver.writeDescriptor(count - 1, { addr: 0, len: ram, flags: 0, next: 0 });
    driver.setAvailRing(0, 0);
    driver.setAvailRing(1, 1);
    driver.setAvailIdx(1);
    assert.equal(queue.popAvailable()!.readableLength, 2 ** 32);
    driver.writeDescriptor(count - 1, { addr: 0, len: ram, flags: VIRTQ_DESC_F_NEXT, next: count });
    driver.writeDescriptor(count, { addr: 0, len: 1, flags: 0, next: 0 });
    driver.setAvailRing(1, 0);
    driver.setAvailIdx(2);
    assertPopRejected(queue, 'ERR_VIRTIO_CHAIN_TOO_LARGE');
  });

  it('ERR_VIRTIO_READABLE_AFTER_WRITABLE: a device-readable buffer after a device-writable one (§2.7.4.2)', () => {
    const { driver, queue } = setup(8);
    driver.writeDescriptor(0, { addr: 0x8000, len: 1, flags: VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, next: 1 });
    driver.writeDescriptor(1, { addr: 0x8000, len: 1, flags: 0, next: 0 });
    driver.setAvailRing(0, 0);
    driver.setAvailIdx(1);
    assertPopRejected(queue, 'ERR_VIRTIO_READABLE_AFTER_WRITABLE');
  });

  it('ERR_VIRTIO_READABLE_AFTER_WRITABLE: across the step from direct descriptors into an indirect table', () => {
    const { driver, queue } = setup(8);
    const table = driver.alloc(16, 16);
    driver.writeDescriptor(0, { addr: 0x9000, len: 1, flags: 0, next: 0 }, table);
    driver.writeDescriptor(0, { addr: 0x8000, len: 1, flags: VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, next: 1 });
    driver.writeDescriptor(1, { addr: table, len: 16, flags: VIRTQ_DESC_F_INDIRECT, next: 0 });
    driver.setAvailRing(0, 0);
    driver.setAvailIdx(1);
    assertPopRejected(queue, 'ERR_VIRTIO_READABLE_AFTER_WRITABLE');
  });

  it('ERR_VIRTIO_NESTED_INDIRECT: an indirect descriptor inside an indirect table (§2.7.5.3.1)', () => {
    const { driver, queue } = setup(8);
    const inner = driver.alloc(16, 16);
    const outer = driver.alloc(16, 16);
    driver.writeDescriptor(0, { addr: 0x9000, len: 1, flags: 0, next: 0 }, inner);
    driver.writeDescriptor(0, { addr: inner, len: 16, flags: VIRTQ_DESC_F_INDIRECT, next: 0 }, outer);
    driver.writeDescriptor(0, { addr: outer, len: 16, flags: VIRTQ_DESC_F_INDIRECT, next: 0 });
    driver.setAvailRing(0, 0);
    driver.setAvailIdx(1);
    assertPopRejected(queue, 'ERR_VIRTIO_NESTED_INDIRECT');
  });

  const indirectCases: [string, (table: number) => { addr: bigint | number; len: number; flags: number }][] = [
    ['an indirect table length that is not a multiple of 16', (t) => ({ addr: t, len: 24, flags: VIRTQ_DESC_F_INDIRECT })],
    ['an indirect table of length 0', (t) => ({ addr: t, len: 0, flags: VIRTQ_DESC_F_INDIRECT })],
    ['INDIRECT and NEXT in one descriptor (§2.7.5.3.1)', (t) => ({ addr: t, len: 16, flags: VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT })],
    ['an indirect table outside RAM', () => ({ addr: BigInt(256 * KIB - 16), len: 32, flags: VIRTQ_DESC_F_INDIRECT })],
    ['an indirect table at a wrapping 64-bit address', () => ({ addr: 2n ** 64n - 16n, len: 32, flags: VIRTQ_DESC_F_INDIRECT })],
  ];
  for (const [what, make] of indirectCases) {
    it(`ERR_VIRTIO_BAD_INDIRECT_TABLE: ${what}`, () => {
      const { driver, queue } = setup(8);
      const table = driver.alloc(32, 16);
      driver.writeDescriptor(0, { addr: 0x9000, len: 1, flags: 0, next: 0 }, table);
      driver.writeDescriptor(0, { ...make(table), next: 1 });
      driver.writeDescriptor(1, { addr: 0x9000, len: 1, flags: 0, next: 0 });
      driver.setAvailRing(0, 0);
      driver.setAvailIdx(1);
      assertPopRejected(queue, 'ERR_VIRTIO_BAD_INDIRECT_TABLE');
    });
  }

  it('ERR_VIRTIO_BAD_DESCRIPTOR_INDEX: a next index past the end of an indirect table', () => {
    const { driver, queue } = setup(8);
    const table = driver.alloc(32, 16);
    driver.writeDescriptor(0, { addr: 0x9000, len: 1, flags: VIRTQ_DESC_F_NEXT, next: 2 }, table);
    driver.writeDescriptor(0, { addr: table, len: 32, flags: VIRTQ_DESC_F_INDIRECT, next: 0 });
    driver.setAvailRing(0, 0);
    driver.setAvailIdx(1);
    const err = assertPopRejected(queue, 'ERR_VIRTIO_BAD_DESCRIPTOR_INDEX');
    assert.deepEqual({ index: err.details.index, entries: err.details.tableEntries, indirect: err.details.indirect }, { index: 2, entries: 2, indirect: true });
  });

  it('a bad chain blocks the queue but not earlier good chains, and writes nothing to the used ring', () => {
    const { mem, driver, queue } = setup(8);
    const good = driver.add([buffer(driver, 4)]);
    driver.writeDescriptor(7, { addr: 0x8000, len: 1, flags: VIRTQ_DESC_F_NEXT, next: 7 });
    driver.setAvailRing(1, 7);
    driver.setAvailIdx(2);
    assert.equal(queue.popAvailable()?.head, good);
    const usedBefore = mem.slice(driver.layout.usedAddr, splitQueueAreaSizes(8).used).slice();
    assertPopRejected(queue, 'ERR_VIRTIO_CHAIN_TOO_LONG');
    assert.deepEqual(mem.slice(driver.layout.usedAddr, splitQueueAreaSizes(8).used), usedBefore);
  });
});

describe('SplitQueue used ring and notifications', () => {
  it('virtio 1.2 §2.7.8.2: the device sets len before it moves used idx', () => {
    const { driver, queue } = setup();
    const a = driver.add([buffer(driver, 4, true)]);
    const b = driver.add([buffer(driver, 4, true)]);
    queue.popAvailable();
    queue.popAvailable();
    queue.addUsed(b, 3);
    assert.equal(driver.readUsedIdx(), 0, 'not visible before publishUsed');
    assert.deepEqual(driver.readUsedElem(0), { id: b, len: 3 }, 'element already written');
    queue.addUsed(a, 4);
    queue.publishUsed();
    assert.equal(driver.readUsedIdx(), 2);
    assert.deepEqual(driver.popUsed(), [{ id: b, len: 3 }, { id: a, len: 4 }]);
    queue.publishUsed();
    assert.equal(driver.readUsedIdx(), 2, 'publishing nothing moves nothing');
  });

  it('used ring writes (elements and idx) mark their pages dirty', () => {
    const { mem, driver, queue } = setup();
    const head = driver.add([buffer(driver, 4, true)]);
    queue.popAvailable();
    mem.dirty.fetchAndClear();
    queue.addUsed(head, 1);
    queue.publishUsed();
    assert.deepEqual(mem.dirty.fetchAndClear().toArray(), [Math.floor(driver.layout.usedAddr / 4096)]);
  });

  it('addUsed() refuses device bugs: a head outside the queue, a non-u32 length, more than a ring of unpublished elements', () => {
    const { queue } = setup(4);
    assert.throws(() => queue.addUsed(4, 0), RangeError);
    assert.throws(() => queue.addUsed(0, -1), RangeError);
    assert.throws(() => queue.addUsed(0, 2 ** 32), RangeError);
    for (let i = 0; i < 4; i++) queue.addUsed(i, 0);
    assert.throws(() => queue.addUsed(0, 0), RangeError);
  });

  it('virtio 1.2 §2.7.7.2: without EVENT_IDX the device must notify when avail flags is 0 and should not when it is 1', () => {
    const { driver, queue } = setup(8, false);
    const heads = [0, 1].map(() => driver.add([buffer(driver, 1)]));
    queue.popAvailable();
    queue.addUsed(heads[0]!, 0);
    queue.publishUsed();
    assert.equal(queue.needsNotification(), true);
    driver.setAvailFlags(1);
    queue.popAvailable();
    queue.addUsed(heads[1]!, 0);
    queue.publishUsed();
    assert.equal(queue.needsNotification(), false);
  });

  it('virtio 1.2 §2.7.7.2: with EVENT_IDX the device ignores the lower bit of avail flags', () => {
    const { driver, queue } = setup(8, true);
    driver.setAvailFlags(1);
    driver.setUsedEvent(0);
    const head = driver.add([buffer(driver, 1)]);
    queue.needsNotification(); // establishes the last signalled idx (0)
    queue.popAvailable();
    queue.addUsed(head, 0);
    queue.publishUsed();
    assert.equal(queue.needsNotification(), true, 'entry 0 = used_event was written: notify despite flags');
  });

  it('virtio 1.2 §2.7.7.2: with EVENT_IDX the device suppresses notification unless used_event is crossed', () => {
    // Every start index × batch size × used_event position near the window,
    // against the clause itself: notify iff one of the entries written in
    // this batch sits at index used_event.
    for (const start of [0, 5, 0xfffa, 0xffff]) {
      for (const batch of [1, 2, 3, 8]) {
        for (let rel = -3; rel <= 10; rel++) {
          const { driver, queue } = setup(8, true);
          driver.startAt(start);
          queue.setState({ ...driver.config, lastAvailIdx: start, usedIdx: start });
          assert.equal(queue.needsNotification(), true, 'first decision after a restore always notifies');
          const usedEvent = addU16(start, rel);
          driver.setUsedEvent(usedEvent);
          for (let i = 0; i < batch; i++) driver.add([buffer(driver, 1)]);
          for (let i = 0; i < batch; i++) queue.addUsed(queue.popAvailable()!.head, 0);
          queue.publishUsed();
          const written = Array.from({ length: batch }, (_, i) => addU16(start, i));
          assert.equal(queue.needsNotification(), written.includes(usedEvent), `start ${start} batch ${batch} used_event ${usedEvent}`);
          assert.equal(queue.needsNotification(), false, 'nothing new since the last decision');
        }
      }
    }
  });

  it('virtio 1.2 §2.7.10: with EVENT_IDX, enableNotification() sets avail_event to last_avail_idx and the driver notifies when crossing it', () => {
    const { driver, queue } = setup(8, true);
    driver.add([buffer(driver, 1)]);
    queue.popAvailable();
    assert.equal(queue.enableNotification(), false);
    assert.equal(driver.readAvailEvent(), 1);
    assert.equal(driver.readUsedFlags(), 0, '§2.7.10.2: used flags stay 0 with EVENT_IDX');
    assert.equal(driver.publish(), false, 'publishing nothing crosses nothing');
    driver.addChain([buffer(driver, 1)]);
    assert.equal(driver.publish(), true, 'entry 1 = avail_event');
    driver.addChain([buffer(driver, 1)]);
    assert.equal(driver.publish(), false, 'avail_event not moved: suppressed');
    queue.disableNotification();
    assert.equal(driver.readUsedFlags(), 0);
    queue.setAvailEvent(5);
    assert.equal(driver.readAvailEvent(), 5);
  });

  it('virtio 1.2 §2.7.10.2: without EVENT_IDX, disableNotification() sets VIRTQ_USED_F_NO_NOTIFY and enableNotification() clears it', () => {
    const { driver, queue } = setup(8, false);
    queue.disableNotification();
    assert.equal(driver.readUsedFlags(), VIRTQ_USED_F_NO_NOTIFY);
    driver.addChain([buffer(driver, 1)]);
    assert.equal(driver.publish(), false);
    assert.equal(queue.enableNotification(), true, 'a chain is already pending: keep polling');
    assert.equal(driver.readUsedFlags(), 0);
    driver.addChain([buffer(driver, 1)]);
    assert.equal(driver.publish(), true);
    assert.throws(() => queue.setAvailEvent(1), RangeError);
  });
});
