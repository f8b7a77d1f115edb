/**
 * ByteWriter: a growable output buffer with explicitly-endian writes.
 *
 * Encoders are pure functions from values to bytes; they write into a ByteWriter
 * and take the result with `finish()`. Values are range-checked: writing 256 as
 * a u8 is a bug in the caller and throws RangeError rather than truncating
 * silently into the stream.
 */

import { encodeText } from './byte-reader.js';

const INITIAL_CAPACITY = 256;

/**
 * Copies all of `src` into `dst` at `dstOffset`. For bytes that come out of
 * shared memory (guest RAM), which TypedArray.set copies slowly: the host
 * layer's native copy (host/copy-bytes.ts).
 */
export type CopyBytes = (dst: Uint8Array, dstOffset: number, src: Uint8Array) => void;

export class ByteWriter {
  #buf: Uint8Array;
  #view: DataView;
  #len = 0;

  constructor(initialCapacity = INITIAL_CAPACITY) {
    this.#buf = new Uint8Array(Math.max(16, initialCapacity));
    this.#view = new DataView(this.#buf.buffer);
  }

  get length(): number {
    return this.#len;
  }

  u8(v: number): this {
    checkInt(v, 0, 0xff, 'u8');
    this.#grow(1);
    this.#buf[this.#len++] = v;
    return this;
  }

  i8(v: number): this {
    checkInt(v, -0x80, 0x7f, 'i8');
    this.#grow(1);
    this.#view.setInt8(this.#len++, v);
    return this;
  }

  u16be(v: number): this {
    checkInt(v, 0, 0xffff, 'u16');
    this.#grow(2);
    this.#view.setUint16(this.#len, v, false);
    this.#len += 2;
    return this;
  }

  i16be(v: number): this {
    checkInt(v, -0x8000, 0x7fff, 'i16');
    this.#grow(2);
    this.#view.setInt16(this.#len, v, false);
    this.#len += 2;
    return this;
  }

  u16le(v: number): this {
    checkInt(v, 0, 0xffff, 'u16');
    this.#grow(2);
    this.#view.setUint16(this.#len, v, true);
    this.#len += 2;
    return this;
  }

  u32be(v: number): this {
    checkInt(v, 0, 0xffff_ffff, 'u32');
    this.#grow(4);
    this.#view.setUint32(this.#len, v, false);
    this.#len += 4;
    return this;
  }

  i32be(v: number): this {
    checkInt(v, -0x8000_0000, 0x7fff_ffff, 'i32');
    this.#grow(4);
    this.#view.setInt32(this.#len, v, false);
    this.#len += 4;
    return this;
  }

  u32le(v: number): this {
    checkInt(v, 0, 0xffff_ffff, 'u32');
    this.#grow(4);
    this.#view.setUint32(this.#len, v, true);
    this.#len += 4;
    return this;
  }

  u64be(v: bigint): this {
    if (typeof v !== 'bigint' || v < 0n || v > 0xffff_ffff_ffff_ffffn) throw new RangeError(`u64 out of range: ${String(v)}`);
    this.#grow(8);
    this.#view.setBigUint64(this.#len, v, false);
    this.#len += 8;
    return this;
  }

  i64be(v: bigint): this {
    if (typeof v !== 'bigint' || v < -(1n << 63n) || v >= 1n << 63n) throw new RangeError(`i64 out of range: ${String(v)}`);
    this.#grow(8);
    this.#view.setBigInt64(this.#len, v, false);
    this.#len += 8;
    return this;
  }

  u64le(v: bigint): this {
    if (typeof v !== 'bigint' || v < 0n || v > 0xffff_ffff_ffff_ffffn) throw new RangeError(`u64 out of range: ${String(v)}`);
    this.#grow(8);
    this.#view.setBigUint64(this.#len, v, true);
    this.#len += 8;
    return this;
  }

  /** A big-endian u64 given as two u32 halves (hot paths avoid bigint). */
  u64beHalves(hi: number, lo: number): this {
    checkInt(hi, 0, 0xffff_ffff, 'u64 high half');
    checkInt(lo, 0, 0xffff_ffff, 'u64 low half');
    this.#grow(8);
    this.#view.setUint32(this.#len, hi, false);
    this.#view.setUint32(this.#len + 4, lo, false);
    this.#len += 8;
    return this;
  }

  /** `b`'s bytes; copied by `copy` when given (see CopyBytes), by TypedArray.set otherwise. */
  bytes(b: Uint8Array, copy?: CopyBytes): this {
    this.#grow(b.length);
    if (copy) copy(this.#buf, this.#len, b);
    else this.#buf.set(b, this.#len);
    this.#len += b.length;
    return this;
  }

  /** `n` zero bytes (QEMU's VMSTATE_UNUSED). */
  zeros(n: number): this {
    checkInt(n, 0, 0x7fff_ffff, 'zero count');
    this.#grow(n);
    this.#buf.fill(0, this.#len, this.#len + n);
    this.#len += n;
    return this;
  }

  /** QEMU's counted string: u8 length + bytes, no NUL; names of 256 bytes or more are a bug. */
  str8(s: string): this {
    const b = encodeText(s);
    if (b.length > 255) throw new RangeError(`counted string longer than 255 bytes: ${s.slice(0, 40)}…`);
    this.u8(b.length);
    return this.bytes(b);
  }

  /** Overwrite a be32 written earlier (reserve-then-patch for length prefixes). */
  patchU32be(at: number, v: number): void {
    checkInt(v, 0, 0xffff_ffff, 'u32');
    if (at < 0 || at + 4 > this.#len) throw new RangeError(`patch at ${at} outside written bytes`);
    this.#view.setUint32(at, v, false);
  }

  /** The bytes written so far, as a view (valid until the next write). */
  peek(): Uint8Array {
    return this.#buf.subarray(0, this.#len);
  }

  /**
   * The bytes written; the writer is reset. A mostly-full buffer is handed
   * over as a view (no copy of a large stream); a mostly-empty one is copied
   * so the caller does not pin the spare capacity.
   */
  finish(): Uint8Array {
    let out: Uint8Array;
    if (this.#len * 2 >= this.#buf.length) {
      out = this.#buf.subarray(0, this.#len);
      // The next batch is likely the same size (a sender flushing as it goes): don't regrow from scratch.
      this.#buf = new Uint8Array(Math.max(INITIAL_CAPACITY, this.#buf.length));
      this.#view = new DataView(this.#buf.buffer);
    } else {
      out = this.#buf.slice(0, this.#len);
    }
    this.#len = 0;
    return out;
  }

  /**
   * The bytes written, as a view of the current buffer (no copy); writing
   * goes on into `next`, which the caller owns until it hands it over here. A
   * sender recycling its buffers this way allocates nothing per batch.
   */
  swap(next: Uint8Array): Uint8Array {
    const out = this.#buf.subarray(0, this.#len);
    this.#buf = next;
    this.#view = new DataView(next.buffer, next.byteOffset, next.byteLength);
    this.#len = 0;
    return out;
  }

  #grow(n: number): void {
    const need = this.#len + n;
    if (need <= this.#buf.length) return;
    let cap = this.#buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }
}

function checkInt(v: number, min: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${what} out of range: ${v}`);
}
