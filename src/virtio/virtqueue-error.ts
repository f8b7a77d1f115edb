/**
 * VirtqueueError: the guest broke a virtqueue rule (a descriptor pointing
 * outside RAM, a loop, an avail idx from nowhere), or a queue configuration or
 * saved queue state is invalid. It is a condition, not a crash: the queue's
 * state is left as it was and the device above sets DEVICE_NEEDS_RESET
 * (virtio 1.2 §2.1.2) and logs the facts in `details`.
 */

import { VmigError } from '../core/index.js';

/** Codes a VirtqueueError can carry (docs/errors.md). */
export type VirtqueueErrorCode =
  | 'ERR_VIRTIO_BAD_QUEUE_CONFIG'
  | 'ERR_VIRTIO_BAD_QUEUE_STATE'
  | 'ERR_VIRTIO_BAD_AVAIL_IDX'
  | 'ERR_VIRTIO_BAD_DESCRIPTOR_INDEX'
  | 'ERR_VIRTIO_BUFFER_OUT_OF_RANGE'
  | 'ERR_VIRTIO_CHAIN_TOO_LONG'
  | 'ERR_VIRTIO_CHAIN_TOO_LARGE'
  | 'ERR_VIRTIO_READABLE_AFTER_WRITABLE'
  | 'ERR_VIRTIO_BAD_INDIRECT_TABLE'
  | 'ERR_VIRTIO_NESTED_INDIRECT';

export class VirtqueueError extends VmigError {
  declare readonly code: VirtqueueErrorCode;

  constructor(code: VirtqueueErrorCode, message: string, details: Record<string, unknown>, cause?: unknown) {
    super(code, message, { details, cause });
  }
}
