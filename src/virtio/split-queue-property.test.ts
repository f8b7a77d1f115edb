/**
 * Property tests of SplitQueue: (1) random driver/device interleavings over a
 * random queue size against a plain model of the spec (FIFO order, used ring
 * contents, both directions' notification decisions); (2) a hostile guest:
 * random descriptor tables and avail rings must yield valid chains or a
 * VirtqueueError, never another exception and never a hang; (3) random
 * restored states: a working queue or a VirtqueueError.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { addU16, distanceU16 } from '../core/index.js';
import { GuestMemory } from '../memory/index.js';
import { SplitQueue, VirtqueueError, type RawSplitQueueState } from './index.js';
import { MockDriver, type MockBuffer } from './testing/mock-driver.js';

/** True when one of the indices old, old+1, …, new-1 (u16) equals `event`: the spec's wording of vring_need_event. */
function crossed(event: number, newIdx: number, oldIdx: number): boolean {
  for (let i = 0; i < distanceU16(oldIdx, newIdx); i++) if (addU16(oldIdx, i) === event) return true;
  return false;
}

type Op =
  | { t: 'add'; readable: number[]; writable: number[]; indirect: boolean; fill: number }
  | { t: 'publish' }
  | { t: 'pop' }
  | { t: 'use'; pick: number; len: number }
  | { t: 'publishUsed' }
  | { t: 'reap' }
  | { t: 'usedEvent'; delta: number }
  | { t: 'availFlags'; noInterrupt: boolean }
  | { t: 'enable' }
  | { t: 'disable' };

