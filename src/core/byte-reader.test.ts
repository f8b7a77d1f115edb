import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { ByteReader, decodeText, encodeText } from './byte-reader.js';
import { MalformedError, TruncatedError, VmigError } from './errors.js';

const u8 = (...b: number[]): Uint8Array => Uint8Array.from(b);

/** Run `fn`, require a TruncatedError and return it for detail checks. */
function truncation(fn: () => unknown): TruncatedError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof TruncatedError, `expected TruncatedError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a TruncatedError, nothing was thrown');
}

describe('ByteReader integer reads', () => {
  test('u8 and i8 read one byte, i8 as two\'s complement', () => {
    const r = new ByteReader(u8(0xff, 0x80, 0x7f));
    assert.equal(r.u8(), 0xff);
    assert.equal(r.i8(), -128);
    assert.equal(r.i8(), 127);
    assert.equal(r.atEnd, true);
  });

  test('u16be reads the high byte first and u16le the low byte first', () => {
    assert.equal(new ByteReader(u8(0x12, 0x34)).u16be(), 0x1234);
    assert.equal(new ByteReader(u8(0x12, 0x34)).u16le(), 0x3412);
  });

  test('i16be decodes 0xfffe as -2 and 0x8000 as -32768', () => {
    const r = new ByteReader(u8(0xff, 0xfe, 0x80, 0x00));
    assert.equal(r.i16be(), -2);
    assert.equal(r.i16be(), -32768);
  });

  test('u32be, u32le and i32be read the same four bytes with their own byte order and sign', () => {
    const b = u8(0xde, 0xad, 0xbe, 0xef);
    assert.equal(new ByteReader(b).u32be(), 0xdeadbeef);
    assert.equal(new ByteReader(b).u32le(), 0xefbeadde);
    assert.equal(new ByteReader(b).i32be(), 0xdeadbeef - 0x1_0000_0000);
    assert.equal(new ByteReader(u8(0xff, 0xff, 0xff, 0xff)).i32be(), -1);
  });

  test('u64be, u64le and i64be return bigints with the named byte order', () => {
    const b = u8(0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08);
    assert.equal(new ByteReader(b).u64be(), 0x0102030405060708n);
    assert.equal(new ByteReader(b).u64le(), 0x0807060504030201n);
    const ones = new Uint8Array(8).fill(0xff);
    assert.equal(new ByteReader(ones).u64be(), 0xffff_ffff_ffff_ffffn);
    assert.equal(new ByteReader(ones).i64be(), -1n);
    assert.equal(new ByteReader(u8(0x80, 0, 0, 0, 0, 0, 0, 0)).i64be(), -(1n << 63n));
  });

  test('u64beHalves splits a big-endian u64 into [high u32, low u32] without a bigint', () => {
    const r = new ByteReader(u8(0x80, 0x00, 0x00, 0x01, 0xff, 0xff, 0xff, 0xfe));
    const [hi, lo] = r.u64beHalves();
    assert.equal(hi, 0x8000_0001);
    assert.equal(lo, 0xffff_fffe);
    assert.equal(r.atEnd, true);
  });

  test('consecutive reads advance offset, position and remaining by the widths read', () => {
    const r = new ByteReader(new Uint8Array(15));
    r.u8();
    r.u16be();
    r.u32be();
    assert.equal(r.offset, 7);
    assert.equal(r.position, 7);
    assert.equal(r.remaining, 8);
    r.u64be();
    assert.equal(r.remaining, 0);
    assert.equal(r.atEnd, true);
  });
});

describe('ByteReader bytes, skip, peek, rewind, str8', () => {
  test('bytes(n) returns a view of the input, not a copy', () => {
    const input = u8(1, 2, 3, 4);
    const r = new ByteReader(input);
    r.u8();
    const view = r.bytes(2);
    assert.deepEqual([...view], [2, 3]);
    input[1] = 0x99;
    assert.equal(view[0], 0x99);
    assert.equal(view.buffer, input.buffer);
  });

  test('skip(n) advances without returning and bytes(0) is an empty view', () => {
    const r = new ByteReader(u8(1, 2, 3));
    r.skip(2);
    assert.equal(r.bytes(0).length, 0);
    assert.equal(r.u8(), 3);
  });

  test('peekU8 looks ahead without consuming and returns undefined past the end', () => {
    const r = new ByteReader(u8(0x05, 0x0a));
    assert.equal(r.peekU8(), 0x05);
    assert.equal(r.peekU8(1), 0x0a);
    assert.equal(r.peekU8(2), undefined);
    assert.equal(r.position, 0);
    r.u8();
    assert.equal(r.peekU8(), 0x0a);
    assert.equal(r.peekU8(1), undefined);
  });

  test('peekU8 past the end throws TruncatedError when more input may follow, with the bytes still needed', () => {
    const r = new ByteReader(u8(0x05, 0x0a, 0xff), 100, 0, 2, true);
    assert.equal(r.peekU8(1), 0x0a);
    const err = truncation(() => r.peekU8(3, 'subsection name'));
    assert.equal(err.code, 'ERR_CORE_TRUNCATED');
    assert.equal(err.details.offset, 100);
    assert.equal(err.details.needed, 2);
    assert.equal(err.details.expected, 'subsection name');
    assert.equal(r.position, 0);
  });

  test('rewind returns the cursor to a saved position and rejects positions outside the window', () => {
    const r = new ByteReader(u8(1, 2, 3));
    const mark = r.position;
    r.u16be();
    r.rewind(mark);
    assert.equal(r.u8(), 1);
    r.rewind(3);
    assert.equal(r.atEnd, true);
    assert.throws(() => r.rewind(4), RangeError);
    assert.throws(() => r.rewind(-1), RangeError);
  });

  test('str8 reads a length byte then that many bytes, with no NUL terminator', () => {
    const r = new ByteReader(u8(0x03, 0x72, 0x61, 0x6d, 0x00));
    assert.equal(r.str8(), 'ram');
    assert.equal(r.u8(), 0x00);
  });

  test('str8 of length zero is the empty string and decodes UTF-8 bytes', () => {
    assert.equal(new ByteReader(u8(0x00)).str8(), '');
    assert.equal(new ByteReader(u8(0x02, 0xc3, 0xa9)).str8(), 'é');
  });

  test('decodeText and encodeText round-trip ASCII and long non-ASCII text', () => {
    const long = 'ü'.repeat(40) + 'x'.repeat(30);
    assert.equal(decodeText(encodeText(long)), long);
    assert.equal(decodeText(u8(0x61, 0x62)), 'ab');
    assert.deepEqual([...encodeText('ab')], [0x61, 0x62]);
  });
});

describe('ByteReader windows and truncation', () => {
  test('a window [start, end) limits reads and offset is absolute with baseOffset', () => {
    const r = new ByteReader(u8(9, 9, 0xaa, 0xbb, 9), 1000, 2, 4);
    assert.equal(r.offset, 1002);
    assert.equal(r.position, 2);
    assert.equal(r.remaining, 2);
    assert.equal(r.u16be(), 0xaabb);
    assert.equal(r.atEnd, true);
    const err = truncation(() => r.u8());
    assert.equal(err.details.offset, 1004);
  });

  test('a window outside the input is refused with RangeError', () => {
    assert.throws(() => new ByteReader(u8(1, 2), 0, 0, 3), RangeError);
    assert.throws(() => new ByteReader(u8(1, 2), 0, 2, 1), RangeError);
    assert.throws(() => new ByteReader(u8(1, 2), 0, -1, 2), RangeError);
  });

  test('reading a be32 with two bytes left throws TruncatedError ERR_CORE_TRUNCATED with absolute offset, needed and expected', () => {
    const r = new ByteReader(u8(0, 0, 0, 0xaa, 0xbb), 500);
    r.skip(3);
    const err = truncation(() => r.u32be('be32 section id'));
    assert.equal(err.code, 'ERR_CORE_TRUNCATED');
    assert.equal(err.details.offset, 503);
    assert.equal(err.offset, 503);
    assert.equal(err.details.needed, 2);
    assert.equal(err.details.expected, 'be32 section id');
    assert.ok(err instanceof VmigError);
    assert.ok(!(err instanceof MalformedError));
    assert.match(err.message, /be32 section id/);
  });

  test('a failed read does not move the cursor', () => {
    const r = new ByteReader(u8(1, 2, 3));
    r.u8();
    truncation(() => r.u64be());
    assert.equal(r.position, 1);
    assert.equal(r.u16be(), 0x0203);
  });

  test('every read method throws TruncatedError on an empty input with needed equal to its width', () => {
    const cases: [string, (r: ByteReader) => unknown, number][] = [
      ['u8', (r) => r.u8(), 1],
      ['i8', (r) => r.i8(), 1],
      ['u16be', (r) => r.u16be(), 2],
      ['i16be', (r) => r.i16be(), 2],
      ['u16le', (r) => r.u16le(), 2],
      ['u32be', (r) => r.u32be(), 4],
      ['i32be', (r) => r.i32be(), 4],
      ['u32le', (r) => r.u32le(), 4],
      ['u64be', (r) => r.u64be(), 8],
      ['i64be', (r) => r.i64be(), 8],
      ['u64le', (r) => r.u64le(), 8],
      ['u64beHalves', (r) => r.u64beHalves(), 8],
      ['bytes(5)', (r) => r.bytes(5), 5],
      ['skip(3)', (r) => r.skip(3), 3],
      ['str8', (r) => r.str8(), 1],
      ['ensure(7)', (r) => r.ensure(7, 'seven'), 7],
    ];
    for (const [name, read, width] of cases) {
      const err = truncation(() => read(new ByteReader(new Uint8Array(0), 42)));
      assert.equal(err.code, 'ERR_CORE_TRUNCATED', name);
      assert.equal(err.details.needed, width, name);
      assert.equal(err.details.offset, 42, name);
    }
  });

  test('default expected strings name the endianness of the read', () => {
    assert.equal(truncation(() => new ByteReader(u8(1)).u16be()).details.expected, 'be16');
    assert.equal(truncation(() => new ByteReader(u8(1)).u16le()).details.expected, 'le16');
    assert.equal(truncation(() => new ByteReader(u8(1)).u32le()).details.expected, 'le32');
    assert.equal(truncation(() => new ByteReader(u8(1)).u64be()).details.expected, 'be64');
  });

  test('str8 whose length byte promises more than is left fails after the length byte, needing the missing bytes', () => {
    const r = new ByteReader(u8(0x05, 0x61, 0x62), 10);
    const err = truncation(() => r.str8('idstr'));
    assert.equal(err.details.offset, 11);
    assert.equal(err.details.needed, 3);
    assert.equal(err.details.expected, 'idstr');
  });

  test('ensure passes when enough bytes remain and does not consume them', () => {
    const r = new ByteReader(u8(1, 2));
    r.ensure(2, 'two');
    assert.equal(r.position, 0);
    r.ensure(0, 'none');
  });
});
