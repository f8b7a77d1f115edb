/**
 * Applying a validated virtio-net state (a LoadPlan, saved-state.ts) one
 * tracked category at a time (state-categories.ts), and resynchronising a
 * provisionally loaded device at the switchover of an early migration.
 *
 * A full load applies every category; an early migration's switchover
 * applies only the categories that changed since the early section, on a
 * device that already holds that section (loaded provisionally in the setup
 * phase) — and net-status in any case, which a set_link on the destination
 * may have changed meanwhile (the source's wins, as QEMU's load overwrites
 * n->status). Each handler writes exactly the fields its category owns; what
 * the backend must learn from them (link, offloads, active pairs) is left to
 * the device's attachBackend(), which changes only what differs.
 */

import { SplitQueue } from '../../virtio/index.js';
import type { VirtioPciTransport } from '../../virtio/index.js';
import type { GuestMemory } from '../../memory/index.js';
import { VmigError } from '../../core/index.js';
import type { NetState } from './net-state.js';
import type { LoadPlan } from './saved-state.js';
import type { NetMinimalState, NetStateCategory } from './state-categories.js';
import { VIRTIO_NET_F_MQ, VIRTIO_NET_F_RSS } from './spec-constants.js';

const bit = (n: number): bigint => 1n << BigInt(n);

/** What the handlers write: the device's state, reached through its own accessors. */
export interface CategoryTarget {
  readonly transport: VirtioPciTransport;
  readonly net: NetState;
  readonly configCache: Uint8Array;
  /** Replace the queue layout and the device side of every virtqueue. */
  setQueues(layoutPairs: number, queues: (SplitQueue | undefined)[]): void;
  setBroken(broken: boolean): void;
}

type Handler = (t: CategoryTarget, p: LoadPlan) => void;

/** One handler per category; together they apply a whole plan (with applyTransportPlan's registers). */
export const CATEGORY_HANDLERS: Readonly<Record<NetStateCategory, Handler>> = {
  // The queue configuration: sizes, addresses, vectors, enable (transport slots) and the split queues over them.
  vq: (t, p) => {
    p.transport.queues.forEach((q, i) => Object.assign(t.transport.queues[i]!, q));
    t.transport.queueSelect = p.transport.queueSelect;
    t.setQueues(p.layoutPairs, p.splitQueues);
  },
  // VirtIODevice status (DRIVER_OK, NEEDS_RESET, …; `started` follows DRIVER_OK) and broken.
  'device-status': (t, p) => {
    t.transport.status = p.transport.status;
    t.setBroken(p.broken);
  },
  config: (t, p) => void t.configCache.set(p.config),
  mac: (t, p) => {
    t.net.mac = p.net.mac;
    t.net.changed();
  },
  'mac-table': (t, p) => {
    const n = t.net;
    n.macs.set(p.net.macs);
    n.inUse = p.net.inUse;
    n.multiOverflow = p.net.multiOverflow;
    n.uniOverflow = p.net.uniOverflow;
    n.recomputeFirstMulti();
    n.changed();
  },
  // The backend's link follows in attachBackend().
  'net-status': (t, p) => void (t.net.status = p.net.status),
  'rx-filter': (t, p) => {
    Object.assign(t.net, p.net.rxMode);
    t.net.changed();
  },
  // QEMU 10.2 keeps the VLAN filter as loaded (7.2 wiped it, a bug fixed upstream).
  vlan: (t, p) => void t.net.vlans.set(p.net.vlans),
  // The backend's offloads and queue attach follow in attachBackend().
  'offloads-mq': (t, p) => {
    t.net.currGuestOffloads = p.net.currGuestOffloads;
    t.net.currQueuePairs = p.net.currQueuePairs;
  },
  // Software RSS: the configuration is the commit (no eBPF program to load).
  rss: (t, p) => {
    const r = t.net.rss;
    r.enabled = p.net.rss !== undefined;
    r.populateHash = false;
    if (p.net.rss) {
      r.hashTypes = p.net.rss.hashTypes;
      r.indirectionsLen = p.net.rss.indirectionsLen;
      r.defaultQueue = p.net.rss.defaultQueue;
      r.key.set(p.net.rss.key);
      r.table = p.net.rss.table;
    }
  },
  'pending-tx': (t, p) => p.net.txWaiting.forEach((v, i) => (t.net.txWaiting[i] = v)),
};

