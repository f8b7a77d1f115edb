/**
 * The readable summary of a saved virtio-net section that `vmig analyze
 * --device virtio-net --json` prints: MACs as "aa:bb:cc:dd:ee:ff", 64-bit
 * values as "0x…", VLANs as the sorted list of set ids, queues only where
 * num > 0.
 */

import { hex } from '../../core/index.js';
import type { VirtioSavedState } from '../../virtio/index.js';
import { savedGuestFeatures } from '../../virtio/index.js';
import type { NetSavedState } from './net-vmstate.js';
import { MAX_VLAN } from './spec-constants.js';

export function formatMac(bytes: Uint8Array, at = 0): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push((bytes[at + i] ?? 0).toString(16).padStart(2, '0'));
  return parts.join(':');
}

export function hexBytes(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/** VLAN ids whose bit is set in QEMU's raw `vlans` (u32 words, little-endian on x86 hosts). */
export function vlanIds(vlans: Uint8Array): number[] {
  const ids: number[] = [];
  const view = new DataView(vlans.buffer, vlans.byteOffset, vlans.byteLength);
  for (let vid = 0; vid < MAX_VLAN && (vid >> 5) * 4 + 4 <= vlans.length; vid++) {
    if (view.getUint32((vid >> 5) * 4, true) & (1 << (vid & 31))) ids.push(vid);
  }
  return ids;
}

export interface NetSectionSummary {
  idstr: string;
  instance_id: number;
  version_id: number;
  virtio: Record<string, unknown>;
  net: Record<string, unknown>;
}

export function summarizeNetSection(idstr: string, instanceId: number, versionId: number, v: VirtioSavedState): NetSectionSummary {
  const n = v.device as NetSavedState;
  const modern = v.extra_state?.modern_state;
  const queues = v.queues.flatMap((q, index) => {
    if (q.num === 0) return [];
    const ring = v.vrings?.[index];
    const mq = modern?.vqs[index];
    return [
      {
        index,
        num: q.num,
        desc: hex(q.desc),
        avail: ring ? hex(ring.avail) : null,
        used: ring ? hex(ring.used) : null,
        last_avail_idx: q.lastAvailIdx,
        vector: q.vector ?? null,
        enabled: mq ? mq.enabled : q.desc !== 0n,
      },
    ];
  });
  const inUse = n.mac_table.in_use;
  const macs: string[] = [];
  for (let i = 0; i < inUse && n.mac_table.macs && i * 6 + 6 <= n.mac_table.macs.length; i++) macs.push(formatMac(n.mac_table.macs, i * 6));
  let firstMulti = macs.findIndex((m) => parseInt(m.slice(0, 2), 16) & 1);
  if (firstMulti < 0) firstMulti = macs.length;
  const rss = n.rss_data
    ? {
        enabled: n.rss_data.enabled,
        redirect: n.rss_data.redirect,
        populate_hash: n.rss_data.populate_hash,
        hash_types: hex(n.rss_data.hash_types),
        supported_hash_types: n.rss_data.supported_hash_types === undefined ? null : hex(n.rss_data.supported_hash_types),
        indirections_len: n.rss_data.indirections_len,
        default_queue: n.rss_data.default_queue,
        key: hexBytes(n.rss_data.key),
        indirections_table: n.rss_data.indirections_table,
      }
    : null;
  return {
    idstr,
    instance_id: instanceId,
    version_id: versionId,
    virtio: {
      status: v.status,
      isr: v.isr,
      queue_sel: v.queue_sel,
      guest_features: hex(savedGuestFeatures(v)),
      config: hexBytes(v.config),
      queues,
    },
    net: {
      mac: formatMac(n.mac),
      status: n.status,
      promisc: n.promisc !== 0,
      allmulti: n.allmulti !== 0,
      alluni: n.alluni !== 0,
      nomulti: n.nomulti !== 0,
      nouni: n.nouni !== 0,
      nobcast: n.nobcast !== 0,
      mac_table: {
        in_use: inUse,
        first_multi: firstMulti,
        multi_overflow: n.mac_table.multi_overflow !== 0,
        uni_overflow: n.mac_table.uni_overflow !== 0,
        macs,
      },
      vlans: vlanIds(n.vlans),
      curr_queue_pairs: n.curr_queue_pairs ?? 1,
      max_queue_pairs: n.max_queue_pairs ?? 1,
      curr_guest_offloads: n.curr_guest_offloads === undefined ? null : hex(n.curr_guest_offloads),
      tx_waiting: n.tx_waiting,
      mergeable_rx_bufs: n.mergeable_rx_bufs,
      has_vnet_hdr: n.has_vnet_hdr !== 0,
      has_ufo: n.has_ufo !== 0,
      rss,
    },
  };
}