const lens = (max: number) => fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: max });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('add' as const), readable: lens(3), writable: lens(3), indirect: fc.boolean(), fill: fc.integer({ min: 0, max: 255 }) }) },
  { weight: 3, arbitrary: fc.constant({ t: 'publish' as const }) },
  { weight: 4, arbitrary: fc.constant({ t: 'pop' as const }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('use' as const), pick: fc.nat(), len: fc.integer({ min: 0, max: 200 }) }) },
  { weight: 2, arbitrary: fc.constant({ t: 'publishUsed' as const }) },
  { weight: 2, arbitrary: fc.constant({ t: 'reap' as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('usedEvent' as const), delta: fc.integer({ min: -3, max: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('availFlags' as const), noInterrupt: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ t: 'enable' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'disable' as const }) },
);

const u16Start = fc.oneof(fc.constant(0), fc.integer({ min: 0xfff0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }));

interface ModelChain {
  head: number;
  readable: [number, number][];
  writable: [number, number][];
  bytes: number[];
}

describe('SplitQueue against a model (driver/device interleavings)', () => {
  it('property: FIFO order, used ring contents and notification decisions match the model', () => {
    fc.assert(
      fc.property(fc.constantFrom(1, 2, 4, 8, 16, 64, 256), fc.boolean(), u16Start, fc.array(opArb, { maxLength: 120 }), (size, eventIdx, start, ops) => {
        const mem = GuestMemory.createAnonymous(1024 * 1024);
        const driver = MockDriver.create(mem, size, eventIdx);
        driver.startAt(start);
        const queue = SplitQueue.fromState(mem, { ...driver.config, lastAvailIdx: start, usedIdx: start });

        // The model: plain arrays and numbers, the spec's rules spelled out.
        const unpublished: ModelChain[] = [];
        const available: ModelChain[] = [];
        const inFlight: ModelChain[] = [];
        const usedUnpublished: { id: number; len: number }[] = [];
        const usedPublished: { id: number; len: number }[] = [];
        let lastAvail = start;
        let usedIdx = start;
        let signalled: number | undefined;
        let usedEvent = 0;
        let noInterrupt = false;
        let availEvent = 0;
        let noNotify = false;
        let publishedAvail = start;

        for (const op of ops) {
          switch (op.t) {
            case 'add': {
              const spec = [...op.readable.map((len) => ({ len, writable: false })), ...op.writable.map((len) => ({ len, writable: true }))];
              if (spec.length === 0 || spec.length > size) break;
              if (driver.freeCount < driver.descriptorsNeeded(spec as MockBuffer[], op.indirect)) break;
              const buffers: MockBuffer[] = spec.map((s) => ({ gpa: driver.alloc(s.len), len: s.len, writable: s.writable }));
              const bytes: number[] = [];
              buffers.forEach((b, i) => {
                if (b.writable) return;
                const data = Array.from({ length: b.len }, (_, k) => (op.fill + i * 31 + k) & 0xff);
                mem.write(b.gpa, Uint8Array.from(data));
                bytes.push(...data);
              });
              const head = driver.addChain(buffers, { indirect: op.indirect });
              unpublished.push({
                head,
                readable: buffers.filter((b) => !b.writable).map((b) => [b.gpa, b.len]),
                writable: buffers.filter((b) => b.writable).map((b) => [b.gpa, b.len]),
                bytes,
              });
              break;
            }
            case 'publish': {
              const newIdx = addU16(publishedAvail, unpublished.length);
              const expected: boolean = eventIdx ? crossed(availEvent, newIdx, publishedAvail) : !noNotify;
              assert.equal(driver.publish(), expected, 'driver-side notification decision (§2.7.10)');
              publishedAvail = newIdx;
              available.push(...unpublished.splice(0));
              break;
            }
            case 'pop': {
              const chain = queue.popAvailable();
              const want = available.shift();
              if (want === undefined) {
                assert.equal(chain, undefined);
                break;
              }
              assert.ok(chain, 'a published chain pops');
              assert.equal(chain.head, want.head);
              assert.deepEqual(chain.readable.map((b) => [b.gpa, b.len]), want.readable);
              assert.deepEqual(chain.writable.map((b) => [b.gpa, b.len]), want.writable);
              assert.deepEqual([...chain.copyReadable()], want.bytes);
              lastAvail = addU16(lastAvail, 1);
              inFlight.push(want);
              break;
            }
            case 'use': {
              if (inFlight.length === 0) break;
              const [chain] = inFlight.splice(op.pick % inFlight.length, 1);
              queue.addUsed(chain!.head, op.len);
              usedUnpublished.push({ id: chain!.head, len: op.len });
              break;
            }
            case 'publishUsed': {
              queue.publishUsed();
              usedIdx = addU16(usedIdx, usedUnpublished.length);
              usedPublished.push(...usedUnpublished.splice(0));
              const old = signalled;
              signalled = usedIdx;
              const expected: boolean = !eventIdx ? !noInterrupt : old === undefined ? true : crossed(usedEvent, usedIdx, old);
              assert.equal(queue.needsNotification(), expected, 'device-side notification decision (§2.7.7.2)');
              break;
            }
            case 'reap':
              assert.deepEqual(driver.popUsed(), usedPublished.splice(0));
              break;
            case 'usedEvent':
              usedEvent = addU16(usedIdx, op.delta);
              driver.setUsedEvent(usedEvent);
              break;
            case 'availFlags':
              // With EVENT_IDX a driver must keep flags 0; set it anyway: the device must ignore it.
              noInterrupt = op.noInterrupt;
              driver.setAvailFlags(op.noInterrupt ? 1 : 0);
              break;
            case 'enable':
              assert.equal(queue.enableNotification(), available.length > 0);
              if (eventIdx) availEvent = lastAvail;
              else noNotify = false;
              break;
            case 'disable':
              queue.disableNotification();
              if (!eventIdx) noNotify = true;
              break;
          }
          assert.equal(queue.lastAvailIdx, lastAvail);
          assert.equal(driver.readUsedIdx(), usedIdx);
          assert.equal(queue.availableCount(), available.length);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('SplitQueue against a hostile guest (fuzz)', () => {
  const RAM = 64 * 1024;

  /** Where the fuzz puts a table of random-but-structured descriptors for indirect descriptors to point at. */
  const TABLES = 0x8000;

  /** A descriptor whose fields are mostly plausible (so chains get long) and sometimes garbage. */
  const descArb = (entries: number) =>
    fc.record({
      addr: fc.oneof(
        { weight: 16, arbitrary: fc.integer({ min: 0, max: RAM - 600 }).map(BigInt) },
        { weight: 3, arbitrary: fc.integer({ min: 0, max: 31 }).map((k) => BigInt(TABLES + 16 * k)) },
        { weight: 1, arbitrary: fc.integer({ min: RAM - 64, max: RAM + 64 }).map(BigInt) },
        { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) },
        { weight: 1, arbitrary: fc.bigInt({ min: 2n ** 64n - 4096n, max: 2n ** 64n - 1n }) },
      ),
      len: fc.oneof(
        { weight: 12, arbitrary: fc.integer({ min: 0, max: 512 }) },
        { weight: 4, arbitrary: fc.integer({ min: 1, max: 8 }).map((n) => n * 16) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }) },
      ),
      flags: fc.oneof(
        { weight: 24, arbitrary: fc.constantFrom(0, 1, 1, 2, 3, 3) },
        { weight: 3, arbitrary: fc.constantFrom(4, 6) },
        { weight: 1, arbitrary: fc.constantFrom(5, 7) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
      ),
      next: fc.oneof(
        { weight: 16, arbitrary: fc.integer({ min: 0, max: entries - 1 }) },
        { weight: 1, arbitrary: fc.integer({ min: entries, max: entries + 1 }) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
      ),
    });

  const caseArb = fc
    .record({ size: fc.constantFrom(1, 2, 4, 8, 16, 32), eventIdx: fc.boolean(), start: u16Start, raw: fc.integer({ min: 0, max: 4 }).map((n) => n === 0) })
    .chain(({ size, eventIdx, start, raw }) =>
      fc.record({
        size: fc.constant(size),
        eventIdx: fc.constant(eventIdx),
        start: fc.constant(start),
        // Either raw random bytes for the whole table (1 run in 5), or random-but-structured descriptors.
        table: raw
          ? fc.uint8Array({ minLength: 16 * size, maxLength: 16 * size }).map((b) => ({ raw: b }))
          : fc.array(descArb(size), { minLength: size, maxLength: size }).map((d) => ({ descs: d })),
        ring: fc.array(
          fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: size - 1 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) }),
          { minLength: size, maxLength: size },
        ),
        availAhead: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: size }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) }),
        // What indirect descriptors point at: structured entries at TABLES, raw bytes elsewhere.
        tables: fc.array(descArb(4), { minLength: 32, maxLength: 32 }),
        scratch: fc.uint8Array({ minLength: 2048, maxLength: 2048 }),
        usedLens: fc.array(fc.integer({ min: 0, max: 0xffff_ffff }), { maxLength: 4 }),
      }),
    );

  it('property: popAvailable() returns valid chains or throws VirtqueueError, never anything else, always terminating', () => {
    const outcomes = new Map<string, number>();
    const saw = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
    fc.assert(
      fc.property(caseArb, (c) => {
        const mem = GuestMemory.createAnonymous(RAM);
        const driver = MockDriver.create(mem, c.size, c.eventIdx);
        mem.write(driver.layout.dataStart, c.scratch);
        c.tables.forEach((d, i) => driver.writeDescriptor(i, d, TABLES));
        if ('raw' in c.table) mem.write(driver.layout.descAddr, c.table.raw);
        else c.table.descs.forEach((d, i) => driver.writeDescriptor(i, d));
        c.ring.forEach((head, slot) => driver.setAvailRing(slot, head));
        driver.startAt(c.start);
        driver.setAvailIdx(addU16(c.start, c.availAhead));
        const queue = SplitQueue.fromState(mem, { ...driver.config, lastAvailIdx: c.start, usedIdx: c.start });

        const began = Date.now();
        // Bounded: at most `size` chains can be pending, plus one call that sees none (or throws).
        for (let i = 0; i <= c.size + 1; i++) {
          const before = queue.lastAvailIdx;
          let chain;
          try {
            chain = queue.popAvailable();
          } catch (err) {
            assert.ok(err instanceof VirtqueueError, `only VirtqueueError may escape, got ${String(err)}`);
            assert.match(err.code, /^ERR_VIRTIO_/);
            assert.equal(queue.lastAvailIdx, before, 'a failed pop changes nothing');
            saw(err.code);
            break;
          }
          if (chain === undefined) break;
          saw(chain.readable.length + chain.writable.length > 1 ? 'chain' : 'single');
          const count = chain.readable.length + chain.writable.length;
          assert.ok(count >= 1 && count <= c.size, `chain length ${count} within 1..${c.size}`);
          assert.ok(chain.head < c.size);
          let total = 0;
          for (const b of [...chain.readable, ...chain.writable]) {
            assert.ok(Number.isSafeInteger(b.gpa) && b.gpa >= 0 && b.len >= 0 && b.gpa + b.len <= RAM, `buffer [${b.gpa}, +${b.len}) inside RAM`);
            total += b.len;
          }
          assert.ok(total <= 2 ** 32);
          assert.equal(chain.copyReadable().length, chain.readableLength);
          chain.writeWritable(new Uint8Array(Math.min(chain.writableLength, 4096)).fill(0xee));
          queue.addUsed(chain.head, c.usedLens[i % Math.max(1, c.usedLens.length)] ?? 0);
          queue.publishUsed();
          queue.needsNotification();
        }
        assert.ok(Date.now() - began < 2000, 'bounded work');
      }),
      { numRuns: 1500 },
    );
    // The fuzz is not vacuous: it reaches valid multi-descriptor chains and most rejection paths.
    assert.ok((outcomes.get('chain') ?? 0) >= 30, 'valid multi-descriptor chains');
    const codes = [...outcomes.keys()].filter((k) => k.startsWith('ERR_'));
    assert.ok(codes.length >= 6, `rejection paths reached: ${codes.join(', ')}`);
  });

  it('property: a random restored state gives a working queue or a VirtqueueError', () => {
    const anything = fc.oneof(
      fc.integer({ min: -5, max: 70_000 }),
      fc.constantFrom(0, 1, 2, 4, 16, 256, 32768, 65536, 1.5, Number.NaN),
      fc.bigInt({ min: -5n, max: 2n ** 64n }),
      fc.boolean(),
      fc.constant(undefined),
      fc.string({ maxLength: 3 }),
    );
    const addr = fc.oneof(fc.integer({ min: 0, max: 64 * 1024 }).map((n) => BigInt(n & ~1)), anything);
    fc.assert(
      fc.property(
        fc.record({ size: anything, descAddr: addr, availAddr: addr, usedAddr: addr, eventIdx: fc.oneof(fc.boolean(), anything), lastAvailIdx: anything, usedIdx: anything }),
        (raw) => {
          const mem = GuestMemory.createAnonymous(64 * 1024);
          let queue: SplitQueue;
          try {
            queue = SplitQueue.fromState(mem, raw as RawSplitQueueState);
          } catch (err) {
            assert.ok(err instanceof VirtqueueError, `only VirtqueueError may escape, got ${String(err)}`);
            assert.match(err.code, /^ERR_VIRTIO_BAD_QUEUE_(CONFIG|STATE)$/);
            return;
          }
          const state = queue.getState();
          assert.ok(state.size >= 1 && (state.size & (state.size - 1)) === 0);
          assert.equal(state.descAddr % 16n, 0n);
          assert.equal(state.availAddr % 2n, 0n);
          assert.equal(state.usedAddr % 4n, 0n);
          try {
            queue.popAvailable();
          } catch (err) {
            assert.ok(err instanceof VirtqueueError);
          }
          queue.needsNotification();
        },
      ),
      { numRuns: 2000 },
    );
  });
});