/**
 * The virtio-net fields of the transport category: derived from the
 * negotiated features (QEMU virtio_net_set_features), and mergeable_rx_bufs
 * as saved (QEMU loads it; a reset leaves it, set_features sets it). Full
 * and provisional loads only: applying categories never changes them.
 */
export function applyNetTransport(n: NetState, p: LoadPlan): void {
  n.multiqueue = (p.features & (bit(VIRTIO_NET_F_MQ) | bit(VIRTIO_NET_F_RSS))) !== 0n;
  n.mergeableRxBufs = p.net.mergeableRxBufs;
  n.rss.redirect = (p.features & bit(VIRTIO_NET_F_RSS)) !== 0n;
}

/** Queue layout facts a resync checks against. */
export interface ResyncFacts {
  memory: GuestMemory;
  /** The device side of each virtqueue as provisionally loaded (undefined: no rings). */
  queues: readonly (SplitQueue | undefined)[];
  pbaLength: number;
  /** false: guest RAM is not complete yet (a warm-up run): the RAM-derived checks are left out. */
  ramLoaded?: boolean;
}

/** A validated resync, ready to apply. */
export interface ResyncPlan {
  queues: (SplitQueue | undefined)[];
  isr: number;
  pba: Uint8Array;
  /** Queues whose avail idx is more than a ring ahead: the device marks itself broken (as QEMU). */
  availAhead: number[];
}

function invalid(message: string, details: Record<string, unknown> = {}, cause?: unknown): VmigError {
  return new VmigError('ERR_NET_STATE_INVALID', `Cannot resync virtio-net state: ${message}`, { details, cause });
}

/**
 * Check the minimal state against a provisionally loaded device and guest
 * RAM — what a full load checks per queue (QEMU virtio_load): the used idx
 * read from RAM, at most a ring in flight, an avail idx more than a ring
 * ahead marks the device broken. Nothing is changed.
 * @throws VmigError ERR_NET_STATE_INVALID
 */
export function planResync(f: ResyncFacts, m: NetMinimalState): ResyncPlan {
  if (!Array.isArray(m.lastAvailIdx) || m.lastAvailIdx.length !== f.queues.length) {
    throw invalid(`${String(m.lastAvailIdx?.length)} queue indices for ${f.queues.length} virtqueues`);
  }
  if (!Number.isInteger(m.isr) || m.isr < 0 || m.isr > 0xff) throw invalid(`isr ${String(m.isr)} is out of range`);
  if (!(m.pba instanceof Uint8Array) || m.pba.length !== f.pbaLength) throw invalid(`an MSI-X PBA of ${String(m.pba?.length)} bytes, this device has ${f.pbaLength}`);
  const queues: (SplitQueue | undefined)[] = [];
  const availAhead: number[] = [];
  f.queues.forEach((q, i) => {
    const last = m.lastAvailIdx[i];
    if (!Number.isInteger(last) || last! < 0 || last! > 0xffff) throw invalid(`queue ${i}: last_avail_idx ${String(last)} is not a u16`, { queue: i });
    if (!q) {
      if (last !== 0) throw invalid(`queue ${i} has no rings but last_avail_idx ${String(last)}`, { queue: i });
      queues.push(undefined);
      return;
    }
    const layout = q.getState();
    // §3.5 step 13: the used idx comes from guest RAM, which is complete now.
    const ram = f.ramLoaded !== false;
    const usedIdx = ram ? f.memory.atomicLoadU16(Number(layout.usedAddr) + 2) : last!;
    const availIdx = ram ? f.memory.atomicLoadU16(Number(layout.availAddr) + 2) : last!;
    try {
      queues.push(SplitQueue.fromState(f.memory, { ...layout, lastAvailIdx: last, usedIdx }));
    } catch (err) {
      throw invalid(`queue ${i}: ${err instanceof Error ? err.message : String(err)}`, { queue: i }, err);
    }
    if (((availIdx - last!) & 0xffff) > layout.size) availAhead.push(i);
  });
  return { queues, isr: m.isr, pba: m.pba.slice(), availAhead };
}
