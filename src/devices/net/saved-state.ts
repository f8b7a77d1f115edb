/**
 * Between a live virtio-net device and QEMU's wire-shaped saved state
 * (VirtioSavedState with NetSavedState inside; research §3–§4).
 *
 * Saving applies QEMU's `needed` rules for this device: 64bit_features
 * because VERSION_1 (bit 32) is offered; virtqueues because VERSION_1 is
 * offered; ringsize only when a queue's size differs from its default;
 * extra_state (modern_state) always, the proxy being modern; started only
 * when DRIVER_OK is set; broken only when broken; never device_endian
 * (little-endian under VERSION_1), packed_virtqueues or disabled; the RSS
 * subsection only when RSS is enabled; the MQ fields when max_queue_pairs > 1.
 *
 * Loading is two steps so that a refused state changes nothing (DESIGN §11):
 * `planLoad` checks everything against this device and guest RAM — features
 * offered, transport layout, queue sizes and vectors, ring addresses inside
 * RAM, in-flight counts against the used idx read from RAM (§3.5 step 13),
 * queue pairs, RSS — and returns a plan; the device then applies the plan
 * (virtio-net-device.ts: applyTransportPlan here for the registers, one
 * handler per tracked category in category-load.ts), which cannot fail.
 */

import { VmigError } from '../../core/index.js';
import type { GuestMemory } from '../../memory/index.js';
import {
  SplitQueue,
  VIRTIO_CONFIG_S_DRIVER_OK,
  VIRTIO_CONFIG_S_FEATURES_OK,
  VIRTIO_DEVICE_ENDIAN_LITTLE,
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_VERSION_1,
  VIRTIO_NO_VECTOR,
  VIRTIO_QUEUE_MAX,
  VIRTQ_MAX_SIZE,
  savedGuestFeatures,
} from '../../virtio/index.js';
import type { TransportQueue, VirtioPciModernState, VirtioPciTransport, VirtioSavedState } from '../../virtio/index.js';
import { guestOffloadsByFeatures } from './ctrl-queue.js';
import type { NetSavedState, QemuFlavor } from './net-vmstate.js';
import type { NetState } from './net-state.js';
import { pciConfigMismatch } from './pci-config.js';
import {
  MAC_TABLE_ENTRIES,
  MAX_VLAN,
  VIRTIO_NET_F_CTRL_GUEST_OFFLOADS,
  VIRTIO_NET_F_MQ,
  VIRTIO_NET_F_RSS,
  VIRTIO_NET_RSS_MAX_KEY_SIZE,
  VIRTIO_NET_RSS_MAX_TABLE_LEN,
  VIRTIO_NET_RSS_SUPPORTED_HASHES,
} from './spec-constants.js';

const bit = (n: number): bigint => 1n << BigInt(n);
const lo32 = (v: bigint): number => Number(v & 0xffffffffn);
const hi32 = (v: bigint): number => Number((v >> 32n) & 0xffffffffn);

/** What saving reads from the device. */
export interface DeviceSnapshot {
  transport: VirtioPciTransport;
  hostFeatures: bigint;
  configCache: Uint8Array;
  broken: boolean;
  queues: readonly (SplitQueue | undefined)[];
  numQueues: number;
  queueDefaultSize(index: number): number;
  net: NetState;
  hasVnetHdr: boolean;
  hasUfo: boolean;
  pciConfig: Uint8Array;
}

/**
 * The entries of QEMU's 1024-slot per-queue tables past the device's queues:
 * one frozen object each, shared by every slot and every save. Built per
 * slot, they were ~4,000 allocations and most of saveState's ~0.3 ms, which
 * both the classic and the early stop pay inside the downtime. Frozen, a
 * consumer that would write into one throws instead of changing them all.
 */
const UNUSED_VRING: { avail: bigint; used: bigint } = Object.freeze({ avail: 0n, used: 0n });
const UNUSED_VQ: VirtioPciModernState['vqs'][number] = Object.freeze({
  num: 0,
  enabled: false,
  desc: Object.freeze([0, 0]) as number[],
  avail: Object.freeze([0, 0]) as number[],
  used: Object.freeze([0, 0]) as number[],
});

