/**
 * ByteReader: a bounds-checked cursor over untrusted bytes.
 *
 * Every multi-byte read names its endianness (`u32be`, `u16le`); there is no
 * default. Reads past the end throw `TruncatedError` (ERR_CORE_TRUNCATED) with
 * the absolute offset and what was expected, so an incremental decoder can tell
 * "need more bytes" from "bad bytes". `bytes(n)` returns a view, not a copy:
 * page payloads are sliced out of the input, which is what makes decoding a RAM
 * stream cheap.
 */

import { TruncatedError } from './errors.js';

export class ByteReader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #end: number;
  readonly #base: number;
  readonly #moreMayFollow: boolean;
  #pos: number;

  /**
   * @param bytes the input
   * @param baseOffset absolute offset of `bytes[0]` in the whole input, used in error messages
   * @param start first readable index in `bytes`
   * @param end one past the last readable index in `bytes`
   * @param moreMayFollow the input may continue past `end` (a socket): looking
   *   ahead past the end is then "need more bytes", not "nothing there"
   */
  constructor(bytes: Uint8Array, baseOffset = 0, start = 0, end = bytes.length, moreMayFollow = false) {
    if (start < 0 || end > bytes.length || start > end) throw new RangeError(`ByteReader window [${start}, ${end}) outside 0..${bytes.length}`);
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#pos = start;
    this.#end = end;
    this.#base = baseOffset;
    this.#moreMayFollow = moreMayFollow;
  }

  /** Absolute offset of the next byte to read. */
  get offset(): number {
    return this.#base + this.#pos;
  }

  /** Index of the next byte inside the underlying array. */
  get position(): number {
    return this.#pos;
  }

  get remaining(): number {
    return this.#end - this.#pos;
  }

  get atEnd(): boolean {
    return this.#pos >= this.#end;
  }

  /** Move the cursor back to an index previously read from `position`. */
  rewind(position: number): void {
    if (position < 0 || position > this.#end) throw new RangeError(`rewind to ${position} outside 0..${this.#end}`);
    this.#pos = position;
  }

  /** @throws TruncatedError unless `n` more bytes are available */
  ensure(n: number, expected: string): void {
    if (this.#end - this.#pos < n) this.#truncated(n, expected);
  }

  u8(expected = 'u8'): number {
    if (this.#pos >= this.#end) this.#truncated(1, expected);
    return this.#bytes[this.#pos++]!;
  }

  i8(expected = 'i8'): number {
    if (this.#pos >= this.#end) this.#truncated(1, expected);
    return this.#view.getInt8(this.#pos++);
  }

  /**
   * Look at a byte `ahead` bytes past the cursor without consuming it.
   * Past the end: undefined when the input is complete, TruncatedError when
   * more may follow (QEMU's peek blocks for the byte, so a decision that
   * depends on it must wait too).
   */
  peekU8(ahead = 0, expected = 'lookahead byte'): number | undefined {
    const at = this.#pos + ahead;
    if (at < this.#end) return this.#bytes[at];
    if (this.#moreMayFollow) this.#truncated(ahead + 1, expected);
    return undefined;
  }

  u16be(expected = 'be16'): number {
    const v = this.#view.getUint16(this.#take(2, expected), false);
    return v;
  }

  i16be(expected = 'be16'): number {
    return this.#view.getInt16(this.#take(2, expected), false);
  }

  u16le(expected = 'le16'): number {
    return this.#view.getUint16(this.#take(2, expected), true);
  }

  u32be(expected = 'be32'): number {
    return this.#view.getUint32(this.#take(4, expected), false);
  }

  i32be(expected = 'be32'): number {
    return this.#view.getInt32(this.#take(4, expected), false);
  }

  u32le(expected = 'le32'): number {
    return this.#view.getUint32(this.#take(4, expected), true);
  }

  u64be(expected = 'be64'): bigint {
    return this.#view.getBigUint64(this.#take(8, expected), false);
  }

  i64be(expected = 'be64'): bigint {
    return this.#view.getBigInt64(this.#take(8, expected), false);
  }

  u64le(expected = 'le64'): bigint {
    return this.#view.getBigUint64(this.#take(8, expected), true);
  }

  /**
   * A big-endian u64 split into two u32 halves, for hot paths (RAM record
   * headers) that must not allocate a bigint per record.
   */
  u64beHalves(expected = 'be64'): [hi: number, lo: number] {
    const at = this.#take(8, expected);
    return [this.#view.getUint32(at, false), this.#view.getUint32(at + 4, false)];
  }

  /** `n` bytes as a view into the input (no copy). */
  bytes(n: number, expected = 'bytes'): Uint8Array {
    const at = this.#take(n, expected);
    return this.#bytes.subarray(at, at + n);
  }

  skip(n: number, expected = 'bytes'): void {
    this.#take(n, expected);
  }

  /** QEMU's counted string: u8 length + that many bytes, decoded as UTF-8 (latin1-safe for ASCII). */
  str8(expected = 'counted string'): string {
    const len = this.u8(`${expected} length`);
    return decodeText(this.bytes(len, expected));
  }

  #take(n: number, expected: string): number {
    const at = this.#pos;
    if (this.#end - at < n) this.#truncated(n, expected);
    this.#pos = at + n;
    return at;
  }

  #truncated(n: number, expected: string): never {
    const available = this.#end - this.#pos;
    throw new TruncatedError(
      'ERR_CORE_TRUNCATED',
      `Input ends at byte ${this.#base + this.#end}: expected ${expected} (${n} bytes) at offset ${this.#base + this.#pos}, ${available} available`,
      { offset: this.#base + this.#pos, expected, needed: n - available },
    );
  }
}

const textDecoder = new TextDecoder('utf-8', { fatal: false });
const textEncoder = new TextEncoder();

export function decodeText(bytes: Uint8Array): string {
  // Short ASCII names dominate (idstrs, field names): skip the decoder for them.
  if (bytes.length <= 64) {
    let ascii = true;
    for (let i = 0; i < bytes.length; i++) if (bytes[i]! >= 0x80) { ascii = false; break; }
    if (ascii) return String.fromCharCode(...bytes);
  }
  return textDecoder.decode(bytes);
}

export function encodeText(text: string): Uint8Array {
  return textEncoder.encode(text);
}
