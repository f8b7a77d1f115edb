/**
 * A scatter/gather list for readv/writev straight into or out of guest memory.
 *
 * A virtio buffer is a descriptor chain: several (address, length) pieces of
 * guest RAM, and guest RAM is one SharedArrayBuffer over a memfd (DESIGN §3).
 * Moving a frame between a TAP queue and the guest is then one readv/writev
 * over those pieces, with no copy through a JS buffer on the way.
 *
 * An IoVec is built once and refilled per frame (`clear()`, then `add()` per
 * piece), so the frame path allocates nothing: the pieces are triples (view
 * index, byte offset, byte length) in a Uint32Array the addon reads directly,
 * and the views they point into (usually the one view of guest RAM, maybe a
 * scratch header buffer) stay registered across `clear()`.
 */

import { VmigError } from '../core/index.js';

/** Linux's UIO_MAXIOV: readv/writev take at most this many segments. */
export const IOV_MAX = 1024;

/** A table offset or length is a u32. */
const U32_MAX = 0xffff_ffff;

/** More distinct views than this are forgotten on `clear()`, so an IoVec fed fresh views cannot grow without bound. */
const KEPT_VIEWS = 8;

export class IoVec {
  /** Most segments this list holds (at most IOV_MAX). */
  readonly capacity: number;
  /** The views segments point into; read by the addon, not for callers. */
  readonly views: ArrayBufferView[] = [];
  /** `count` triples (index into `views`, byte offset, byte length); read by the addon, not for callers. */
  readonly table: Uint32Array;
  #count = 0;
  #byteLength = 0;

  constructor(capacity = 64) {
    if (!Number.isSafeInteger(capacity) || capacity < 1 || capacity > IOV_MAX) {
      throw new VmigError('ERR_HOST_OUT_OF_RANGE', `an IoVec holds 1 to ${IOV_MAX} segments, got capacity ${capacity}`, {
        details: { capacity },
      });
    }
    this.capacity = capacity;
    this.table = new Uint32Array(3 * capacity);
  }

  /** Segments added since the last `clear()`. */
  get count(): number {
    return this.#count;
  }

  /** Total bytes of all segments: the most one readv can fill or one writev send. */
  get byteLength(): number {
    return this.#byteLength;
  }

  clear(): this {
    this.#count = 0;
    this.#byteLength = 0;
    if (this.views.length > KEPT_VIEWS) this.views.length = 0;
    return this;
  }

  /**
   * Appends bytes [byteOffset, byteOffset + byteLength) of `view` (offsets are
   * in bytes, relative to the view, whatever its element type).
   * @throws VmigError ERR_HOST_OUT_OF_RANGE when full or the range is outside the view
   */
  add(view: ArrayBufferView, byteOffset = 0, byteLength = view.byteLength - byteOffset): this {
    if (!ArrayBuffer.isView(view)) {
      throw new VmigError('ERR_HOST_INVALID_ARG_TYPE', 'an IoVec segment must be an ArrayBufferView (a Uint8Array of guest RAM, ...)');
    }
    if (this.#count === this.capacity) {
      throw new VmigError('ERR_HOST_OUT_OF_RANGE', `the IoVec is full (${this.capacity} segments); make a larger one`, {
        details: { capacity: this.capacity },
      });
    }
    if (
      !Number.isSafeInteger(byteOffset) ||
      !Number.isSafeInteger(byteLength) ||
      byteOffset < 0 ||
      byteLength < 0 ||
      byteOffset + byteLength > view.byteLength ||
      byteOffset > U32_MAX ||
      byteLength > U32_MAX
    ) {
      throw new VmigError(
        'ERR_HOST_OUT_OF_RANGE',
        `segment [${byteOffset}, +${byteLength}) is not inside its view of ${view.byteLength} bytes (or exceeds 2^32-1)`,
        { details: { byteOffset, byteLength, viewByteLength: view.byteLength } },
      );
    }
    let index = this.views.indexOf(view);
    if (index < 0) index = this.views.push(view) - 1;
    const at = 3 * this.#count;
    this.table[at] = index;
    this.table[at + 1] = byteOffset;
    this.table[at + 2] = byteLength;
    this.#count++;
    this.#byteLength += byteLength;
    return this;
  }
}
