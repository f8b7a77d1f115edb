/**
 * The parts of a saved virtio-net state that early migration tracks
 * (DESIGN §6; the RFC's patches 3–13): eleven categories plus `transport`
 * (features, PCI config, MSI-X table — a renegotiation). Every field of the
 * saved state belongs to exactly one of them, or to the minimal state that
 * is resynchronised at every switchover (per-queue last_avail_idx, ISR,
 * MSI-X PBA, PCI INTx state).
 *
 * The device applies each category with its own handler (category-load.ts);
 * this table says which fields a handler owns, so a change the comparison
 * finds is a change a handler applies.
 */

import type { VirtioSavedState } from '../../virtio/index.js';
import type { NetSavedState } from './net-vmstate.js';

/** The RFC's tracked categories, in its order. */
export const NET_STATE_CATEGORIES = ['vq', 'device-status', 'config', 'mac', 'mac-table', 'net-status', 'rx-filter', 'vlan', 'offloads-mq', 'rss', 'pending-tx'] as const;
export type NetStateCategory = (typeof NET_STATE_CATEGORIES)[number];

/** A category, or the transport (which no handler applies: it needs a full load). */
export type TrackedPart = NetStateCategory | 'transport';
export const TRACKED_PARTS: readonly TrackedPart[] = [...NET_STATE_CATEGORIES, 'transport'];

type Saved = VirtioSavedState & { device: NetSavedState };

/** Where each part lives in the saved state. */
const PARTS: Record<TrackedPart, (s: Saved) => unknown> = {
  // The 1024-entry tables are compared up to the device's queue count: past it they are constant padding (saved-state.ts).
  vq: (s) => [s.queues.length, s.queues.map((q) => [q.num, q.desc, q.vector]), s.vrings?.slice(0, s.queues.length), s.ring_sizes?.slice(0, s.queues.length), s.extra_state?.modern_state?.vqs.slice(0, s.queues.length), s.queue_sel],
  'device-status': (s) => [s.status, s.started, s.broken],
  config: (s) => s.config,
  mac: (s) => s.device.mac,
  'mac-table': (s) => s.device.mac_table,
  'net-status': (s) => s.device.status,
  'rx-filter': (s) => [s.device.promisc, s.device.allmulti, s.device.alluni, s.device.nomulti, s.device.nouni, s.device.nobcast],
  vlan: (s) => s.device.vlans,
  'offloads-mq': (s) => [s.device.curr_guest_offloads, s.device.curr_queue_pairs],
  rss: (s) => s.device.rss_data,
  'pending-tx': (s) => s.device.tx_waiting,
  transport: (s) => [
    s.pci.version, s.pci.config, s.msix?.table, s.msix?.config_vector, s.guest_features_lo, s.guest_features_64, s.guest_features_128_hi,
    s.device_endian, s.disabled, s.extra_state?.modern_state && { ...s.extra_state.modern_state, vqs: undefined },
    s.device.mergeable_rx_bufs, s.device.has_vnet_hdr, s.device.has_ufo, s.device.max_queue_pairs, s.device.backend_state,
  ],
};

/** The values of one tracked part of `saved` (for comparison). */
export function trackedValue(part: TrackedPart, saved: VirtioSavedState): unknown {
  return PARTS[part](saved as Saved);
}

/**
 * What a switchover always resynchronises, changed or not: what moves with
 * every frame or interrupt. (The PCI INTx state has no effect here: the
 * device signals through MSI-X only and saves INTx as idle.)
 */
export interface NetMinimalState {
  /** One per virtqueue of the provisionally loaded layout. */
  lastAvailIdx: readonly number[];
  isr: number;
  /** The MSI-X pending bits, as many bytes as the device's PBA. */
  pba: Uint8Array;
}
