/**
 * Byte access for packet code: fixed-offset reads and writes with the
 * endianness in the name, and the two checks that guard every public entry.
 *
 * Why not core's ByteReader/ByteWriter: a packet parser checks the span length
 * once and then reads fields at fixed offsets, per frame, on the vCPU's hot
 * path. A cursor object and a DataView per frame would allocate; these helpers
 * do not. They work on any Uint8Array, including one over guest RAM (a
 * SharedArrayBuffer). Wire fields are big-endian (network order); structures
 * the guest keeps in RAM (ARP cache, interface configuration) are little-endian
 * like everything else in guest memory, except addresses, which stay in network
 * order (as Linux keeps `__be32`) so a hexdump reads like the address.
 *
 * The read helpers do NOT bounds-check: callers check the span first
 * (`checkSpan`, then the protocol's minimum length), which is what keeps a
 * hostile frame from steering a read outside it.
 */

import { VmigError } from '../../core/index.js';

export function readU16be(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 8) | bytes[at + 1]!;
}

export function readU32be(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

export function readU16le(bytes: Uint8Array, at: number): number {
  return bytes[at]! | (bytes[at + 1]! << 8);
}

export function readU32le(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

// Uint8Array stores keep the low 8 bits, so the shifts below need no masks.

export function writeU16be(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value >>> 8;
  bytes[at + 1] = value;
}

export function writeU32be(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value >>> 24;
  bytes[at + 1] = value >>> 16;
  bytes[at + 2] = value >>> 8;
  bytes[at + 3] = value;
}

export function writeU16le(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value;
  bytes[at + 1] = value >>> 8;
}

export function writeU32le(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value;
  bytes[at + 1] = value >>> 8;
  bytes[at + 2] = value >>> 16;
  bytes[at + 3] = value >>> 24;
}

/** Zero `length` bytes from `at` (no subarray: fill with bounds is allocation-free). */
export function zeroBytes(bytes: Uint8Array, at: number, length: number): void {
  bytes.fill(0, at, at + length);
}

/**
 * Check that [offset, offset + length) lies inside `bytes`. A span outside the
 * view is the caller's bug (the frame length came from our own descriptor
 * bookkeeping), so it throws instead of returning a drop reason.
 * @throws VmigError ERR_GUEST_SPAN_OUT_OF_RANGE
 */
export function checkSpan(bytes: Uint8Array, offset: number, length: number, what: string): void {
  if (Number.isInteger(offset) && Number.isInteger(length) && offset >= 0 && length >= 0 && offset + length <= bytes.length) return;
  throw new VmigError('ERR_GUEST_SPAN_OUT_OF_RANGE', `Cannot use ${what} at [${offset}, +${length}): it is outside the ${bytes.length}-byte view`, {
    details: { what, offset, length, viewLength: bytes.length },
  });
}

/**
 * Check that a destination of `capacity` bytes can take `needed`. Transmit
 * buffers are sized by the guest itself, so running short is a caller bug.
 * @throws VmigError ERR_GUEST_BUFFER_TOO_SMALL
 */
export function requireCapacity(capacity: number, needed: number, what: string): void {
  if (capacity >= needed) return;
  throw new VmigError('ERR_GUEST_BUFFER_TOO_SMALL', `Cannot build ${what}: it needs ${needed} bytes and the buffer has ${capacity}`, {
    details: { what, needed, capacity },
  });
}

/**
 * Check an integer argument against its field's range (a VLAN id, a port).
 * Out of range is a caller bug: a Uint8Array store would silently truncate it.
 * @throws VmigError ERR_GUEST_BAD_ARGUMENT
 */
export function checkField(value: number, min: number, max: number, what: string): void {
  if (Number.isInteger(value) && value >= min && value <= max) return;
  throw new VmigError('ERR_GUEST_BAD_ARGUMENT', `Invalid ${what}: ${value} is not an integer in ${min}..${max}`, {
    details: { what, value, min, max },
  });
}

/**
 * Copy `length` bytes between two views that may share a buffer (guest RAM):
 * copyWithin for the same view, otherwise `set`, which the spec makes safe
 * for overlapping views of one buffer.
 */
export function copyBytes(src: Uint8Array, srcOffset: number, dst: Uint8Array, dstOffset: number, length: number): void {
  if (length === 0) return;
  if (src === dst) dst.copyWithin(dstOffset, srcOffset, srcOffset + length);
  else dst.set(src.subarray(srcOffset, srcOffset + length), dstOffset);
}
