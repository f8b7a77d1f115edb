/**
 * Early virtio-net migration (DESIGN §6, the RFC in ../shared/seed): the
 * device's state travels in the setup phase, as a FULL section of the usual
 * virtio-net layout named `<idstr>-early`; the source keeps it as the
 * snapshot. At stop-and-copy the source compares the device with that
 * snapshot in the RFC's eleven categories and sends `<idstr>-delta`: the
 * state that must always be resynchronised (ring indices, ISR, pending
 * interrupt bits) plus, per policy,
 *
 *   rfc        any tracked change → the whole current state (a full reload,
 *              exactly as the RFC does);
 *   per-delta  only the changed categories' values; a full reload only for
 *              changes that demand it (the queue layout, the device status —
 *              a reset or renegotiation — or the transport).
 *
 * The destination rebuilds the current state from its early copy and the
 * delta, and the device loads that; the full 46 KB section is never encoded,
 * sent or decoded inside the downtime.
 */

import { MalformedError, decodeText, encodeText } from '../core/index.js';
import type { VirtioSavedState } from '../virtio/index.js';
import type { VmState, Vmsd } from '../vmstate/index.js';

export type EarlyPolicy = 'rfc' | 'per-delta';

/** The RFC's tracked categories (its patches 3–13), in its order. */
export const EARLY_CATEGORIES = ['vq', 'device-status', 'config', 'mac', 'mac-table', 'net-status', 'rx-filter', 'vlan', 'offloads-mq', 'rss', 'pending-tx'] as const;
export type EarlyCategory = (typeof EARLY_CATEGORIES)[number] | 'transport';

/** Changes that need a full reload under per-delta too: a reset, renegotiated features, a new queue layout. */
const RELOAD_CATEGORIES: ReadonlySet<EarlyCategory> = new Set(['vq', 'device-status', 'transport']);

type Saved = VirtioSavedState & { device: Record<string, unknown> };

/**
 * Where each category lives in the saved state. What is in no category is
 * the always-resynced minimal state: per-queue last_avail_idx, the ISR, the
 * MSI-X PBA and the PCI INTx state.
 */
