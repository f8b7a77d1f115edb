import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';

const bytesOf = (fn: (w: ByteWriter) => unknown): number[] => {
  const w = new ByteWriter();
  fn(w);
  return [...w.finish()];
};

describe('ByteWriter golden bytes', () => {
  test('u8 and i8 write one byte, i8 in two\'s complement', () => {
    assert.deepEqual(bytesOf((w) => w.u8(0).u8(0xff).i8(-1).i8(-128).i8(127)), [0x00, 0xff, 0xff, 0x80, 0x7f]);
  });

  test('u16be writes high byte first and u16le low byte first', () => {
    assert.deepEqual(bytesOf((w) => w.u16be(0x1234)), [0x12, 0x34]);
    assert.deepEqual(bytesOf((w) => w.u16le(0x1234)), [0x34, 0x12]);
  });

  test('i16be writes -2 as ff fe and -32768 as 80 00', () => {
    assert.deepEqual(bytesOf((w) => w.i16be(-2).i16be(-32768)), [0xff, 0xfe, 0x80, 0x00]);
  });

  test('u32be and u32le write 0xdeadbeef in opposite byte orders', () => {
    assert.deepEqual(bytesOf((w) => w.u32be(0xdeadbeef)), [0xde, 0xad, 0xbe, 0xef]);
    assert.deepEqual(bytesOf((w) => w.u32le(0xdeadbeef)), [0xef, 0xbe, 0xad, 0xde]);
  });

  test('i32be writes -1 as ff ff ff ff and INT32_MIN as 80 00 00 00', () => {
    assert.deepEqual(bytesOf((w) => w.i32be(-1).i32be(-0x8000_0000)), [0xff, 0xff, 0xff, 0xff, 0x80, 0, 0, 0]);
  });

  test('u64be and u64le write a bigint in the named byte order', () => {
    assert.deepEqual(bytesOf((w) => w.u64be(0x0102030405060708n)), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(bytesOf((w) => w.u64le(0x0102030405060708n)), [8, 7, 6, 5, 4, 3, 2, 1]);
    assert.deepEqual(bytesOf((w) => w.u64be(0xffff_ffff_ffff_ffffn)), [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  });

  test('i64be writes -2n as ff×7 fe and INT64_MIN as 80 00×7', () => {
    assert.deepEqual(bytesOf((w) => w.i64be(-2n)), [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]);
    assert.deepEqual(bytesOf((w) => w.i64be(-(1n << 63n))), [0x80, 0, 0, 0, 0, 0, 0, 0]);
  });

  test('u64beHalves writes the high u32 then the low u32, both big-endian', () => {
    assert.deepEqual(bytesOf((w) => w.u64beHalves(0x8000_0001, 0xffff_fffe)), [0x80, 0x00, 0x00, 0x01, 0xff, 0xff, 0xff, 0xfe]);
  });

  test('bytes appends a copy and zeros appends n zero bytes', () => {
    const src = Uint8Array.from([7, 8, 9]);
    const w = new ByteWriter();
    w.u8(1).bytes(src).zeros(3).bytes(new Uint8Array(0)).zeros(0);
    src[0] = 0;
    assert.deepEqual([...w.finish()], [1, 7, 8, 9, 0, 0, 0]);
  });

  test('str8 writes a length byte and the UTF-8 bytes with no NUL', () => {
    assert.deepEqual(bytesOf((w) => w.str8('ram')), [0x03, 0x72, 0x61, 0x6d]);
    assert.deepEqual(bytesOf((w) => w.str8('')), [0x00]);
    assert.deepEqual(bytesOf((w) => w.str8('é')), [0x02, 0xc3, 0xa9]);
    assert.equal(bytesOf((w) => w.str8('x'.repeat(255))).length, 256);
  });

  test('patchU32be overwrites a reserved be32 in place', () => {
    const w = new ByteWriter();
    w.u8(0x06);
    const at = w.length;
    w.u32be(0).bytes(Uint8Array.from([0x7b, 0x7d]));
    w.patchU32be(at, 2);
    assert.deepEqual([...w.finish()], [0x06, 0x00, 0x00, 0x00, 0x02, 0x7b, 0x7d]);
  });

  test('every write returns the writer so calls chain', () => {
    const w = new ByteWriter();
    assert.equal(w.u8(1), w);
    assert.equal(w.u64be(1n), w);
    assert.equal(w.str8('a'), w);
  });
});

describe('ByteWriter range checks', () => {
  test('integers outside their type\'s range or not integers throw RangeError and write nothing', () => {
    const w = new ByteWriter();
    const bad: [string, () => unknown][] = [
      ['u8 256', () => w.u8(256)],
      ['u8 -1', () => w.u8(-1)],
      ['u8 1.5', () => w.u8(1.5)],
      ['u8 NaN', () => w.u8(Number.NaN)],
      ['i8 128', () => w.i8(128)],
      ['i8 -129', () => w.i8(-129)],
      ['u16be 65536', () => w.u16be(0x10000)],
      ['u16le -1', () => w.u16le(-1)],
      ['i16be 32768', () => w.i16be(0x8000)],
      ['i16be -32769', () => w.i16be(-0x8001)],
      ['u32be 2^32', () => w.u32be(0x1_0000_0000)],
      ['u32le -1', () => w.u32le(-1)],
      ['i32be 2^31', () => w.i32be(0x8000_0000)],
      ['i32be -2^31-1', () => w.i32be(-0x8000_0001)],
      ['u64be 2^64', () => w.u64be(1n << 64n)],
      ['u64be -1n', () => w.u64be(-1n)],
      ['u64le 2^64', () => w.u64le(1n << 64n)],
      ['u64be number', () => w.u64be(5 as unknown as bigint)],
      ['i64be 2^63', () => w.i64be(1n << 63n)],
      ['i64be -2^63-1', () => w.i64be(-(1n << 63n) - 1n)],
      ['u64beHalves hi 2^32', () => w.u64beHalves(0x1_0000_0000, 0)],
      ['u64beHalves lo -1', () => w.u64beHalves(0, -1)],
      ['zeros -1', () => w.zeros(-1)],
      ['str8 256 bytes', () => w.str8('y'.repeat(256))],
      ['str8 128 two-byte chars', () => w.str8('é'.repeat(128))],
    ];
    for (const [name, fn] of bad) assert.throws(fn, RangeError, name);
    assert.equal(w.length, 0);
  });

  test('patchU32be outside the written bytes or with an out-of-range value throws RangeError', () => {
    const w = new ByteWriter();
    w.u32be(0);
    assert.throws(() => w.patchU32be(1, 0), RangeError);
    assert.throws(() => w.patchU32be(-1, 0), RangeError);
    assert.throws(() => w.patchU32be(0, 0x1_0000_0000), RangeError);
  });

  test('boundary values of every width are accepted', () => {
    assert.deepEqual(
      bytesOf((w) => w.u8(255).i8(-128).u16be(0xffff).i16be(-0x8000).u32be(0xffff_ffff).i32be(0x7fff_ffff)),
      [0xff, 0x80, 0xff, 0xff, 0x80, 0x00, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff],
    );
  });
});

describe('ByteWriter buffer management', () => {
  test('writing past the initial capacity grows the buffer and keeps every byte', () => {
    const w = new ByteWriter(1);
    for (let i = 0; i < 1000; i++) w.u16be(i);
    assert.equal(w.length, 2000);
    const out = w.finish();
    const r = new ByteReader(out);
    for (let i = 0; i < 1000; i++) assert.equal(r.u16be(), i);
  });

  test('a single large write grows the buffer enough at once', () => {
    const w = new ByteWriter(16);
    w.u8(1).zeros(10_000).u8(2);
    const out = w.finish();
    assert.equal(out.length, 10_002);
    assert.equal(out[0], 1);
    assert.equal(out[10_001], 2);
    assert.ok(out.subarray(1, 10_001).every((b) => b === 0));
  });

  test('finish returns an exactly-sized copy and resets the writer', () => {
    const w = new ByteWriter();
    w.u8(1).u8(2);
    const a = w.finish();
    assert.equal(a.length, 2);
    assert.equal(a.buffer.byteLength, 2);
    assert.equal(w.length, 0);
    w.u8(3);
    assert.deepEqual([...w.finish()], [3]);
    assert.deepEqual([...a], [1, 2]);
  });

  test('peek shows the bytes written so far without resetting', () => {
    const w = new ByteWriter();
    w.u16be(0xabcd);
    assert.deepEqual([...w.peek()], [0xab, 0xcd]);
    assert.equal(w.length, 2);
  });

  test('whatever ByteWriter writes, ByteReader reads back with the same methods', () => {
    const w = new ByteWriter();
    w.u8(200).i8(-5).u16be(0xbeef).i16be(-300).u16le(0x0102).u32be(0xcafebabe).i32be(-123456).u32le(0x01020304)
      .u64be(0xfedcba9876543210n).i64be(-987654321987n).u64le(0x1122334455667788n).u64beHalves(0x01, 0xfffffffe).str8('virtio-net');
    const r = new ByteReader(w.finish());
    assert.equal(r.u8(), 200);
    assert.equal(r.i8(), -5);
    assert.equal(r.u16be(), 0xbeef);
    assert.equal(r.i16be(), -300);
    assert.equal(r.u16le(), 0x0102);
    assert.equal(r.u32be(), 0xcafebabe);
    assert.equal(r.i32be(), -123456);
    assert.equal(r.u32le(), 0x01020304);
    assert.equal(r.u64be(), 0xfedcba9876543210n);
    assert.equal(r.i64be(), -987654321987n);
    assert.equal(r.u64le(), 0x1122334455667788n);
    assert.deepEqual(r.u64beHalves(), [1, 0xfffffffe]);
    assert.equal(r.str8(), 'virtio-net');
    assert.equal(r.atEnd, true);
  });
});

describe('ByteWriter.swap (a sender recycling its buffers)', () => {
  test('hands over the bytes as a view of the old buffer and writes on into the new one', () => {
    const first = new Uint8Array(64);
    const w = new ByteWriter(16);
    w.u32be(0x11223344);
    const a = w.swap(first);
    assert.deepEqual([...a], [0x11, 0x22, 0x33, 0x44]);
    w.u16le(0xbeef).u8(7);
    const second = new Uint8Array(64);
    const b = w.swap(second);
    assert.equal(b.buffer, first.buffer, 'no copy: the view is of the buffer handed in before');
    assert.deepEqual([...b], [0xef, 0xbe, 7]);
    assert.equal(w.length, 0);
  });

  test('a buffer handed in at an offset is written from its start, and outgrown safely', () => {
    const backing = new Uint8Array(32);
    const w = new ByteWriter();
    w.swap(backing.subarray(8, 12));
    w.u32le(0x04030201).u8(5).u8(6); // past the 4 bytes handed in: the writer grows
    const out = w.finish();
    assert.deepEqual([...out], [1, 2, 3, 4, 5, 6]);
    assert.deepEqual([...backing.subarray(0, 8)], [0, 0, 0, 0, 0, 0, 0, 0], 'nothing written before the view');
  });
});
