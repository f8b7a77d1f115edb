/**
 * DescriptorChain: one request the driver made available, as the device sees
 * it after validation: the head index (what goes back in the used ring) and
 * the buffers, device-readable ones first, then device-writable ones
 * (virtio 1.2 §2.7.4.2), with indirect tables already flattened.
 *
 * Every buffer was checked to lie inside guest RAM when the chain was popped,
 * and RAM never shrinks, so the copy helpers below cannot fault. They read
 * guest memory at the time they run: the driver could rewrite a buffer after
 * making it available (a hostile guest racing the device), which changes the
 * data the device sees but never where it reads or writes.
 */

import type { GuestMemory } from '../memory/index.js';

/** A guest-physical buffer, already validated to lie inside RAM. */
export interface GuestBuffer {
  readonly gpa: number;
  readonly len: number;
}

export class DescriptorChain {
  /** Index of the chain's first descriptor: the `id` of its used ring element. */
  readonly head: number;
  /** Device-readable buffers, in chain order. */
  readonly readable: readonly GuestBuffer[];
  /** Device-writable buffers, in chain order (all after the readable ones). */
  readonly writable: readonly GuestBuffer[];
  /** Sum of the readable buffers' lengths. */
  readonly readableLength: number;
  /** Sum of the writable buffers' lengths. */
  readonly writableLength: number;
  readonly #memory: GuestMemory;

  /** Built by SplitQueue.popAvailable(); the buffers must already be validated. */
  constructor(memory: GuestMemory, head: number, readable: readonly GuestBuffer[], writable: readonly GuestBuffer[]) {
    this.#memory = memory;
    this.head = head;
    this.readable = readable;
    this.writable = writable;
    this.readableLength = sumLengths(readable);
    this.writableLength = sumLengths(writable);
  }

  /** All readable bytes, concatenated into a new array. */
  copyReadable(): Uint8Array {
    const out = new Uint8Array(this.readableLength);
    this.copyReadableInto(out);
    return out;
  }

  /**
   * Copy readable bytes, starting `offset` bytes into the readable data, into
   * `target` until either runs out. Returns the number of bytes copied.
   */
  copyReadableInto(target: Uint8Array, offset = 0): number {
    checkOffset(offset);
    let copied = 0;
    let skip = offset;
    for (const buf of this.readable) {
      if (copied === target.length) break;
      if (skip >= buf.len) {
        skip -= buf.len;
        continue;
      }
      const n = Math.min(buf.len - skip, target.length - copied);
      target.set(this.#memory.slice(buf.gpa + skip, n), copied);
      copied += n;
      skip = 0;
    }
    return copied;
  }

  /** Views (not copies) of the readable buffers, for zero-copy consumers. */
  readableViews(): Uint8Array[] {
    return this.readable.map((b) => this.#memory.slice(b.gpa, b.len));
  }

  /**
   * Write `data` into the writable buffers, starting `offset` bytes into the
   * writable space, marking the pages dirty. Writes what fits and returns the
   * number of bytes written: a device compares it with `data.length` (and
   * checks `writableLength` first when a short write is an error for it).
   */
  writeWritable(data: Uint8Array, offset = 0): number {
    checkOffset(offset);
    let written = 0;
    let skip = offset;
    for (const buf of this.writable) {
      if (written === data.length) break;
      if (skip >= buf.len) {
        skip -= buf.len;
        continue;
      }
      const n = Math.min(buf.len - skip, data.length - written);
      this.#memory.write(buf.gpa + skip, data.subarray(written, written + n));
      written += n;
      skip = 0;
    }
    return written;
  }
}

function sumLengths(buffers: readonly GuestBuffer[]): number {
  let total = 0;
  for (const b of buffers) total += b.len;
  return total;
}

function checkOffset(offset: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`a chain offset must be a non-negative integer, got ${offset}`);
}
