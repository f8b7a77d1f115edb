/**
 * Golden bytes for every field kind, written by hand from
 * research/qemu-wire-format.md §1.1 and §2.2–2.3 (not derived from the code):
 * big-endian integers, two's complement for signed ones, no tags, no lengths,
 * no padding, no count in front of arrays.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { ByteReader, ByteWriter, MalformedError, TruncatedError } from '../core/index.js';
import type { Field, IntType, VmState, Vmsd, VmstateContext } from './description.js';
import { decodeState, encodeState, loadState, saveState } from './interpreter.js';
import { rejects } from './vmstate-test-kit.js';

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);
const enc = (vmsd: Vmsd, state: VmState, ctx: VmstateContext = {}): number[] => [...encodeState(vmsd, state, ctx)];
const one = (field: Field, name = 'dev'): Vmsd => ({ name, version: 1, fields: [field] });


describe('vmstate integer fields', () => {
  const cases: { type: IntType; value: number | bigint; wire: number[] }[] = [
    { type: 'int8', value: -1, wire: [0xff] },
    { type: 'int8', value: -128, wire: [0x80] },
    { type: 'uint8', value: 0xab, wire: [0xab] },
    { type: 'int16', value: -2, wire: [0xff, 0xfe] },
    { type: 'uint16', value: 0xbeef, wire: [0xbe, 0xef] },
    { type: 'int32', value: -2, wire: [0xff, 0xff, 0xff, 0xfe] },
    { type: 'int32', value: 0x01020304, wire: [0x01, 0x02, 0x03, 0x04] },
    { type: 'uint32', value: 0xdeadbeef, wire: [0xde, 0xad, 0xbe, 0xef] },
    { type: 'int64', value: -2n, wire: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe] },
    { type: 'int64', value: -(1n << 63n), wire: [0x80, 0, 0, 0, 0, 0, 0, 0] },
    { type: 'uint64', value: 0x0102030405060708n, wire: [1, 2, 3, 4, 5, 6, 7, 8] },
    { type: 'uint64', value: 0xffff_ffff_ffff_ffffn, wire: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff] },
  ];
  for (const { type, value, wire } of cases) {
    test(`${type} ${String(value)} is ${wire.length} big-endian byte(s) ${wire.map((b) => b.toString(16).padStart(2, '0')).join(' ')} and loads back`, () => {
      const vmsd = one({ name: 'v', type: { kind: 'int', type } });
      assert.deepEqual(enc(vmsd, { v: value }), wire);
      assert.deepEqual(decodeState(Uint8Array.from(wire), vmsd), { v: value });
    });
  }

  test('integer fields are written in field order with no tags or padding between them', () => {
    const vmsd: Vmsd = {
      name: 'dev',
      version: 1,
      fields: [
        { name: 'a', type: { kind: 'int', type: 'uint8' } },
        { name: 'b', type: { kind: 'int', type: 'uint32' } },
        { name: 'c', type: { kind: 'int', type: 'int16' } },
      ],
    };
    assert.deepEqual(enc(vmsd, { a: 1, b: 2, c: -3 }), [0x01, 0x00, 0x00, 0x00, 0x02, 0xff, 0xfd]);
  });

  test('saving a value outside its integer type, or a number for a 64-bit field, throws RangeError', () => {
    assert.throws(() => encodeState(one({ name: 'v', type: { kind: 'int', type: 'uint8' } }), { v: 256 }), RangeError);
    assert.throws(() => encodeState(one({ name: 'v', type: { kind: 'int', type: 'int16' } }), { v: 40000 }), RangeError);
    assert.throws(() => encodeState(one({ name: 'v', type: { kind: 'int', type: 'uint32' } }), { v: -1 }), RangeError);
    assert.throws(() => encodeState(one({ name: 'v', type: { kind: 'int', type: 'uint64' } }), { v: 1 }), RangeError);
    assert.throws(() => encodeState(one({ name: 'v', type: { kind: 'int', type: 'int64' } }), { v: 1 }), RangeError);
    assert.throws(() => encodeState(one({ name: 'v', type: { kind: 'int', type: 'uint16' } }), {}), RangeError);
  });

  test('a field with a path reads and writes its value at that nested location', () => {
    const vmsd = one({ name: 'queue_pairs', path: ['net', 'curr'], type: { kind: 'int', type: 'uint16' } });
    assert.deepEqual(enc(vmsd, { net: { curr: 4 } }), [0x00, 0x04]);
    assert.deepEqual(decodeState(bytes(0x00, 0x04), vmsd), { net: { curr: 4 } });
  });
});

describe('vmstate bool and timer fields', () => {
  const vmsd = one({ name: 'b', type: { kind: 'bool' } });

  test('bool saves as one byte, 01 for true and 00 for false', () => {
    assert.deepEqual(enc(vmsd, { b: true }), [0x01]);
    assert.deepEqual(enc(vmsd, { b: false }), [0x00]);
  });

  test('bool loads any non-zero byte as true and 00 as false', () => {
    assert.deepEqual(decodeState(bytes(0x00), vmsd), { b: false });
    assert.deepEqual(decodeState(bytes(0x01), vmsd), { b: true });
    assert.deepEqual(decodeState(bytes(0x02), vmsd), { b: true });
    assert.deepEqual(decodeState(bytes(0xff), vmsd), { b: true });
  });

  test('saving a non-boolean in a bool field throws RangeError', () => {
    assert.throws(() => encodeState(vmsd, { b: 1 }), RangeError);
  });

  test('timer is a be64 expiry with -1 (all ones) for a timer that is not armed', () => {
    const t = one({ name: 't', type: { kind: 'timer' } });
    assert.deepEqual(enc(t, { t: -1n }), [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    assert.deepEqual(enc(t, { t: 0x1000n }), [0, 0, 0, 0, 0, 0, 0x10, 0x00]);
    assert.deepEqual(decodeState(bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), t), { t: -1n });
  });
});

describe('vmstate buffers', () => {
  test('a fixed buffer is its bytes, raw, with no length in front', () => {
    const vmsd = one({ name: 'mac', type: { kind: 'buffer', size: 6 } });
    const mac = bytes(0x52, 0x54, 0x00, 0x12, 0x34, 0x56);
    assert.deepEqual(enc(vmsd, { mac }), [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    assert.deepEqual(decodeState(mac, vmsd), { mac });
  });

  test('a loaded buffer is a copy that does not alias the input', () => {
    const vmsd = one({ name: 'mac', type: { kind: 'buffer', size: 2 } });
    const input = bytes(1, 2);
    const state = decodeState(input, vmsd);
    input[0] = 9;
    assert.deepEqual(state.mac, bytes(1, 2));
  });

  test('saving a buffer shorter than its size throws RangeError and a longer one writes only size bytes', () => {
    const vmsd = one({ name: 'x', type: { kind: 'buffer', size: 3 } });
    assert.throws(() => encodeState(vmsd, { x: bytes(1, 2) }), RangeError);
    assert.deepEqual(enc(vmsd, { x: bytes(1, 2, 3, 4) }), [1, 2, 3]);
  });

  test('a variable buffer takes its size from an earlier field times multiply, and only the data is on the wire', () => {
    const vmsd: Vmsd = {
      name: 'dev',
      version: 1,
      fields: [
        { name: 'len', type: { kind: 'int', type: 'uint32' } },
        { name: 'data', type: { kind: 'buffer', size: { field: ['len'], multiply: 2 } } },
        { name: 'tail', type: { kind: 'int', type: 'uint8' } },
      ],
    };
    const state = { len: 3, data: bytes(0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5), tail: 0x7e };
    const wire = [0x00, 0x00, 0x00, 0x03, /* data: 3 × 2 bytes */ 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, /* tail */ 0x7e];
    assert.deepEqual(enc(vmsd, state), wire);
    assert.deepEqual(decodeState(Uint8Array.from(wire), vmsd), state);
  });

  test('a variable buffer sized by a field holding zero occupies no bytes', () => {
    const vmsd: Vmsd = {
      name: 'dev',
      version: 1,
      fields: [
        { name: 'len', type: { kind: 'int', type: 'uint16' } },
        { name: 'data', type: { kind: 'buffer', size: { field: ['len'] } } },
      ],
    };
    assert.deepEqual(enc(vmsd, { len: 0, data: new Uint8Array(0) }), [0x00, 0x00]);
    assert.deepEqual(decodeState(bytes(0x00, 0x00), vmsd), { len: 0, data: new Uint8Array(0) });
  });

  test('a buffer sized by a negative int32 fails as MalformedError ERR_VMSTATE_BAD_SIZE', () => {
    const vmsd: Vmsd = {
      name: 'dev',
      version: 1,
      fields: [
        { name: 'len', type: { kind: 'int', type: 'int32' } },
        { name: 'data', type: { kind: 'buffer', size: { field: ['len'] } } },
      ],
    };
    rejects(() => decodeState(bytes(0xff, 0xff, 0xff, 0xff), vmsd), MalformedError, 'ERR_VMSTATE_BAD_SIZE');
  });

  test('unused bytes are written as zeros whatever the state holds and skipped on load', () => {
    const vmsd: Vmsd = {
      name: 'dev',
      version: 1,
      fields: [
        { name: 'a', type: { kind: 'int', type: 'uint8' } },
        { name: 'unused', type: { kind: 'unused', size: 3 } },
        { name: 'b', type: { kind: 'int', type: 'uint8' } },
      ],
    };
    assert.deepEqual(enc(vmsd, { a: 1, unused: bytes(9, 9, 9), b: 2 }), [0x01, 0x00, 0x00, 0x00, 0x02]);
    assert.deepEqual(decodeState(bytes(0x01, 0xaa, 0xbb, 0xcc, 0x02), vmsd), { a: 1, b: 2 });
  });

  test('unused bytes past the end of the input are a TruncatedError', () => {
    rejects(() => decodeState(bytes(0, 0), one({ name: 'unused', type: { kind: 'unused', size: 3 } })), TruncatedError, 'ERR_CORE_TRUNCATED');
  });
});

