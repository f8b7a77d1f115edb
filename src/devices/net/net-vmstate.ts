/**
 * virtio-net's saved state: `vmstate_virtio_net_device` (version 11 in QEMU
 * 7.2 and 10.2; research/qemu-wire-format.md §4.1–4.2), loaded inside the
 * virtio blob (part F), and the section wrapper `virtio-net` (version 11).
 *
 *   mac[6] · be32 tx_waiting(q0) · be32 mergeable_rx_bufs · be16 status
 *   u8 promisc · u8 allmulti · be32 mac_table.in_use · in_use×6 macs
 *   512 bytes vlans (raw host-endian u32 words: little-endian here)
 *   be32 has_vnet_hdr · u8 multi_overflow · u8 uni_overflow
 *   u8 alluni · u8 nomulti · u8 nouni · u8 nobcast · u8 has_ufo
 *   [be16 max_queue_pairs (must equal) · be16 curr_queue_pairs
 *    · (curr-1) × be32 tx_waiting]                  iff max_queue_pairs > 1
 *   [be64 curr_guest_offloads]     iff CTRL_GUEST_OFFLOADS is in features[31:0]
 *   subsection virtio-net-device/rss (v1 in 7.2, v2 in 10.2) iff RSS enabled
 *
 * "max_queue_pairs > 1" is the *loader's* own value in QEMU, so a decoder
 * without a device must be told it (`maxQueuePairs` in the context) or try
 * both layouts (see analyze).
 */

import { ByteReader, ByteWriter, MalformedError } from '../../core/index.js';
import type { CustomCodec, VmState, Vmsd, VmstateContext } from '../../vmstate/index.js';
import { virtioDeviceSectionVmsd } from '../../virtio/index.js';
import {
  MAC_TABLE_ENTRIES,
  MAX_VLAN,
  VIRTIO_NET_F_CTRL_GUEST_OFFLOADS,
  VIRTIO_NET_MAX_QUEUE_PAIRS,
  VIRTIO_NET_RSS_MAX_KEY_SIZE,
  VIRTIO_NET_RSS_MAX_TABLE_LEN,
  VIRTIO_NET_VM_VERSION,
} from './spec-constants.js';

export type QemuFlavor = '7.2' | '10.2';

export interface NetVmstateContext extends VmstateContext {
  /** The loader's max_queue_pairs when it has no state of its own yet. */
  maxQueuePairs?: number;
  /** Whether the loader's backend has vnet headers / UFO (a stream needing them fails otherwise). */
  peerHasVnetHdr?: boolean;
  peerHasUfo?: boolean;
  guestFeaturesLo?: number;
  lenient?: boolean;
}

/** Wire-shaped virtio-net device state (QEMU's field names). */
export interface NetSavedState extends VmState {
  mac: Uint8Array;
  /** Per queue pair: index 0 always travels, 1..curr-1 only with MQ. */
  tx_waiting: number[];
  mergeable_rx_bufs: number;
  status: number;
  promisc: number;
  allmulti: number;
  mac_table: { in_use: number; macs?: Uint8Array; multi_overflow: number; uni_overflow: number };
  vlans: Uint8Array;
  has_vnet_hdr: number;
  alluni: number;
  nomulti: number;
  nouni: number;
  nobcast: number;
  has_ufo: number;
  max_queue_pairs?: number;
  curr_queue_pairs?: number;
  curr_guest_offloads?: bigint;
  /** QEMU 10.2: a vhost-user back-end's internal state, as the chunks it was sent in. */
  backend_state?: Uint8Array[];
  rss_data?: {
    enabled: boolean;
    redirect: boolean;
    populate_hash: boolean;
    hash_types: number;
    supported_hash_types?: number;
    indirections_len: number;
    default_queue: number;
    key: Uint8Array;
    indirections_table: number[];
  };
}

const u8 = (name: string) => ({ name, type: { kind: 'int' as const, type: 'uint8' as const } });

function loaderMaxQueuePairs(state: VmState, ctx: VmstateContext): number {
  const own = state.max_queue_pairs;
  if (typeof own === 'number') return own;
  const hint = (ctx as NetVmstateContext).maxQueuePairs;
  return typeof hint === 'number' ? hint : 1;
}

const multiqueue = (state: VmState, _v: number, ctx: VmstateContext) => loaderMaxQueuePairs(state, ctx) > 1;

/** VMSTATE_STRUCT_POINTER(vqs, …tx_waiting): queue pair 0's tx_waiting. */
const txWaiting0: CustomCodec = {
  save(w: ByteWriter, s: VmState) {
    w.u32be((s as NetSavedState).tx_waiting[0] ?? 0);
  },
  load(r: ByteReader, s: VmState) {
    const v = r.u32be('be32 tx_waiting of queue pair 0');
    const arr = Array.isArray(s.tx_waiting) ? (s.tx_waiting as number[]) : [];
    arr[0] = v;
    s.tx_waiting = arr;
  },
};

