/**
 * Errors of the memory layer. A `GuestMemoryError` means an access the guest
 * (or a device acting on guest-supplied addresses) asked for cannot be done:
 * it is a condition to handle (virtio marks the device DEVICE_NEEDS_RESET),
 * not a VMM crash. Misuse by vmig's own code (a non-u8 value given to
 * `writeU8`, a page index past the bitmap) stays a plain RangeError.
 */

import { VmigError } from '../core/index.js';

/** Codes a GuestMemoryError can carry (docs/errors.md). */
export type GuestMemoryErrorCode =
  | 'ERR_MEMORY_OUT_OF_RANGE'
  | 'ERR_MEMORY_MISALIGNED'
  | 'ERR_MEMORY_BAD_SIZE'
  | 'ERR_MEMORY_UNSUPPORTED_HOST';

/** An access to guest memory that cannot be done; `details` has the facts (gpa, len, size). */
export class GuestMemoryError extends VmigError {
  declare readonly code: GuestMemoryErrorCode;

  constructor(code: GuestMemoryErrorCode, message: string, details: Record<string, unknown>, cause?: unknown) {
    super(code, message, { details, cause });
  }
}