const PATHS: Record<EarlyCategory, (s: Saved) => unknown> = {
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

/** Setters for per-delta: copy one category's values from `from` into `to`. */
const COPY: Partial<Record<EarlyCategory, (to: Saved, from: Saved) => void>> = {
  config: (t, f) => void (t.config = f.config),
  mac: (t, f) => void (t.device.mac = f.device.mac),
  'mac-table': (t, f) => void (t.device.mac_table = f.device.mac_table),
  'net-status': (t, f) => void (t.device.status = f.device.status),
  'rx-filter': (t, f) => {
    for (const k of ['promisc', 'allmulti', 'alluni', 'nomulti', 'nouni', 'nobcast']) t.device[k] = f.device[k];
  },
  vlan: (t, f) => void (t.device.vlans = f.device.vlans),
  'offloads-mq': (t, f) => {
    t.device.curr_guest_offloads = f.device.curr_guest_offloads;
    t.device.curr_queue_pairs = f.device.curr_queue_pairs;
  },
  rss: (t, f) => void (t.device.rss_data = f.device.rss_data),
  'pending-tx': (t, f) => void (t.device.tx_waiting = f.device.tx_waiting),
};

/**
 * Structural equality of saved-state values (numbers, bigints, booleans,
 * byte arrays, arrays, plain objects). Allocation-free: it runs inside the
 * downtime, over 1024-entry tables.
 */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (a instanceof Uint8Array) {
    if (!(b instanceof Uint8Array) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameValue(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b) || b instanceof Uint8Array) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  let n = 0;
  for (const k in ra) {
    n++;
    if (!sameValue(ra[k], rb[k])) return false;
  }
  for (const _k in rb) n--;
  return n === 0;
}

const ALL_CATEGORIES: EarlyCategory[] = [...EARLY_CATEGORIES, 'transport'];

/** The categories in which `now` differs from the early snapshot. */
export function changedCategories(early: VirtioSavedState, now: VirtioSavedState): EarlyCategory[] {
  return ALL_CATEGORIES.filter((c) => !sameValue(PATHS[c](early as Saved), PATHS[c](now as Saved)));
}

export function needsFullReload(policy: EarlyPolicy, changed: readonly EarlyCategory[]): boolean {
  return policy === 'rfc' ? changed.length > 0 : changed.some((c) => RELOAD_CATEGORIES.has(c));
}

/** What the delta section carries. */
export interface NetDelta {
  policy: EarlyPolicy;
  changed: EarlyCategory[];
  fullReload: boolean;
  lastAvailIdx: number[];
  isr: number;
  pba: Uint8Array;
  irqState: number[];
  /** fullReload: the whole current state, in the FULL section's layout. */
  full?: Uint8Array;
  /** per-delta without reload: the changed categories' values (tagged JSON). */
  slices?: Uint8Array;
}

const CATEGORY_BITS: EarlyCategory[] = [...EARLY_CATEGORIES, 'transport'];

/** Limits for untrusted delta sections. */
const MAX_QUEUES = 1024;
const MAX_PAYLOAD = 1 << 20;

/** Tagged JSON for saved-state values: bigints and byte arrays survive. */
export function encodeSlices(now: VirtioSavedState, changed: readonly EarlyCategory[]): Uint8Array {
  const src = now as Saved;
  const part: Saved = { device: {} } as unknown as Saved;
  for (const c of changed) COPY[c]?.(part, src);
  return encodeText(JSON.stringify({ config: part.config, device: part.device }, (_k, x: unknown) => (typeof x === 'bigint' ? { $n: x.toString() } : x instanceof Uint8Array ? { $b: Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('hex') } : x)));
}

function decodeSlices(bytes: Uint8Array): Saved {
  return JSON.parse(decodeText(bytes), (_k, x: unknown) => {
    if (x && typeof x === 'object' && !Array.isArray(x)) {
      const o = x as Record<string, unknown>;
      if (typeof o.$n === 'string' && /^-?\d{1,40}$/.test(o.$n)) return BigInt(o.$n);
      if (typeof o.$b === 'string' && /^([0-9a-f]{2})*$/.test(o.$b)) return Uint8Array.from(Buffer.from(o.$b, 'hex'));
    }
    return x;
  }) as Saved;
}

/**
 * The current state from the early snapshot and a delta (per-delta, no
 * reload): the snapshot, the changed categories' values, the minimal state.
 * The device's full check (planLoad) still validates the result. The early
 * state is updated in place (it is not needed afterwards): copying its
 * 1024-entry tables would cost downtime.
 */
export function applyDelta(early: VirtioSavedState, delta: NetDelta, decodeFull: (bytes: Uint8Array) => VirtioSavedState): VirtioSavedState {
  if (delta.fullReload) {
    if (!delta.full) throw new MalformedError('ERR_MIGRATE_BAD_DELTA', 'a full-reload delta without the device state', { offset: 0, expected: 'the full virtio-net state' });
    return decodeFull(delta.full);
  }
  const out = early as Saved;
  if (delta.slices) {
    let part: Saved;
    try {
      part = decodeSlices(delta.slices);
    } catch {
      throw new MalformedError('ERR_MIGRATE_BAD_DELTA', 'the delta\'s category values are not valid JSON', { offset: 0, expected: 'tagged JSON' });
    }
    if (typeof part !== 'object' || part === null || typeof part.device !== 'object' || part.device === null) throw new MalformedError('ERR_MIGRATE_BAD_DELTA', 'the delta\'s category values are not an object', { offset: 0, expected: '{config, device}' });
    for (const c of delta.changed) COPY[c]?.(out, { ...part, device: part.device } as Saved);
  }
  if (delta.lastAvailIdx.length !== out.queues.length) throw new MalformedError('ERR_MIGRATE_BAD_DELTA', `the delta has ${delta.lastAvailIdx.length} queue indices, the early state ${out.queues.length} queues`, { offset: 0, expected: 'one index per queue' });
  out.queues.forEach((q, i) => (q.lastAvailIdx = delta.lastAvailIdx[i]!));
  out.isr = delta.isr;
  if (out.msix) {
    if (delta.pba.length !== out.msix.pba.length) throw new MalformedError('ERR_MIGRATE_BAD_DELTA', `the delta's MSI-X PBA has ${delta.pba.length} bytes, not ${out.msix.pba.length}`, { offset: 0, expected: 'the PBA of the early state' });
    out.msix.pba = delta.pba;
  }
  out.pci.irq_state = delta.irqState;
  return out;
}

/** Build the delta the source sends (the full state is encoded by the caller's codec). */
export function buildDelta(policy: EarlyPolicy, early: VirtioSavedState, now: VirtioSavedState, encodeFull: (s: VirtioSavedState) => Uint8Array): NetDelta {
  const changed = changedCategories(early, now);
  const fullReload = needsFullReload(policy, changed);
  const d: NetDelta = {
    policy,
    changed,
    fullReload,
    lastAvailIdx: now.queues.map((q) => q.lastAvailIdx),
    isr: now.isr,
    pba: now.msix?.pba ?? new Uint8Array(0),
    irqState: now.pci.irq_state,
  };
  if (fullReload) d.full = encodeFull(now);
  else if (changed.length > 0) d.slices = encodeSlices(now, changed);
  return d;
}

/** The delta section's layout (a vmig section: `<idstr>-delta`, version 1). */
export const netDeltaVmsd: Vmsd = {
  name: 'virtio-net-delta',
  version: 1,
  minimumVersion: 1,
  fields: [
    { name: 'policy', path: ['policyCode'], type: { kind: 'int', type: 'uint8' }, validate: (v) => (v === 0 || v === 1 ? undefined : `policy ${String(v)} is not 0 (rfc) or 1 (per-delta)`) },
    { name: 'changed', path: ['changedMask'], type: { kind: 'int', type: 'uint32' }, validate: (v) => ((v as number) >>> CATEGORY_BITS.length === 0 ? undefined : `unknown category bits in 0x${(v as number).toString(16)}`) },
    { name: 'full_reload', path: ['fullReload'], type: { kind: 'bool' } },
    { name: 'num_queues', path: ['numQueues'], type: { kind: 'int', type: 'uint32' }, validate: (v) => ((v as number) <= MAX_QUEUES ? undefined : `${String(v)} queues exceed ${MAX_QUEUES}`) },
    { name: 'last_avail_idx', path: ['lastAvailIdx'], type: { kind: 'int', type: 'uint16' }, count: { field: ['numQueues'] } },
    { name: 'isr', type: { kind: 'int', type: 'uint8' } },
    { name: 'pba_len', path: ['pbaLen'], type: { kind: 'int', type: 'uint32' }, validate: (v) => ((v as number) <= 256 ? undefined : `PBA of ${String(v)} bytes`) },
    { name: 'pba', type: { kind: 'buffer', size: { field: ['pbaLen'] } } },
    { name: 'irq_state', path: ['irqState'], type: { kind: 'int', type: 'int32' }, count: 4 },
    { name: 'payload_len', path: ['payloadLen'], type: { kind: 'int', type: 'uint32' }, validate: (v) => ((v as number) <= MAX_PAYLOAD ? undefined : `a payload of ${String(v)} bytes exceeds ${MAX_PAYLOAD}`) },
    { name: 'payload', type: { kind: 'buffer', size: { field: ['payloadLen'] } } },
  ],
  preSave: (s) => {
    const d = s as unknown as NetDelta & VmState;
    s.policyCode = d.policy === 'rfc' ? 0 : 1;
    s.changedMask = d.changed.reduce((m, c) => m | (1 << CATEGORY_BITS.indexOf(c)), 0);
    s.numQueues = d.lastAvailIdx.length;
    s.pbaLen = d.pba.length;
    const payload = d.full ?? d.slices ?? new Uint8Array(0);
    s.payloadLen = payload.length;
    s.payload = payload;
  },
  postLoad: (s) => {
    s.policy = s.policyCode === 0 ? 'rfc' : 'per-delta';
    s.changed = CATEGORY_BITS.filter((_c, i) => ((s.changedMask as number) >>> i) & 1);
    const payload = s.payload as Uint8Array;
    if (s.fullReload) s.full = payload;
    else if (payload.length > 0) s.slices = payload;
  },
};