describe('vmstate arrays', () => {
  test('a fixed array is its elements back to back with no count on the wire', () => {
    const vmsd = one({ name: 'regs', count: 3, type: { kind: 'int', type: 'int16' } });
    assert.deepEqual(enc(vmsd, { regs: [1, -1, 2] }), [0x00, 0x01, 0xff, 0xff, 0x00, 0x02]);
    assert.deepEqual(decodeState(bytes(0x00, 0x01, 0xff, 0xff, 0x00, 0x02), vmsd), { regs: [1, -1, 2] });
  });

  test('a variable array takes its count from an earlier field and sends only the elements', () => {
    const vmsd: Vmsd = {
      name: 'dev',
      version: 1,
      fields: [
        { name: 'n', type: { kind: 'int', type: 'uint8' } },
        { name: 'table', count: { field: ['n'] }, type: { kind: 'int', type: 'uint32' } },
      ],
    };
    const wire = [0x02, /* table[0] */ 0x00, 0x00, 0x00, 0x01, /* table[1] */ 0xff, 0xff, 0xff, 0xff];
    assert.deepEqual(enc(vmsd, { n: 2, table: [1, 0xffffffff] }), wire);
    assert.deepEqual(decodeState(Uint8Array.from(wire), vmsd), { n: 2, table: [1, 0xffffffff] });
    assert.deepEqual(enc(vmsd, { n: 0, table: [] }), [0x00]);
    assert.deepEqual(decodeState(bytes(0x00), vmsd), { n: 0, table: [] });
  });

  test('a variable array count is multiplied by multiply', () => {
    const vmsd: Vmsd = {
      name: 'dev',
      version: 1,
      fields: [
        { name: 'n', type: { kind: 'int', type: 'uint16' } },
        { name: 'pairs', count: { field: ['n'], multiply: 2 }, type: { kind: 'int', type: 'uint8' } },
      ],
    };
    assert.deepEqual(enc(vmsd, { n: 2, pairs: [1, 2, 3, 4] }), [0x00, 0x02, 1, 2, 3, 4]);
    assert.deepEqual(decodeState(bytes(0x00, 0x02, 1, 2, 3, 4), vmsd), { n: 2, pairs: [1, 2, 3, 4] });
  });

  test('a variable array may take its count from a 64-bit field', () => {
    const vmsd: Vmsd = {
      name: 'dev',
      version: 1,
      fields: [
        { name: 'n', type: { kind: 'int', type: 'uint64' } },
        { name: 'a', count: { field: ['n'] }, type: { kind: 'bool' } },
      ],
    };
    assert.deepEqual(decodeState(bytes(0, 0, 0, 0, 0, 0, 0, 2, 0x01, 0x00), vmsd), { n: 2n, a: [true, false] });
  });

  test('a constant array of zero elements occupies no bytes', () => {
    const vmsd: Vmsd = {
      name: 'dev',
      version: 1,
      fields: [
        { name: 'none', count: 0, type: { kind: 'int', type: 'uint32' } },
        { name: 'b', type: { kind: 'int', type: 'uint8' } },
      ],
    };
    assert.deepEqual(enc(vmsd, { none: [], b: 7 }), [0x07]);
    assert.deepEqual(decodeState(bytes(0x07), vmsd), { none: [], b: 7 });
  });

  test('saving an array shorter than its count throws RangeError', () => {
    const vmsd = one({ name: 'regs', count: 3, type: { kind: 'int', type: 'uint8' } });
    assert.throws(() => encodeState(vmsd, { regs: [1, 2] }), RangeError);
    assert.throws(() => encodeState(vmsd, { regs: 5 }), RangeError);
  });
});