/** A VIRTIO_QUEUE_MAX-entry table: `entry(i)` for the first `n`, `unused` after. */
function padToQueueMax<T>(n: number, entry: (i: number) => T, unused: T): T[] {
  const out = new Array<T>(VIRTIO_QUEUE_MAX);
  for (let i = 0; i < VIRTIO_QUEUE_MAX; i++) out[i] = i < n ? entry(i) : unused;
  return out;
}

export function buildSavedState(d: DeviceSnapshot, flavor: QemuFlavor): VirtioSavedState {
  const t = d.transport;
  const features = t.guestFeatures & d.hostFeatures;
  const queues = Array.from({ length: d.numQueues }, (_, i) => {
    const tq = t.queues[i]!;
    return {
      num: tq.size,
      // QEMU's vring.desc is set when the driver enables the queue.
      desc: tq.enabled ? tq.desc : 0n,
      lastAvailIdx: d.queues[i]?.lastAvailIdx ?? 0,
      ...(t.vectors > 0 ? { vector: tq.vector } : {}),
    };
  });
  const vrings = padToQueueMax(d.numQueues, (i) => {
    const tq = t.queues[i];
    return tq?.enabled ? { avail: tq.driver, used: tq.device } : UNUSED_VRING;
  }, UNUSED_VRING);
  let ringsDiffer = false;
  for (let i = 0; i < d.numQueues; i++) if (t.queues[i]!.size !== d.queueDefaultSize(i)) ringsDiffer = true;
  const modern: VirtioPciModernState = {
    dfselect: t.deviceFeatureSelect >>> 0,
    gfselect: t.driverFeatureSelect >>> 0,
    guest_features: [t.driverFeatures[0]! >>> 0, t.driverFeatures[1]! >>> 0],
    vqs: padToQueueMax(d.numQueues, (i) => {
      const tq = t.queues[i];
      if (tq === undefined) return UNUSED_VQ;
      return {
        num: tq.enabled ? tq.size : 0,
        enabled: tq.enabled,
        desc: [lo32(tq.desc), hi32(tq.desc)],
        avail: [lo32(tq.driver), hi32(tq.driver)],
        used: [lo32(tq.device), hi32(tq.device)],
      };
    }, UNUSED_VQ),
  };
  const saved: VirtioSavedState = {
    pci: { version: 2, config: d.pciConfig.slice(), irq_state: [0, 0, 0, 0] },
    ...(t.vectors > 0 ? { msix: { table: t.msixTable.slice(), pba: t.msixPba.slice(), config_vector: t.configVector } } : {}),
    status: t.status,
    isr: t.isr,
    // QEMU ignores a queue_select ≥ 1024; vmig's transport stores it, and such a value cannot travel.
    queue_sel: t.queueSelect < VIRTIO_QUEUE_MAX ? t.queueSelect : 0,
    guest_features_lo: lo32(features),
    config: d.configCache.slice(),
    queues,
    device: netToSaved(d, features, flavor),
    // (host_features >> 32) != 0: VERSION_1 is always offered.
    guest_features_64: features,
    vrings,
    ...(ringsDiffer ? { ring_sizes: padToQueueMax(d.numQueues, (i) => d.queueDefaultSize(i), 0) } : {}),
    ...(d.broken ? { broken: true } : {}),
    extra_state: { modern_state: modern },
    ...(t.status & VIRTIO_CONFIG_S_DRIVER_OK ? { started: true } : {}),
  };
  return saved;
}

