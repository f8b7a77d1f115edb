import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { VmigError } from '../core/index.js';
import { GUEST_MEMORY_MAX_BYTES, GUEST_PAGE_SIZE, GuestMemory, GuestMemoryError } from './index.js';

const PAGE = GUEST_PAGE_SIZE;

/** Asserts `fn` throws a VmigError with `code` and returns it. */
function throwsCode(fn: () => unknown, code: string): VmigError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof VmigError, `expected VmigError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

function dirtyPages(mem: GuestMemory): number[] {
  return mem.dirty.fetchAndClear().toArray();
}

/** Every accessor, described by the bytes it touches at `gpa`, and whether it writes. */
interface Accessor {
  name: string;
  width: number;
  writes: boolean;
  run(mem: GuestMemory, gpa: number): unknown;
}

const ACCESSORS: Accessor[] = [
  { name: 'readU8', width: 1, writes: false, run: (m, g) => m.readU8(g) },
  { name: 'readU16', width: 2, writes: false, run: (m, g) => m.readU16(g) },
  { name: 'readU32', width: 4, writes: false, run: (m, g) => m.readU32(g) },
  { name: 'readU64', width: 8, writes: false, run: (m, g) => m.readU64(g) },
  { name: 'slice', width: 5, writes: false, run: (m, g) => m.slice(g, 5) },
  { name: 'readInto', width: 3, writes: false, run: (m, g) => m.readInto(g, new Uint8Array(3)) },
  { name: 'writeU8', width: 1, writes: true, run: (m, g) => m.writeU8(g, 0xab) },
  { name: 'writeU16', width: 2, writes: true, run: (m, g) => m.writeU16(g, 0xabcd) },
  { name: 'writeU32', width: 4, writes: true, run: (m, g) => m.writeU32(g, 0xabcdef01) },
  { name: 'writeU64', width: 8, writes: true, run: (m, g) => m.writeU64(g, 0xabcdef0123456789n) },
  { name: 'write', width: 6, writes: true, run: (m, g) => m.write(g, new Uint8Array([1, 2, 3, 4, 5, 6])) },
  { name: 'copyFrom', width: 3, writes: true, run: (m, g) => m.copyFrom(g, new Uint8Array([9, 8, 7, 6, 5]), 1, 3) },
  { name: 'copyWithin (destination)', width: 7, writes: true, run: (m, g) => m.copyWithin(g, 0, 7) },
  { name: 'fill', width: 9, writes: true, run: (m, g) => m.fill(g, 9, 0x5a) },
  { name: 'markDirty', width: 2, writes: true, run: (m, g) => m.markDirty(g, 2) },
];

describe('GuestMemory sizes', () => {
  it('createAnonymous() gives zero-filled RAM with every page clean', () => {
    const mem = GuestMemory.createAnonymous(4 * PAGE);
    assert.equal(mem.size, 4 * PAGE);
    assert.equal(mem.pageSize, 4096);
    assert.equal(mem.pageCount, 4);
    assert.equal(mem.bytes.length, 4 * PAGE);
    assert.ok(mem.bytes.every((b) => b === 0));
    assert.equal(mem.dirty.count(), 0);
    assert.equal(mem.region, undefined);
  });

  it('create() backs RAM with a memfd region whose buffer is the RAM', () => {
    const mem = GuestMemory.create(8 * PAGE, 'vmig-test-guest-memory');
    try {
      assert.ok(mem.region);
      assert.ok(mem.region.fd >= 0);
      assert.equal(mem.region.buffer, mem.shared.ram);
      mem.writeU32(PAGE * 7 + 4, 0xdeadbeef);
      assert.equal(new DataView(mem.region.buffer).getUint32(PAGE * 7 + 4, true), 0xdeadbeef);
      assert.deepEqual(dirtyPages(mem), [7]);
    } finally {
      mem.close();
      mem.close();
    }
    assert.equal(mem.region, undefined);
  });

  for (const bad of [0, -PAGE, PAGE - 1, PAGE + 1, 1.5 * PAGE, Number.NaN, Infinity, GUEST_MEMORY_MAX_BYTES + PAGE, 2 ** 32]) {
    it(`createAnonymous() rejects a size of ${bad} with ERR_MEMORY_BAD_SIZE`, () => {
      const err = throwsCode(() => GuestMemory.createAnonymous(bad), 'ERR_MEMORY_BAD_SIZE');
      assert.ok(err instanceof GuestMemoryError);
      assert.equal(err.details.max, GUEST_MEMORY_MAX_BYTES);
    });
  }

  it('the maximum is 4 GiB minus one page', () => {
    assert.equal(GUEST_MEMORY_MAX_BYTES, 0xffff_f000);
    throwsCode(() => GuestMemory.create(GUEST_MEMORY_MAX_BYTES + PAGE), 'ERR_MEMORY_BAD_SIZE');
  });

  it('fromShared() sees the same RAM and the same dirty bitmap', () => {
    const a = GuestMemory.createAnonymous(4 * PAGE);
    const b = GuestMemory.fromShared(a.shared);
    b.writeU16(PAGE * 2, 0x1234);
    assert.equal(a.readU16(PAGE * 2), 0x1234);
    assert.ok(a.dirty.isDirty(2));
    assert.deepEqual(dirtyPages(a), [2]);
    assert.equal(b.dirty.count(), 0);
  });

  it('fromShared() refuses a dirty bitmap too short for the RAM and a non-shared buffer', () => {
    const a = GuestMemory.createAnonymous(4 * PAGE);
    const other = GuestMemory.createAnonymous(64 * PAGE);
    assert.throws(() => GuestMemory.fromShared({ ram: other.shared.ram, dirty: a.shared.dirty }), RangeError);
    assert.throws(() => GuestMemory.fromShared({ ram: new ArrayBuffer(PAGE) as unknown as SharedArrayBuffer, dirty: a.shared.dirty }), TypeError);
  });
});

describe('GuestMemory bounds', () => {
  const size = 4 * PAGE;

  for (const acc of ACCESSORS) {
    it(`${acc.name} passes at the last valid byte and fails one past it, leaving RAM and the bitmap unchanged`, () => {
      const mem = GuestMemory.createAnonymous(size);
      acc.run(mem, size - acc.width);
      mem.dirty.fetchAndClear();
      const before = mem.bytes.slice();
      const err = throwsCode(() => acc.run(mem, size - acc.width + 1), 'ERR_MEMORY_OUT_OF_RANGE');
      assert.equal(err.details.size, size);
      assert.equal(err.details.gpa, size - acc.width + 1);
      assert.deepEqual(mem.bytes, before);
      assert.equal(mem.dirty.count(), 0);
    });

    it(`${acc.name} rejects wrapping, negative and non-integer addresses`, () => {
      const mem = GuestMemory.createAnonymous(size);
      for (const gpa of [2 ** 32 - 1, 2 ** 32, 2 ** 53, -1, -acc.width, 0.5, Number.NaN, Infinity, -Infinity]) {
        throwsCode(() => acc.run(mem, gpa), 'ERR_MEMORY_OUT_OF_RANGE');
      }
    });
  }

  it('checkRange() accepts empty ranges up to the end and rejects wraparound attempts', () => {
    const mem = GuestMemory.createAnonymous(size);
    mem.checkRange(0, size);
    mem.checkRange(size, 0);
    mem.checkRange(size - 1, 1);
    throwsCode(() => mem.checkRange(size + 1, 0), 'ERR_MEMORY_OUT_OF_RANGE');
    throwsCode(() => mem.checkRange(2 ** 32 - 1, 2), 'ERR_MEMORY_OUT_OF_RANGE');
    throwsCode(() => mem.checkRange(1, 2 ** 32 - 1), 'ERR_MEMORY_OUT_OF_RANGE');
    throwsCode(() => mem.checkRange(1, size), 'ERR_MEMORY_OUT_OF_RANGE');
    throwsCode(() => mem.checkRange(0, -1), 'ERR_MEMORY_OUT_OF_RANGE');
    throwsCode(() => mem.checkRange(0, 1.5), 'ERR_MEMORY_OUT_OF_RANGE');
    throwsCode(() => mem.checkRange(0, Number.MAX_SAFE_INTEGER + 1), 'ERR_MEMORY_OUT_OF_RANGE');
    const err = throwsCode(() => mem.checkRange(size - 4, 8), 'ERR_MEMORY_OUT_OF_RANGE');
    assert.deepEqual(err.details, { gpa: size - 4, len: 8, size });
    assert.match(err.message, /0x3ffc/);
  });

  it('copyWithin() checks the source range too', () => {
    const mem = GuestMemory.createAnonymous(size);
    throwsCode(() => mem.copyWithin(0, size - 2, 4), 'ERR_MEMORY_OUT_OF_RANGE');
    assert.equal(mem.dirty.count(), 0);
  });

  it('atomic accessors pass at the last aligned slot, fail past it, and refuse misaligned addresses', () => {
    const mem = GuestMemory.createAnonymous(size);
    mem.atomicStoreU16(size - 2, 0xbeef);
    assert.equal(mem.atomicLoadU16(size - 2), 0xbeef);
    mem.atomicStoreU32(size - 4, 0xcafef00d);
    assert.equal(mem.atomicLoadU32(size - 4), 0xcafef00d);
    throwsCode(() => mem.atomicLoadU16(size), 'ERR_MEMORY_OUT_OF_RANGE');
    throwsCode(() => mem.atomicLoadU32(size), 'ERR_MEMORY_OUT_OF_RANGE');
    throwsCode(() => mem.atomicStoreU16(2 ** 32 - 2, 1), 'ERR_MEMORY_OUT_OF_RANGE');
    const err = throwsCode(() => mem.atomicLoadU16(3), 'ERR_MEMORY_MISALIGNED');
    assert.deepEqual(err.details, { gpa: 3, align: 2 });
    throwsCode(() => mem.atomicLoadU32(2), 'ERR_MEMORY_MISALIGNED');
    throwsCode(() => mem.atomicStoreU32(6, 1), 'ERR_MEMORY_MISALIGNED');
  });

  it('write methods refuse values that do not fit (a caller bug: RangeError)', () => {
    const mem = GuestMemory.createAnonymous(size);
    assert.throws(() => mem.writeU8(0, 256), RangeError);
    assert.throws(() => mem.writeU16(0, -1), RangeError);
    assert.throws(() => mem.writeU32(0, 2 ** 32), RangeError);
    assert.throws(() => mem.writeU64(0, 1n << 64n), RangeError);
    assert.throws(() => mem.atomicStoreU16(0, 0x10000), RangeError);
    assert.throws(() => mem.fill(0, 1, 300), RangeError);
    assert.throws(() => mem.copyFrom(0, new Uint8Array(4), 2, 3), RangeError);
    assert.equal(mem.dirty.count(), 0);
  });
});

describe('GuestMemory byte order (virtio rings are little-endian)', () => {
  it('writes little-endian golden bytes', () => {
    const mem = GuestMemory.createAnonymous(PAGE);
    mem.writeU16(0, 0x1234);
    mem.writeU32(2, 0x12345678);
    mem.writeU64(6, 0x0102030405060708n);
    mem.atomicStoreU16(14, 0xa1b2);
    mem.atomicStoreU32(16, 0xc1d2e3f4);
    assert.deepEqual(
      [...mem.slice(0, 20)],
      [
        0x34, 0x12, // u16 0x1234
        0x78, 0x56, 0x34, 0x12, // u32 0x12345678
        0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, // u64 0x0102030405060708
        0xb2, 0xa1, // atomic u16 0xa1b2
        0xf4, 0xe3, 0xd2, 0xc1, // atomic u32 0xc1d2e3f4
      ],
    );
  });

  it('reads little-endian golden bytes, through plain and atomic loads alike', () => {
    const mem = GuestMemory.createAnonymous(PAGE);
    mem.write(0, new Uint8Array([0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0xf1]));
    assert.equal(mem.readU8(0), 0xef);
    assert.equal(mem.readU16(0), 0xcdef);
    assert.equal(mem.readU32(0), 0x89abcdef);
    assert.equal(mem.readU64(0), 0xf123456789abcdefn);
    assert.equal(mem.atomicLoadU16(0), 0xcdef);
    assert.equal(mem.atomicLoadU16(6), 0xf123);
    assert.equal(mem.atomicLoadU32(4), 0xf1234567);
  });

  it('slice() is a view that sees later writes; readInto() is a copy', () => {
    const mem = GuestMemory.createAnonymous(PAGE);
    const view = mem.slice(100, 4);
    const copy = new Uint8Array(4);
    mem.readInto(100, copy);
    mem.writeU32(100, 0x04030201);
    assert.deepEqual([...view], [1, 2, 3, 4]);
    assert.deepEqual([...copy], [0, 0, 0, 0]);
  });

  it('copyWithin() copies overlapping guest ranges like memmove', () => {
    const mem = GuestMemory.createAnonymous(PAGE);
    mem.write(0, new Uint8Array([1, 2, 3, 4, 5]));
    mem.copyWithin(2, 0, 5);
    assert.deepEqual([...mem.slice(0, 7)], [1, 2, 1, 2, 3, 4, 5]);
  });
});

describe('GuestMemory dirty marking', () => {
  for (const acc of ACCESSORS) {
    if (acc.writes) {
      it(`${acc.name} marks the page it writes`, () => {
        const mem = GuestMemory.createAnonymous(8 * PAGE);
        acc.run(mem, 5 * PAGE + 100);
        assert.deepEqual(dirtyPages(mem), [5]);
      });
      if (acc.width > 1) {
        it(`${acc.name} straddling a page boundary marks both pages`, () => {
          const mem = GuestMemory.createAnonymous(8 * PAGE);
          acc.run(mem, 3 * PAGE - 1);
          assert.deepEqual(dirtyPages(mem), [2, 3]);
        });
      }
      it(`${acc.name} ending on the last byte of a page marks only that page`, () => {
        const mem = GuestMemory.createAnonymous(8 * PAGE);
        acc.run(mem, 3 * PAGE - acc.width);
        assert.deepEqual(dirtyPages(mem), [2]);
      });
    } else {
      it(`${acc.name} marks nothing`, () => {
        const mem = GuestMemory.createAnonymous(8 * PAGE);
        acc.run(mem, 3 * PAGE - 1);
        assert.equal(mem.dirty.count(), 0);
      });
    }
  }

  it('atomic stores mark their page; atomic loads do not', () => {
    const mem = GuestMemory.createAnonymous(8 * PAGE);
    mem.atomicStoreU16(2 * PAGE + 2, 7);
    mem.atomicStoreU32(6 * PAGE - 4, 7);
    mem.atomicLoadU16(PAGE);
    mem.atomicLoadU32(7 * PAGE);
    assert.deepEqual(dirtyPages(mem), [2, 5]);
  });

  it('a long write marks every page it covers and nothing else', () => {
    const mem = GuestMemory.createAnonymous(80 * PAGE);
    mem.fill(3 * PAGE + 17, 70 * PAGE, 1);
    assert.deepEqual(dirtyPages(mem), Array.from({ length: 71 }, (_, i) => 3 + i));
  });

  it('zero-length writes mark nothing', () => {
    const mem = GuestMemory.createAnonymous(4 * PAGE);
    mem.write(PAGE, new Uint8Array(0));
    mem.fill(2 * PAGE, 0);
    mem.markDirty(4 * PAGE, 0);
    assert.equal(mem.dirty.count(), 0);
  });

  type Op = { kind: 'u8' | 'u16' | 'u32' | 'u64' | 'write' | 'fill' | 'copyWithin' | 'atomic16' | 'atomic32' | 'fetch'; gpa: number; len: number };
  const PAGES = 16;
  const SIZE = PAGES * PAGE;
  const opArb: fc.Arbitrary<Op> = fc.record({
    kind: fc.constantFrom('u8', 'u16', 'u32', 'u64', 'write', 'fill', 'copyWithin', 'atomic16', 'atomic32', 'fetch'),
    // Biased toward page boundaries and the end of RAM, where bugs live.
    gpa: fc.oneof(
      fc.integer({ min: 0, max: SIZE + 8 }),
      fc.integer({ min: 1, max: PAGES }).chain((p) => fc.integer({ min: p * PAGE - 9, max: p * PAGE + 1 })),
    ),
    len: fc.integer({ min: 0, max: 3 * PAGE }),
  });

  it('property: after random write sequences the dirty set equals the set of pages written (fetchAndClear between rounds)', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const mem = GuestMemory.createAnonymous(SIZE);
        let model = new Set<number>();
        const touch = (gpa: number, len: number): void => {
          for (let p = Math.floor(gpa / PAGE); len > 0 && p <= Math.floor((gpa + len - 1) / PAGE); p++) model.add(p);
        };
        for (const op of ops) {
          if (op.kind === 'fetch') {
            assert.deepEqual(mem.dirty.fetchAndClear().toArray(), [...model].sort((a, b) => a - b));
            model = new Set();
            continue;
          }
          const widths = { u8: 1, u16: 2, u32: 4, u64: 8, atomic16: 2, atomic32: 4 } as const;
          const len = op.kind in widths ? widths[op.kind as keyof typeof widths] : op.len;
          let gpa = op.gpa;
          if (op.kind === 'atomic16') gpa &= ~1;
          if (op.kind === 'atomic32') gpa &= ~3;
          const inRange = gpa + len <= SIZE;
          const run = (): void => {
            switch (op.kind) {
              case 'u8': return mem.writeU8(gpa, 1);
              case 'u16': return mem.writeU16(gpa, 1);
              case 'u32': return mem.writeU32(gpa, 1);
              case 'u64': return mem.writeU64(gpa, 1n);
              case 'atomic16': return mem.atomicStoreU16(gpa, 1);
              case 'atomic32': return mem.atomicStoreU32(gpa, 1);
              case 'write': return mem.write(gpa, new Uint8Array(len).fill(3));
              case 'fill': return mem.fill(gpa, len, 4);
              case 'copyWithin': return mem.copyWithin(gpa, 0, len);
            }
          };
          if (inRange) {
            run();
            touch(gpa, len);
          } else {
            throwsCode(run, 'ERR_MEMORY_OUT_OF_RANGE');
          }
          assert.equal(mem.dirty.count(), model.size);
        }
        assert.deepEqual(mem.dirty.fetchAndClear().toArray(), [...model].sort((a, b) => a - b));
        assert.equal(mem.dirty.count(), 0);
      }),
      { numRuns: 300 },
    );
  });
});