describe('vmstate nested structs', () => {
  const inner: Vmsd = {
    name: 'inner',
    version: 2,
    minimumVersion: 2,
    fields: [
      { name: 'x', type: { kind: 'int', type: 'uint16' } },
      { name: 'y', version: 2, type: { kind: 'int', type: 'uint8' } },
    ],
  };
  const outer: Vmsd = {
    name: 'outer',
    version: 1,
    fields: [
      { name: 'a', type: { kind: 'int', type: 'uint8' } },
      { name: 's', type: { kind: 'struct', vmsd: inner } },
      { name: 'b', type: { kind: 'int', type: 'uint8' } },
    ],
  };

  test('a nested struct is its fields inline with no version or header on the wire', () => {
    assert.deepEqual(enc(outer, { a: 0x11, s: { x: 0x2233, y: 0x44 }, b: 0x55 }), [0x11, /* s.x */ 0x22, 0x33, /* s.y */ 0x44, 0x55]);
  });

  test('a nested struct loads with the local sub-description\'s version, not the stream version', () => {
    // The stream is outer v1; inner's y (version 2) is still present and inner's
    // minimum version 2 does not reject it, because inner loads with its own version 2.
    const state = decodeState(bytes(0x11, 0x22, 0x33, 0x44, 0x55), outer, 1);
    assert.deepEqual(state, { a: 0x11, s: { x: 0x2233, y: 0x44 }, b: 0x55 });
  });

  test('a struct with structVersion (VMS_VSTRUCT) saves and loads its fields gated by that version', () => {
    const v: Vmsd = { name: 'outer', version: 1, fields: [{ name: 's', type: { kind: 'struct', vmsd: { ...inner, minimumVersion: 1 }, structVersion: 1 } }] };
    assert.deepEqual(enc(v, { s: { x: 0x0102, y: 9 } }), [0x01, 0x02]);
    assert.deepEqual(decodeState(bytes(0x01, 0x02), v), { s: { x: 0x0102 } });
  });

  test('an array of structs repeats the struct body once per element', () => {
    const pt: Vmsd = { name: 'pt', version: 1, fields: [{ name: 'x', type: { kind: 'int', type: 'uint8' } }, { name: 'y', type: { kind: 'int', type: 'int8' } }] };
    const vmsd = one({ name: 'pts', count: 2, type: { kind: 'struct', vmsd: pt } });
    const state = { pts: [{ x: 1, y: -1 }, { x: 2, y: -2 }] };
    assert.deepEqual(enc(vmsd, state), [0x01, 0xff, 0x02, 0xfe]);
    assert.deepEqual(decodeState(bytes(0x01, 0xff, 0x02, 0xfe), vmsd), state);
  });

  test('loading a struct fills the loader\'s existing object rather than replacing it', () => {
    const pt: Vmsd = { name: 'pt', version: 1, fields: [{ name: 'x', type: { kind: 'int', type: 'uint8' } }] };
    const vmsd = one({ name: 's', type: { kind: 'struct', vmsd: pt } });
    const existing = { x: 0, keep: 'me' };
    const state: VmState = { s: existing };
    loadState(new ByteReader(bytes(0x05)), vmsd, state, 1);
    assert.equal(state.s, existing);
    assert.deepEqual(existing, { x: 5, keep: 'me' });
  });

  test('a struct whose fields include a constant array of zero elements reads no element for it', () => {
    const s: Vmsd = {
      name: 's',
      version: 1,
      fields: [
        { name: 'none', count: 0, type: { kind: 'int', type: 'uint16' } },
        { name: 'x', type: { kind: 'int', type: 'uint8' } },
      ],
    };
    const vmsd = one({ name: 'st', type: { kind: 'struct', vmsd: s } });
    assert.deepEqual(enc(vmsd, { st: { none: [], x: 9 } }), [0x09]);
    assert.deepEqual(decodeState(bytes(0x09), vmsd), { st: { none: [], x: 9 } });
  });

  test('a struct whose body is followed by more fields of the parent loads each at its own offset', () => {
    const s: Vmsd = { name: 's', version: 1, fields: [{ name: 'x', type: { kind: 'int', type: 'uint16' } }, { name: 'f', type: { kind: 'bool' } }, { name: 'u', type: { kind: 'unused', size: 1 } }] };
    const vmsd: Vmsd = { name: 'dev', version: 1, fields: [{ name: 'st', count: 2, type: { kind: 'struct', vmsd: s } }, { name: 'z', type: { kind: 'int', type: 'uint8' } }] };
    const wire = bytes(0x00, 0x01, 0x02, 0xaa, /* st[1] */ 0x00, 0x02, 0x00, 0xbb, /* z */ 0x05);
    assert.deepEqual(decodeState(wire, vmsd), { st: [{ x: 1, f: true }, { x: 2, f: false }], z: 5 });
  });

  test('saving a struct field whose value is not an object throws RangeError', () => {
    assert.throws(() => encodeState(outer, { a: 1, s: 7, b: 2 }), RangeError);
  });
});