/** WITH_TMP + VARRAY_POINTER_UINT16: tx_waiting of queue pairs 1..curr-1. */
const txWaitingRest: CustomCodec = {
  save(w: ByteWriter, s: VmState) {
    const st = s as NetSavedState;
    const curr = st.curr_queue_pairs ?? 1;
    for (let i = 1; i < curr; i++) w.u32be(st.tx_waiting[i] ?? 0);
  },
  load(r: ByteReader, s: VmState, ctx: VmstateContext) {
    const st = s as NetSavedState;
    const curr = st.curr_queue_pairs ?? 1;
    const max = st.max_queue_pairs ?? 1;
    if (curr > max && !(ctx as NetVmstateContext).lenient) {
      throw new MalformedError('ERR_NET_BAD_STATE', `virtio-net: curr_queue_pairs ${curr} > max_queue_pairs ${max}`, { offset: r.offset, expected: 'curr_queue_pairs ≤ max_queue_pairs' });
    }
    if (curr > VIRTIO_NET_MAX_QUEUE_PAIRS) {
      throw new MalformedError('ERR_NET_BAD_STATE', `virtio-net: curr_queue_pairs ${curr} is beyond any device`, { offset: r.offset, expected: `curr_queue_pairs ≤ ${VIRTIO_NET_MAX_QUEUE_PAIRS}` });
    }
    const arr = Array.isArray(st.tx_waiting) ? st.tx_waiting : [0];
    for (let i = 1; i < curr; i++) arr[i] = r.u32be(`be32 tx_waiting of queue pair ${i}`);
    arr.length = Math.max(1, curr);
    st.tx_waiting = arr;
  },
};

function rssVmsd(flavor: QemuFlavor): Vmsd {
  return {
    name: 'virtio-net-device/rss',
    version: flavor === '7.2' ? 1 : 2,
    minimumVersion: 1,
    needed: (s) => (s as NetSavedState).rss_data?.enabled === true,
    fields: [
      { name: 'rss_data.enabled', path: ['rss_data', 'enabled'], type: { kind: 'bool' } },
      { name: 'rss_data.redirect', path: ['rss_data', 'redirect'], type: { kind: 'bool' } },
      { name: 'rss_data.populate_hash', path: ['rss_data', 'populate_hash'], type: { kind: 'bool' } },
      { name: flavor === '7.2' ? 'rss_data.hash_types' : 'rss_data.runtime_hash_types', path: ['rss_data', 'hash_types'], type: { kind: 'int', type: 'uint32' } },
      ...(flavor === '10.2' ? [{ name: 'rss_data.supported_hash_types', path: ['rss_data', 'supported_hash_types'], type: { kind: 'int' as const, type: 'uint32' as const }, version: 2 }] : []),
      {
        name: 'rss_data.indirections_len',
        path: ['rss_data', 'indirections_len'],
        type: { kind: 'int', type: 'uint16' },
        validate: (v) => ((v as number) > VIRTIO_NET_RSS_MAX_TABLE_LEN ? `indirection table of ${v} entries exceeds ${VIRTIO_NET_RSS_MAX_TABLE_LEN}` : undefined),
      },
      { name: 'rss_data.default_queue', path: ['rss_data', 'default_queue'], type: { kind: 'int', type: 'uint16' } },
      { name: 'rss_data.key', path: ['rss_data', 'key'], type: { kind: 'buffer', size: VIRTIO_NET_RSS_MAX_KEY_SIZE } },
      { name: 'rss_data.indirections_table', path: ['rss_data', 'indirections_table'], type: { kind: 'int', type: 'uint16' }, count: { field: ['rss_data', 'indirections_len'] } },
    ],
  };
}

/** A back-end state chunk is at most 1 MiB in QEMU; refuse more before allocating. */
const BACKEND_STATE_MAX_CHUNK = 1 << 20;
const BACKEND_STATE_MAX_TOTAL = 64 << 20;

/**
 * vhost_save_backend_state's framing: chunks of `be32 length · bytes`,
 * ended by a zero-length chunk (hw/virtio/vhost.c, QEMU 10.x).
 */
const backendStateCodec: CustomCodec = {
  save(w: ByteWriter, s: VmState) {
    for (const chunk of (s as NetSavedState).backend_state ?? []) {
      if (chunk.length === 0) continue;
      w.u32be(chunk.length).bytes(chunk);
    }
    w.u32be(0);
  },
  load(r: ByteReader, s: VmState) {
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const len = r.u32be('be32 back-end state chunk length');
      if (len === 0) break;
      if (len > BACKEND_STATE_MAX_CHUNK || total + len > BACKEND_STATE_MAX_TOTAL) {
        throw new MalformedError('ERR_NET_BAD_STATE', `virtio-net back-end state chunk of ${len} bytes exceeds the limits (1 MiB a chunk, 64 MiB in all)`, { offset: r.offset - 4, expected: 'a back-end state chunk ≤ 1 MiB' });
      }
      chunks.push(r.bytes(len, 'back-end state chunk').slice());
      total += len;
    }
    (s as NetSavedState).backend_state = chunks;
  },
};