function netToSaved(d: DeviceSnapshot, features: bigint, flavor: QemuFlavor): NetSavedState {
  const n = d.net;
  const mq = n.maxQueuePairs > 1;
  const out: NetSavedState = {
    mac: n.mac.slice(),
    tx_waiting: n.txWaiting.slice(0, mq ? Math.max(1, n.currQueuePairs) : 1),
    mergeable_rx_bufs: n.mergeableRxBufs,
    status: n.status,
    promisc: n.promisc,
    allmulti: n.allmulti,
    mac_table: { in_use: n.inUse, macs: n.macs.slice(0, n.inUse * 6), multi_overflow: n.multiOverflow, uni_overflow: n.uniOverflow },
    vlans: n.vlans.slice(),
    has_vnet_hdr: d.hasVnetHdr ? 1 : 0,
    alluni: n.alluni,
    nomulti: n.nomulti,
    nouni: n.nouni,
    nobcast: n.nobcast,
    has_ufo: d.hasVnetHdr && d.hasUfo ? 1 : 0,
  };
  if (mq) {
    out.max_queue_pairs = n.maxQueuePairs;
    out.curr_queue_pairs = n.currQueuePairs;
  }
  // The field exists iff CTRL_GUEST_OFFLOADS is in the low feature word.
  if (features & bit(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS)) out.curr_guest_offloads = n.currGuestOffloads;
  if (n.rss.enabled) {
    out.rss_data = {
      enabled: true,
      redirect: n.rss.redirect,
      populate_hash: n.rss.populateHash,
      hash_types: n.rss.hashTypes,
      ...(flavor === '10.2' ? { supported_hash_types: VIRTIO_NET_RSS_SUPPORTED_HASHES } : {}),
      indirections_len: n.rss.indirectionsLen,
      default_queue: n.rss.defaultQueue,
      key: n.rss.key.slice(),
      indirections_table: n.rss.table.slice(),
    };
  }
  return out;
}

// ------------------------------------------------------------------ load

/** What planning a load needs to know about the device. */
export interface DeviceFacts {
  memory: GuestMemory;
  /** false: guest RAM has not arrived yet (an early, provisional check); skip what is read from it. */
  ramLoaded?: boolean;
  hostFeatures: bigint;
  maxQueuePairs: number;
  vectors: number;
  pciConfig: Uint8Array;
  /** num_default of queue `index` when the layout has `pairs` queue pairs. */
  queueDefaultSize(index: number, pairs: number): number;
  /** Slots the transport has (2 × max_queue_pairs + 1). */
  transportQueues: number;
  configCache: Uint8Array;
  hasVnetHdr: boolean;
  hasUfo: boolean;
}

/** A validated state, ready to apply without further checks. */
export interface LoadPlan {
  features: bigint;
  layoutPairs: number;
  transport: {
    status: number;
    isr: number;
    queueSelect: number;
    deviceFeatureSelect: number;
    driverFeatureSelect: number;
    driverFeatures: [number, number];
    configVector: number;
    msixTable?: Uint8Array;
    msixPba?: Uint8Array;
    queues: TransportQueue[];
  };
  splitQueues: (SplitQueue | undefined)[];
  /** Queues whose avail idx is more than a ring ahead: QEMU marks the device broken and goes on. */
  availAhead: number[];
  config: Uint8Array;
  broken: boolean;
  net: {
    mac: Uint8Array;
    status: number;
    rxMode: { promisc: number; allmulti: number; alluni: number; nomulti: number; nouni: number; nobcast: number };
    macs: Uint8Array;
    inUse: number;
    multiOverflow: number;
    uniOverflow: number;
    vlans: Uint8Array;
    currQueuePairs: number;
    txWaiting: number[];
    currGuestOffloads: bigint;
    /** As saved (QEMU loads it and keeps it; a reset does not clear it, set_features does). */
    mergeableRxBufs: number;
    rss: { hashTypes: number; indirectionsLen: number; defaultQueue: number; key: Uint8Array; table: number[] } | undefined;
  };
}

function mismatch(message: string, details: Record<string, unknown> = {}): VmigError {
  return new VmigError('ERR_NET_STATE_MISMATCH', `Cannot load virtio-net state: ${message}`, { details });
}
function invalid(message: string, details: Record<string, unknown> = {}, cause?: unknown): VmigError {
  return new VmigError('ERR_NET_STATE_INVALID', `Cannot load virtio-net state: ${message}`, { details, cause });
}