describe('vmstate bitmaps', () => {
  const bitsOf = (nbytes: number, ...set: number[]): Uint8Array => {
    const b = new Uint8Array(nbytes);
    for (const i of set) b[i >> 3]! |= 1 << (i & 7);
    return b;
  };

  test('bits {0, 65} of a 100-bit bitmap are two be64 words, 00..01 then 00..02', () => {
    const vmsd = one({ name: 'bm', type: { kind: 'bitmap', bits: 100 } });
    const wire = [/* word 0: bit 0 */ 0, 0, 0, 0, 0, 0, 0, 0x01, /* word 1: bit 65 = bit 1 of word 1 */ 0, 0, 0, 0, 0, 0, 0, 0x02];
    assert.deepEqual(enc(vmsd, { bm: bitsOf(16, 0, 65) }), wire);
    assert.deepEqual(decodeState(Uint8Array.from(wire), vmsd), { bm: bitsOf(16, 0, 65) });
  });

  test('each bitmap word holds its 64 bits with the lowest bit in the least significant position', () => {
    const vmsd = one({ name: 'bm', type: { kind: 'bitmap', bits: 128 } });
    const wire = [
      /* word 0 = 0x8000000000000181: bits 63, 8, 7, 0 */ 0x80, 0, 0, 0, 0, 0, 0x01, 0x81,
      /* word 1 = 0x8000000000000001: bits 127, 64 */ 0x80, 0, 0, 0, 0, 0, 0, 0x01,
    ];
    assert.deepEqual(enc(vmsd, { bm: bitsOf(16, 0, 7, 8, 63, 64, 127) }), wire);
    assert.deepEqual(decodeState(Uint8Array.from(wire), vmsd), { bm: bitsOf(16, 0, 7, 8, 63, 64, 127) });
  });

  test('a bitmap takes its bit count from an earlier field and rounds up to whole 64-bit words', () => {
    const vmsd: Vmsd = {
      name: 'dev',
      version: 1,
      fields: [
        { name: 'nbits', type: { kind: 'int', type: 'int32' } },
        { name: 'bm', type: { kind: 'bitmap', bits: { field: ['nbits'] } } },
      ],
    };
    assert.deepEqual(enc(vmsd, { nbits: 3, bm: bitsOf(1, 1) }), [0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0x02]);
    assert.deepEqual(enc(vmsd, { nbits: 0, bm: new Uint8Array(0) }), [0, 0, 0, 0]);
    assert.deepEqual(decodeState(bytes(0, 0, 0, 0), vmsd), { nbits: 0, bm: new Uint8Array(0) });
  });

  test('a bitmap sends its last word whole, bits past the count included, as QEMU\'s put_bitmap does', () => {
    const vmsd = one({ name: 'bm', type: { kind: 'bitmap', bits: 3 } });
    assert.deepEqual(enc(vmsd, { bm: bytes(0xff, 0x01) }), [0, 0, 0, 0, 0, 0, 0x01, 0xff]);
    const wire = bytes(0x80, 0, 0, 0, 0, 0, 0, 0x07);
    assert.deepEqual(encodeState(vmsd, decodeState(wire, vmsd)), wire);
  });

  test('a bitmap state shorter than its words is sent with zero bytes after it', () => {
    const vmsd = one({ name: 'bm', type: { kind: 'bitmap', bits: 12 } });
    assert.deepEqual(enc(vmsd, { bm: bytes(0x01, 0x08) }), [0, 0, 0, 0, 0, 0, 0x08, 0x01]);
  });

  test('saving a bitmap with fewer bits than its count throws RangeError', () => {
    assert.throws(() => encodeState(one({ name: 'bm', type: { kind: 'bitmap', bits: 65 } }), { bm: new Uint8Array(8) }), RangeError);
  });
});

