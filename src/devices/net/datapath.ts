/**
 * Moving frames between the backend and the guest's virtqueues
 * (virtio 1.2 §5.1.6.3–§5.1.6.4; QEMU virtio_net_receive_rcu and
 * virtio_net_flush_tx). Frames carry their 12-byte virtio_net_hdr_v1 on both
 * sides and the guest uses the same header length (VERSION_1 is always
 * negotiated), so header and data are copied as one run of bytes.
 *
 * RX, one frame:
 *   pop chain 1 ─ write header+data into its writable buffers ─ pop chain 2 … (MRG_RXBUF)
 *   num_buffers (le16 at header offset 10) := chains used
 *   addUsed(head_i, bytes_i) for each, in order ─ publishUsed()
 * When the buffers run out part-way, every popped chain is given back
 * (undoPop) and the caller holds the frame until the guest refills: nothing
 * is half-done. Without MRG_RXBUF a frame larger than one chain is dropped,
 * as QEMU does.
 *
 * TX: pop a chain ─ its readable buffers (header first) go to the backend as
 * views of guest memory ─ addUsed(head, 0). A backend that is full takes
 * nothing: the chain is given back and the flush stops, so no chain is ever
 * held across event-loop turns.
 */

import { VmigError } from '../../core/index.js';
import type { DescriptorChain, SplitQueue } from '../../virtio/index.js';
import { VIRTIO_NET_HDR_NUM_BUFFERS_OFFSET, VIRTIO_NET_HDR_V1_SIZE } from './spec-constants.js';

/** The guest broke a virtio-net rule: QEMU's virtio_error (the device needs a reset). */
export function guestError(message: string, details: Record<string, unknown> = {}): VmigError {
  return new VmigError('ERR_NET_GUEST_ERROR', `virtio-net: ${message}; the device needs a reset`, { details });
}

export type RxCopyResult = { kind: 'delivered'; buffers: number } | { kind: 'no-buffers' } | { kind: 'too-big' };

/**
 * Put one frame (header first) into the guest's RX queue.
 * @throws VirtqueueError for a broken ring; VmigError ERR_NET_GUEST_ERROR for
 *   a receive chain without writable buffers. Either way nothing stays popped.
 */
export function copyToRxQueue(vq: SplitQueue, frame: Uint8Array, mergeable: boolean): RxCopyResult {
  const chains: DescriptorChain[] = [];
  const lens: number[] = [];
  const giveBack = (): void => {
    for (let i = 0; i < chains.length; i++) vq.undoPop();
  };
  let offset = 0;
  while (offset < frame.length) {
    let chain: DescriptorChain | undefined;
    try {
      chain = vq.popAvailable();
    } catch (err) {
      giveBack();
      throw err;
    }
    if (chain === undefined) {
      giveBack();
      return { kind: 'no-buffers' };
    }
    chains.push(chain);
    if (chain.writable.length === 0) {
      giveBack();
      throw guestError('receive queue contains no in buffers', { head: chain.head });
    }
    const n = chain.writeWritable(frame.subarray(offset));
    lens.push(n);
    offset += n;
    if (!mergeable && offset < frame.length) {
      giveBack();
      return { kind: 'too-big' };
    }
  }
  // num_buffers: how many chains hold the frame (1 without MRG_RXBUF, virtio 1.2 §5.1.6.4.1).
  const count = new Uint8Array([chains.length & 0xff, chains.length >> 8]);
  chains[0]?.writeWritable(count, VIRTIO_NET_HDR_NUM_BUFFERS_OFFSET);
  for (let i = 0; i < chains.length; i++) vq.addUsed(chains[i]!.head, lens[i]!);
  vq.publishUsed();
  return { kind: 'delivered', buffers: chains.length };
}

export interface TxFlushResult {
  /** Chains completed (sent, or dropped because the link is down). */
  completed: number;
  bytes: number;
  dropped: number;
  /** The backend is full; resume after its txReady. */
  busy: boolean;
}

/**
 * Send up to `burst` chains of a TX queue. `send` returns false when the
 * backend is full (the chain is then given back untouched).
 * @throws VirtqueueError for a broken ring; VmigError ERR_NET_GUEST_ERROR for
 *   a chain without a complete header (nothing stays popped)
 */
export function flushTx(vq: SplitQueue, send: ((pieces: Uint8Array[]) => boolean) | undefined, burst: number): TxFlushResult {
  const result: TxFlushResult = { completed: 0, bytes: 0, dropped: 0, busy: false };
  try {
    while (result.completed < burst) {
      const chain = vq.popAvailable();
      if (chain === undefined) break;
      if (chain.readable.length === 0) {
        vq.undoPop();
        throw guestError('header not in first element', { head: chain.head });
      }
      if (chain.readableLength < VIRTIO_NET_HDR_V1_SIZE) {
        vq.undoPop();
        throw guestError('header incorrect', { head: chain.head, length: chain.readableLength });
      }
      if (send === undefined) {
        // Link down: the frame goes nowhere, the guest gets its buffer back (QEMU drops TX data).
        result.dropped++;
      } else if (!send(chain.readableViews())) {
        vq.undoPop();
        result.busy = true;
        break;
      } else {
        result.bytes += chain.readableLength - VIRTIO_NET_HDR_V1_SIZE;
      }
      vq.addUsed(chain.head, 0);
      result.completed++;
    }
  } finally {
    vq.publishUsed();
  }
  return result;
}