/** vmstate_virtio_net_device for the given QEMU flavour (they differ in the RSS subsection and 10.2's back-end state). */
export function netDeviceVmsd(flavor: QemuFlavor = '7.2'): Vmsd {
  return {
    name: 'virtio-net-device',
    version: VIRTIO_NET_VM_VERSION,
    minimumVersion: VIRTIO_NET_VM_VERSION,
    fields: [
      { name: 'mac', type: { kind: 'buffer', size: 6 } },
      { name: 'vqs', path: ['tx_waiting'], type: { kind: 'custom', info: 'struct', codec: txWaiting0 } },
      { name: 'mergeable_rx_bufs', type: { kind: 'int', type: 'uint32' } },
      { name: 'status', type: { kind: 'int', type: 'uint16' } },
      u8('promisc'),
      u8('allmulti'),
      {
        name: 'mac_table.in_use',
        path: ['mac_table', 'in_use'],
        type: { kind: 'int', type: 'uint32' },
        validate: (v) => ((v as number) > 1 << 20 ? `MAC table of ${v} entries is implausible` : undefined),
      },
      {
        name: 'mac_table.macs',
        path: ['mac_table', 'macs'],
        type: { kind: 'buffer', size: { field: ['mac_table', 'in_use'], multiply: 6 } },
        exists: (s) => ((s as NetSavedState).mac_table?.in_use ?? 0) <= MAC_TABLE_ENTRIES,
      },
      {
        name: 'unused',
        type: { kind: 'unused', size: { field: ['mac_table', 'in_use'], multiply: 6 } },
        exists: (s) => ((s as NetSavedState).mac_table?.in_use ?? 0) > MAC_TABLE_ENTRIES,
      },
      { name: 'vlans', type: { kind: 'buffer', size: MAX_VLAN >> 3 } },
      {
        name: 'has_vnet_hdr',
        type: { kind: 'int', type: 'uint32' },
        validate: (v, _s, ctx) => ((v as number) && (ctx as NetVmstateContext).peerHasVnetHdr === false ? 'the stream needs vnet headers but this backend has none' : undefined),
      },
      { name: 'mac_table.multi_overflow', path: ['mac_table', 'multi_overflow'], type: { kind: 'int', type: 'uint8' } },
      { name: 'mac_table.uni_overflow', path: ['mac_table', 'uni_overflow'], type: { kind: 'int', type: 'uint8' } },
      u8('alluni'),
      u8('nomulti'),
      u8('nouni'),
      u8('nobcast'),
      {
        name: 'has_ufo',
        type: { kind: 'int', type: 'uint8' },
        validate: (v, _s, ctx) => ((v as number) && (ctx as NetVmstateContext).peerHasUfo === false ? 'the stream needs UFO but this backend lacks it' : undefined),
      },
      { name: 'max_queue_pairs', type: { kind: 'int', type: 'uint16', equal: true }, exists: multiqueue },
      { name: 'curr_queue_pairs', type: { kind: 'int', type: 'uint16' }, exists: multiqueue },
      { name: 'tmp', path: ['tx_waiting'], type: { kind: 'custom', info: 'tmp', codec: txWaitingRest }, exists: multiqueue },
      {
        name: 'curr_guest_offloads',
        type: { kind: 'int', type: 'uint64' },
        exists: (_s, _v, ctx) => (((ctx as NetVmstateContext).guestFeaturesLo ?? 0) & (1 << VIRTIO_NET_F_CTRL_GUEST_OFFLOADS)) !== 0,
      },
    ],
    subsections: [
      rssVmsd(flavor),
      ...(flavor === '10.2'
        ? [{ name: 'virtio-net-device/backend', version: 0, needed: (st: VmState) => (st as NetSavedState).backend_state !== undefined, fields: [{ name: 'backend', type: { kind: 'custom' as const, info: 'vhost-user back-end state', codec: backendStateCodec } }] }]
        : []),
    ],
    postLoad: (s) => {
      const st = s as NetSavedState;
      // QEMU clears an oversized table rather than failing (mac_table_doesnt_fit).
      if (st.mac_table.in_use > MAC_TABLE_ENTRIES) {
        st.mac_table.in_use = 0;
        st.mac_table.macs = new Uint8Array(0);
      }
    },
  };
}

/** The FULL section "…/virtio-net", version 11: the virtio blob with virtio-net inside. */
export function netSectionVmsd(flavor: QemuFlavor = '7.2'): Vmsd {
  return virtioDeviceSectionVmsd('virtio-net', VIRTIO_NET_VM_VERSION, netDeviceVmsd(flavor));
}