describe('vmstate equal and le fields', () => {
  const eq = one({ name: 'n', type: { kind: 'int', type: 'uint32', equal: true } });
  const le = one({ name: 'q', type: { kind: 'int', type: 'int32', le: true } });

  test('an equal field loads when the stream matches the loader\'s current value', () => {
    assert.deepEqual(decodeState(bytes(0, 0, 0, 5), eq, 1, {}, { n: 5 }), { n: 5 });
  });

  test('an equal field fails with MalformedError ERR_VMSTATE_NOT_EQUAL when the stream differs from the loader\'s value', () => {
    const err = rejects(() => decodeState(bytes(0, 0, 0, 6), eq, 1, {}, { n: 5 }), MalformedError, 'ERR_VMSTATE_NOT_EQUAL');
    assert.equal(err.details.offset, 0);
    assert.equal(err.details.path, 'dev.n');
  });

  test('an equal field accepts any value with ctx.lenient and stores the stream\'s value', () => {
    assert.deepEqual(decodeState(bytes(0, 0, 0, 6), eq, 1, { lenient: true }, { n: 5 }), { n: 6 });
  });

  test('an equal field with no current value on the loader accepts the stream value', () => {
    assert.deepEqual(decodeState(bytes(0, 0, 0, 6), eq), { n: 6 });
  });

  test('a uint64 equal field compares bigints', () => {
    const eq64 = one({ name: 'f', type: { kind: 'int', type: 'uint64', equal: true } });
    const wire = bytes(0, 0, 0, 1, 0, 0, 0, 0);
    assert.deepEqual(decodeState(wire, eq64, 1, {}, { f: 0x1_0000_0000n }), { f: 0x1_0000_0000n });
    rejects(() => decodeState(wire, eq64, 1, {}, { f: 1n }), MalformedError, 'ERR_VMSTATE_NOT_EQUAL');
  });

  test('an equal field is saved as a plain integer of its width', () => {
    assert.deepEqual(enc(eq, { n: 0x01020304 }), [1, 2, 3, 4]);
  });

  test('an int32 le field accepts 0 ≤ v ≤ current and stores v', () => {
    assert.deepEqual(decodeState(bytes(0, 0, 0, 10), le, 1, {}, { q: 10 }), { q: 10 });
    assert.deepEqual(decodeState(bytes(0, 0, 0, 0), le, 1, {}, { q: 10 }), { q: 0 });
    assert.deepEqual(decodeState(bytes(0, 0, 0, 3), le, 1, {}, { q: 10 }), { q: 3 });
  });

  test('an int32 le field rejects v > current and negative v with ERR_VMSTATE_OUT_OF_RANGE', () => {
    rejects(() => decodeState(bytes(0, 0, 0, 11), le, 1, {}, { q: 10 }), MalformedError, 'ERR_VMSTATE_OUT_OF_RANGE');
    rejects(() => decodeState(bytes(0xff, 0xff, 0xff, 0xff), le, 1, {}, { q: 10 }), MalformedError, 'ERR_VMSTATE_OUT_OF_RANGE');
  });

  test('an int32 le field accepts any value with ctx.lenient', () => {
    assert.deepEqual(decodeState(bytes(0, 0, 0, 11), le, 1, { lenient: true }, { q: 10 }), { q: 11 });
  });

  test('equal fields inside an array compare element by element against the loader\'s array', () => {
    const arr = one({ name: 'a', count: 2, type: { kind: 'int', type: 'uint8', equal: true } });
    assert.deepEqual(decodeState(bytes(1, 2), arr, 1, {}, { a: [1, 2] }), { a: [1, 2] });
    rejects(() => decodeState(bytes(1, 3), arr, 1, {}, { a: [1, 2] }), MalformedError, 'ERR_VMSTATE_NOT_EQUAL');
  });
});