const isInt = (v: unknown, max: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
const isBytes = (v: unknown, len?: number): v is Uint8Array => v instanceof Uint8Array && (len === undefined || v.length === len);
const isBig = (v: unknown): v is bigint => typeof v === 'bigint' && v >= 0n && v < 1n << 64n;

/**
 * Check `saved` against this device and guest RAM; nothing is changed.
 * RAM must be final (ring indices are read from it).
 * @throws VmigError ERR_NET_STATE_MISMATCH (the state is from a differently
 *   configured device), ERR_NET_STATE_INVALID (the state is inconsistent)
 */
export function planLoad(saved: VirtioSavedState, f: DeviceFacts): LoadPlan {
  if (saved === null || typeof saved !== 'object') throw invalid('no state');
  // --- transport ---
  if (!isBytes(saved.pci?.config)) throw invalid('no PCI config space');
  const pciWhy = pciConfigMismatch(saved.pci.config, f.pciConfig);
  if (pciWhy !== undefined) throw mismatch(`PCI config: ${pciWhy}`);
  if ((saved.msix !== undefined) !== f.vectors > 0) throw mismatch(`the state ${saved.msix ? 'has' : 'lacks'} MSI-X, this function has ${f.vectors} vectors`);
  const checkVector = (v: unknown, what: string): number => {
    if (!isInt(v, 0xffff) || (v !== VIRTIO_NO_VECTOR && v >= f.vectors)) throw invalid(`${what} ${String(v)} is not a vector of ${f.vectors}`, { vector: v });
    return v;
  };
  let configVector = VIRTIO_NO_VECTOR;
  if (saved.msix) {
    if (!isBytes(saved.msix.table, f.vectors * 16) || !isBytes(saved.msix.pba, Math.ceil(f.vectors / 8))) throw mismatch('MSI-X table or PBA size differs');
    configVector = checkVector(saved.msix.config_vector, 'config vector');
  }
  for (const [name, v, max] of [['status', saved.status, 0xff], ['isr', saved.isr, 0xff], ['queue_sel', saved.queue_sel, VIRTIO_QUEUE_MAX - 1]] as const) {
    if (!isInt(v, max)) throw invalid(`${name} ${String(v)} is out of range`);
  }
  for (const k of ['device_endian', 'packed_vqs'] as const) {
    if (saved[k] !== undefined && !(k === 'device_endian' && saved[k] === VIRTIO_DEVICE_ENDIAN_LITTLE)) throw mismatch(`${k} is not supported by vmig's little-endian split-ring device`);
  }
  if (saved.disabled === true) throw mismatch('the device is disabled in the state');
  if ((saved.guest_features_128_hi ?? 0n) !== 0n || saved.extra_state?.modern_state?.features128?.some((w) => w !== 0)) throw mismatch('features beyond bit 63 are not offered here');

  // --- features ---
  const features = savedGuestFeatures(saved);
  if (!isBig(features)) throw invalid('guest features are not a u64');
  if (features & ~f.hostFeatures) {
    throw mismatch(`Features 0x${features.toString(16)} unsupported (offered 0x${f.hostFeatures.toString(16)})`, { unsupported: `0x${(features & ~f.hostFeatures).toString(16)}` });
  }
  const negotiated = (saved.status & VIRTIO_CONFIG_S_FEATURES_OK) !== 0;
  if (negotiated && !(features & bit(VIRTIO_F_VERSION_1))) throw invalid('FEATURES_OK without VERSION_1 on a modern-only device');
  const multiqueue = (features & (bit(VIRTIO_NET_F_MQ) | bit(VIRTIO_NET_F_RSS))) !== 0n;

  // --- queues ---
  const n = saved.queues?.length;
  if (!Array.isArray(saved.queues) || n === undefined) throw invalid('no queue list');
  const layouts = new Set([3, 2 * f.maxQueuePairs + 1]);
  if (!layouts.has(n)) throw mismatch(`${n} virtqueues; this device has ${[...layouts].join(' or ')} (max_queue_pairs ${f.maxQueuePairs})`);
  const layoutPairs = (n - 1) / 2;
  if (negotiated && layoutPairs !== (multiqueue ? f.maxQueuePairs : 1)) throw invalid(`${n} virtqueues do not match the negotiated features (multiqueue ${multiqueue})`);
  if (saved.ring_sizes !== undefined) {
    for (let i = 0; i < VIRTIO_QUEUE_MAX; i++) {
      const want = i < n ? f.queueDefaultSize(i, layoutPairs) : 0;
      if (saved.ring_sizes[i] !== want) throw mismatch(`default size of queue ${i} is ${String(saved.ring_sizes[i])}, here ${want} (rx_queue_size/tx_queue_size differ)`);
    }
  }
  const modern = saved.extra_state?.modern_state;
  const eventIdx = (features & bit(VIRTIO_F_EVENT_IDX)) !== 0n;
  const tqs: TransportQueue[] = [];
  const splitQueues: (SplitQueue | undefined)[] = [];
  const availAhead: number[] = [];
  for (let i = 0; i < f.transportQueues; i++) {
    if (i >= n) {
      tqs.push({ size: f.queueDefaultSize(i, layoutPairs), enabled: false, vector: VIRTIO_NO_VECTOR, desc: 0n, driver: 0n, device: 0n });
      splitQueues.push(undefined);
      continue;
    }
    const q = saved.queues[i]!;
    const max = f.queueDefaultSize(i, layoutPairs);
    if (!isInt(q.num, VIRTQ_MAX_SIZE) || q.num === 0 || (q.num & (q.num - 1)) !== 0) throw invalid(`queue ${i} size ${String(q.num)} is not a power of two`);
    if (q.num > max) throw mismatch(`queue ${i} has ${q.num} entries, more than this device's ${max}`);
    const vector = f.vectors > 0 ? checkVector(q.vector, `vector of queue ${i}`) : VIRTIO_NO_VECTOR;
    if (!isBig(q.desc) || !isInt(q.lastAvailIdx, 0xffff)) throw invalid(`queue ${i} address or index is malformed`);
    const mq = modern?.vqs?.[i];
    const enabled = mq ? mq.enabled === true : q.desc !== 0n;
    const ring = saved.vrings?.[i];
    const word = (w: number[] | undefined): bigint => (w ? (BigInt(w[1]! >>> 0) << 32n) | BigInt(w[0]! >>> 0) : 0n);
    const tq: TransportQueue = enabled
      ? { size: q.num, enabled, vector, desc: q.desc, driver: ring?.avail ?? 0n, device: ring?.used ?? 0n }
      : { size: q.num, enabled, vector, desc: word(mq?.desc), driver: word(mq?.avail), device: word(mq?.used) };
    tqs.push(tq);
    if (q.desc === 0n) {
      if (q.lastAvailIdx !== 0) throw invalid(`queue ${i} has no rings but last_avail_idx ${q.lastAvailIdx}`);
      splitQueues.push(undefined);
      continue;
    }
    if (!ring || !isBig(ring.avail) || !isBig(ring.used)) throw invalid(`queue ${i} is set up but the state has no ring addresses (virtio/virtqueues)`);
    let sq: SplitQueue;
    try {
      sq = new SplitQueue(f.memory, { size: q.num, descAddr: q.desc, availAddr: ring.avail, usedAddr: ring.used, eventIdx });
      // §3.5 step 13: the used idx comes from guest RAM, not from the stream.
      // A provisional (early) check runs before RAM has arrived: the RAM-derived checks wait for the final load.
      const ramLoaded = f.ramLoaded !== false;
      const usedIdx = ramLoaded ? f.memory.atomicLoadU16(Number(ring.used) + 2) : q.lastAvailIdx;
      const availIdx = ramLoaded ? f.memory.atomicLoadU16(Number(ring.avail) + 2) : q.lastAvailIdx;
      sq.setState({ size: q.num, descAddr: q.desc, availAddr: ring.avail, usedAddr: ring.used, eventIdx, lastAvailIdx: q.lastAvailIdx, usedIdx });
      if (((availIdx - q.lastAvailIdx) & 0xffff) > q.num) availAhead.push(i);
    } catch (err) {
      throw invalid(`queue ${i}: ${err instanceof Error ? err.message : String(err)}`, { queue: i }, err);
    }
    splitQueues.push(sq);
  }

  // --- device config ---
  if (!isBytes(saved.config) || saved.config.length > 4096) throw invalid('config space malformed');
  const config = f.configCache.slice();
  config.set(saved.config.subarray(0, config.length));

  // --- virtio-net ---
  const net = planNet(saved.device as NetSavedState, features, f);
  const words = modern?.guest_features;
  return {
    features,
    layoutPairs,
    transport: {
      status: saved.status,
      isr: saved.isr,
      queueSelect: saved.queue_sel,
      deviceFeatureSelect: isInt(modern?.dfselect, 0xffffffff) ? modern.dfselect : 0,
      driverFeatureSelect: isInt(modern?.gfselect, 0xffffffff) ? modern.gfselect : 0,
      driverFeatures: words && isInt(words[0], 0xffffffff) && isInt(words[1], 0xffffffff) ? [words[0], words[1]] : [lo32(features), hi32(features)],
      configVector,
      ...(saved.msix ? { msixTable: saved.msix.table.slice(), msixPba: saved.msix.pba.slice() } : {}),
      queues: tqs,
    },
    splitQueues,
    availAhead,
    config,
    broken: saved.broken === true,
    net,
  };
}

function planNet(s: NetSavedState, features: bigint, f: DeviceFacts): LoadPlan['net'] {
  if (!s || typeof s !== 'object') throw invalid('no virtio-net device state');
  if (!isBytes(s.mac, 6)) throw invalid('mac is not 6 bytes');
  if (!isBytes(s.vlans, MAX_VLAN >> 3)) throw invalid('the VLAN filter is not 512 bytes');
  for (const k of ['promisc', 'allmulti', 'alluni', 'nomulti', 'nouni', 'nobcast'] as const) if (!isInt(s[k], 0xff)) throw invalid(`${k} is not a u8`);
  if (!isInt(s.mergeable_rx_bufs, 1)) throw invalid(`mergeable_rx_bufs ${String(s.mergeable_rx_bufs)} is not 0 or 1`);
  if (!isInt(s.status, 0xffff)) throw invalid('status is not a u16');
  const t = s.mac_table;
  if (!t || !isInt(t.in_use, 0xffffffff) || !isInt(t.multi_overflow, 0xff) || !isInt(t.uni_overflow, 0xff)) throw invalid('MAC table malformed');
  // QEMU: a table larger than this device's is dropped (in_use = 0), not refused.
  const inUse = t.in_use > MAC_TABLE_ENTRIES ? 0 : t.in_use;
  if (inUse > 0 && !(isBytes(t.macs) && t.macs.length >= inUse * 6)) throw invalid('MAC table shorter than in_use');
  const macs = new Uint8Array(MAC_TABLE_ENTRIES * 6);
  if (inUse > 0) macs.set(t.macs!.subarray(0, inUse * 6));
  if (s.has_vnet_hdr && !f.hasVnetHdr) throw mismatch('saved image requires vnet_hdr=on');
  if (s.has_ufo && !f.hasUfo) throw mismatch('saved image requires TUN_F_UFO support');
  let curr = 1;
  if (f.maxQueuePairs > 1) {
    if (s.max_queue_pairs !== f.maxQueuePairs) throw mismatch(`max_queue_pairs ${String(s.max_queue_pairs)} differs from this device's ${f.maxQueuePairs}`);
    if (!isInt(s.curr_queue_pairs, f.maxQueuePairs) || s.curr_queue_pairs < 1) throw invalid(`curr_queue_pairs ${String(s.curr_queue_pairs)} is not in 1..${f.maxQueuePairs}`);
    curr = s.curr_queue_pairs;
  } else if (s.max_queue_pairs !== undefined && s.max_queue_pairs !== 1) {
    throw mismatch(`max_queue_pairs ${s.max_queue_pairs}, this device has 1`);
  }
  if (!Array.isArray(s.tx_waiting) || !s.tx_waiting.every((v) => isInt(v, 0xffffffff))) throw invalid('tx_waiting malformed');
  const txWaiting = Array.from({ length: f.maxQueuePairs }, (_, i) => (i < curr ? (s.tx_waiting[i] ?? 0) : 0));
  const supported = guestOffloadsByFeatures(features);
  let offloads = supported;
  if (features & bit(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS)) {
    if (!isBig(s.curr_guest_offloads)) throw invalid('curr_guest_offloads missing although CTRL_GUEST_OFFLOADS was negotiated');
    if (s.curr_guest_offloads & ~supported) throw invalid(`curr_guest_offloads 0x${s.curr_guest_offloads.toString(16)} beyond the negotiated 0x${supported.toString(16)}`);
    offloads = s.curr_guest_offloads;
  }
  let rss: LoadPlan['net']['rss'];
  if (s.rss_data?.enabled) {
    const r = s.rss_data;
    if (!(features & bit(VIRTIO_NET_F_RSS))) throw invalid('RSS enabled but not negotiated');
    const len = r.indirections_len;
    if (!isInt(len, VIRTIO_NET_RSS_MAX_TABLE_LEN) || len === 0 || (len & (len - 1)) !== 0) throw invalid(`RSS indirection table length ${String(len)} is not a power of two ≤ ${VIRTIO_NET_RSS_MAX_TABLE_LEN}`);
    if (!Array.isArray(r.indirections_table) || r.indirections_table.length !== len || !r.indirections_table.every((q) => isInt(q, 0xffff))) throw invalid('RSS indirection table malformed');
    if (!isInt(r.default_queue, f.maxQueuePairs - 1)) throw invalid(`RSS default queue ${String(r.default_queue)} is not below ${f.maxQueuePairs}`);
    if (!isBytes(r.key, VIRTIO_NET_RSS_MAX_KEY_SIZE) || !isInt(r.hash_types, 0xffffffff)) throw invalid('RSS key or hash types malformed');
    if (r.populate_hash) throw mismatch('RSS hash reporting is not supported');
    rss = { hashTypes: r.hash_types, indirectionsLen: len, defaultQueue: r.default_queue, key: r.key.slice(), table: r.indirections_table.slice() };
  }
  return {
    mac: s.mac.slice(),
    status: s.status,
    rxMode: { promisc: s.promisc, allmulti: s.allmulti, alluni: s.alluni, nomulti: s.nomulti, nouni: s.nouni, nobcast: s.nobcast },
    macs,
    inUse,
    multiOverflow: t.multi_overflow,
    uniOverflow: t.uni_overflow,
    vlans: s.vlans.slice(),
    currQueuePairs: curr,
    txWaiting,
    currGuestOffloads: offloads,
    mergeableRxBufs: s.mergeable_rx_bufs,
    rss,
  };
}

/** Apply the transport part of a plan (registers, MSI-X, queue slots): QEMU's load_config/load_queue. */
export function applyTransportPlan(t: VirtioPciTransport, pt: LoadPlan['transport']): void {
  t.status = pt.status;
  t.isr = pt.isr;
  t.queueSelect = pt.queueSelect;
  t.deviceFeatureSelect = pt.deviceFeatureSelect;
  t.driverFeatureSelect = pt.driverFeatureSelect;
  t.driverFeatures = [...pt.driverFeatures];
  t.configVector = pt.configVector;
  if (pt.msixTable) t.msixTable.set(pt.msixTable);
  if (pt.msixPba) t.msixPba.set(pt.msixPba);
  pt.queues.forEach((q, i) => Object.assign(t.queues[i]!, q));
}