describe('vmstate whole-buffer helpers', () => {
  const vmsd = one({ name: 'v', type: { kind: 'int', type: 'uint16' } });

  test('decodeState refuses bytes left after the description with ERR_VMSTATE_TRAILING_BYTES at their offset', () => {
    const err = rejects(() => decodeState(bytes(0, 1, 2), vmsd), MalformedError, 'ERR_VMSTATE_TRAILING_BYTES');
    assert.equal(err.details.offset, 2);
  });

  test('decodeState on too few bytes throws TruncatedError naming the field', () => {
    const err = rejects(() => decodeState(bytes(0), vmsd), TruncatedError, 'ERR_CORE_TRUNCATED');
    assert.equal(err.details.offset, 0);
    assert.equal(err.details.needed, 1);
    assert.equal(err.details.path, 'dev.v');
    assert.match(String(err.details.expected), /\bv\b/);
  });

  test('saveState appends to a writer that already holds bytes', () => {
    const w = new ByteWriter();
    w.u8(0xee);
    saveState(w, vmsd, { v: 0x0102 });
    assert.deepEqual([...w.finish()], [0xee, 0x01, 0x02]);
  });

  test('loadState reports absolute offsets when the reader has a base offset', () => {
    const r = new ByteReader(bytes(0x00), 1000);
    const err = rejects(() => loadState(r, vmsd, {}, 1), TruncatedError);
    assert.equal(err.details.offset, 1000);
  });
});
