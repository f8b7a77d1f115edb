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
 *              a transport change (renegotiated features, MSI-X table, PCI
 *              config), which no category handler applies.
 *
 * The destination holds the early state in its device already (loaded
 * provisionally in the setup phase). At the switchover it applies the
 * minimal state alone when nothing changed, the changed categories through
 * the device's handlers (on the state rebuilt here from its early copy and
 * the delta) under per-delta, or the whole state on a full reload; the full
 * 46 KB section is never encoded, sent or decoded inside the downtime
 * unless a reload demands it.
 */

import { MalformedError, decodeText, encodeText } from '../core/index.js';
import { NET_STATE_CATEGORIES, TRACKED_PARTS, trackedValue } from '../devices/net/index.js';
import type { NetStateCategory, TrackedPart, VirtioNetDevice } from '../devices/net/index.js';
import { VIRTIO_QUEUE_MAX } from '../virtio/index.js';
import type { VirtioSavedState } from '../virtio/index.js';
import type { VmState, Vmsd } from '../vmstate/index.js';

export type EarlyPolicy = 'rfc' | 'per-delta';

/** The RFC's tracked categories (its patches 3–13), in its order; the device layer defines them. */
export const EARLY_CATEGORIES = NET_STATE_CATEGORIES;
export type EarlyCategory = TrackedPart;

/**
 * Changes that need a full reload under per-delta too: renegotiated features,
 * the MSI-X table or PCI config. Every other category — the queue layout and
 * the device status after a reset included — has a handler on the
 * destination's device (category-load.ts).
 */
const RELOAD_CATEGORIES: ReadonlySet<EarlyCategory> = new Set(['transport']);

type Saved = VirtioSavedState & { device: Record<string, unknown> };

/** One category's values as they travel in a per-delta payload. */
type Part = Record<string, unknown>;

const pick = (from: Record<string, unknown>, keys: readonly string[]): Part => Object.fromEntries(keys.map((k) => [k, from[k]]));
const put = (to: Record<string, unknown>, part: Part, keys: readonly string[]): void => {
  for (const k of keys) {
    if (part[k] === undefined) delete to[k];
    else to[k] = part[k];
  }
};

/** Per-queue tables: the first `n` entries, then zero padding up to VIRTIO_QUEUE_MAX (as saved-state.ts writes them). */
function padded<T>(head: unknown, n: number, zero: () => T): T[] | undefined {
  if (head === undefined) return undefined;
  if (!Array.isArray(head) || head.length !== n) throw new Error(`a per-queue table of ${Array.isArray(head) ? head.length : typeof head} entries for ${n} queues`);
  return Array.from({ length: VIRTIO_QUEUE_MAX }, (_, i) => (i < n ? (head[i] as T) : zero()));
}

const RX_MODE = ['promisc', 'allmulti', 'alluni', 'nomulti', 'nouni', 'nobcast'] as const;
const DEVICE_FIELDS: Partial<Record<NetStateCategory, readonly string[]>> = {
  mac: ['mac'],
  'mac-table': ['mac_table'],
  'net-status': ['status'],
  'rx-filter': RX_MODE,
  vlan: ['vlans'],
  'offloads-mq': ['curr_guest_offloads', 'curr_queue_pairs'],
  rss: ['rss_data'],
  'pending-tx': ['tx_waiting'],
};

/**
 * Per-delta: take one category's values from the source's current state
 * (`take`), and put them into the destination's copy of the early state
 * (`put`). The fields are those state-categories.ts assigns to the category.
 */
const SLICES: Record<NetStateCategory, { take(s: Saved): Part; put(to: Saved, part: Part): void }> = {
  // The queue configuration; lastAvailIdx is minimal state and comes from the delta itself.
  vq: {
    take: (s) => {
      const n = s.queues.length;
      return { queues: s.queues, queue_sel: s.queue_sel, vrings: s.vrings?.slice(0, n), ring_sizes: s.ring_sizes?.slice(0, n), vqs: s.extra_state?.modern_state?.vqs.slice(0, n) };
    },
    put: (to, p) => {
      if (!Array.isArray(p.queues)) throw new Error('no queue list');
      const n = p.queues.length;
      to.queues = (p.queues as Record<string, unknown>[]).map((q) => ({ ...q })) as unknown as Saved['queues'];
      to.queue_sel = p.queue_sel as number;
      to.vrings = padded(p.vrings, n, () => ({ avail: 0n, used: 0n }));
      const sizes = padded<number>(p.ring_sizes, n, () => 0);
      if (sizes) to.ring_sizes = sizes;
      else delete to.ring_sizes;
      const vqs = padded(p.vqs, n, () => ({ num: 0, enabled: false, desc: [0, 0], avail: [0, 0], used: [0, 0] }));
      if (vqs && to.extra_state?.modern_state) to.extra_state.modern_state.vqs = vqs as typeof to.extra_state.modern_state.vqs;
    },
  },
  'device-status': {
    take: (s) => pick(s as unknown as Part, ['status', 'started', 'broken']),
    put: (to, p) => put(to as unknown as Part, p, ['status', 'started', 'broken']),
  },
  config: { take: (s) => ({ config: s.config }), put: (to, p) => void (to.config = p.config as Uint8Array) },
  ...(Object.fromEntries(
    Object.entries(DEVICE_FIELDS).map(([c, keys]) => [c, { take: (s: Saved) => pick(s.device, keys), put: (to: Saved, p: Part) => put(to.device, p, keys) }]),
  ) as Record<Exclude<NetStateCategory, 'vq' | 'device-status' | 'config'>, { take(s: Saved): Part; put(to: Saved, part: Part): void }>),
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

/** The categories in which `now` differs from the early snapshot. */
export function changedCategories(early: VirtioSavedState, now: VirtioSavedState): EarlyCategory[] {
  return TRACKED_PARTS.filter((c) => !sameValue(trackedValue(c, early), trackedValue(c, now)));
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

const CATEGORY_BITS: readonly EarlyCategory[] = TRACKED_PARTS;

/** Limits for untrusted delta sections. */
const MAX_QUEUES = 1024;
const MAX_PAYLOAD = 1 << 20;

/** The changed categories' values, as tagged JSON (bigints and byte arrays survive): `{category: values}`. */
export function encodeSlices(now: VirtioSavedState, changed: readonly EarlyCategory[]): Uint8Array {
  const parts: Record<string, Part> = {};
  for (const c of changed) if (c !== 'transport') parts[c] = SLICES[c].take(now as Saved);
  return encodeText(JSON.stringify(parts, (_k, x: unknown) => (typeof x === 'bigint' ? { $n: x.toString() } : x instanceof Uint8Array ? { $b: Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('hex') } : x)));
}

function decodeSlices(bytes: Uint8Array): Record<string, unknown> {
  return JSON.parse(decodeText(bytes), (_k, x: unknown) => {
    if (x && typeof x === 'object' && !Array.isArray(x)) {
      const o = x as Record<string, unknown>;
      if (typeof o.$n === 'string' && /^-?\d{1,40}$/.test(o.$n)) return BigInt(o.$n);
      if (typeof o.$b === 'string' && /^([0-9a-f]{2})*$/.test(o.$b)) return Uint8Array.from(Buffer.from(o.$b, 'hex'));
    }
    return x;
  }) as Record<string, unknown>;
}

const badDelta = (message: string, expected: string): MalformedError => new MalformedError('ERR_MIGRATE_BAD_DELTA', message, { offset: 0, expected });

/**
 * The current state from the early snapshot and a delta (per-delta, no
 * reload): the snapshot, the changed categories' values, the minimal state.
 * The device's full check (planLoad) still validates the result. The early
 * state is updated in place (it is not needed afterwards): copying its
 * 1024-entry tables would cost downtime.
 * @throws MalformedError ERR_MIGRATE_BAD_DELTA
 */
export function applyDelta(early: VirtioSavedState, delta: NetDelta, decodeFull: (bytes: Uint8Array) => VirtioSavedState): VirtioSavedState {
  if (delta.fullReload) {
    if (!delta.full) throw badDelta('a full-reload delta without the device state', 'the full virtio-net state');
    return decodeFull(delta.full);
  }
  if (delta.changed.includes('transport')) throw badDelta('a transport change without a full reload', 'full_reload with a transport change');
  const out = early as Saved;
  if (delta.changed.length > 0) {
    let parts: Record<string, unknown>;
    try {
      parts = decodeSlices(delta.slices ?? new Uint8Array(0));
    } catch {
      throw badDelta("the delta's category values are not valid JSON", 'tagged JSON');
    }
    if (typeof parts !== 'object' || parts === null || Array.isArray(parts)) throw badDelta("the delta's category values are not an object", '{category: values}');
    for (const c of delta.changed as NetStateCategory[]) {
      const part = parts[c];
      if (typeof part !== 'object' || part === null || Array.isArray(part)) throw badDelta(`the delta lacks the values of ${c}`, `the values of ${c}`);
      try {
        SLICES[c].put(out, part as Part);
      } catch (err) {
        throw badDelta(`the delta's values of ${c} do not fit: ${err instanceof Error ? err.message : String(err)}`, `the values of ${c}`);
      }
    }
  }
  if (delta.lastAvailIdx.length !== out.queues.length) throw badDelta(`the delta has ${delta.lastAvailIdx.length} queue indices, the early state ${out.queues.length} queues`, 'one index per queue');
  out.queues.forEach((q, i) => (q.lastAvailIdx = delta.lastAvailIdx[i]!));
  out.isr = delta.isr;
  if (out.msix) {
    if (delta.pba.length !== out.msix.pba.length) throw badDelta(`the delta's MSI-X PBA has ${delta.pba.length} bytes, not ${out.msix.pba.length}`, 'the PBA of the early state');
    out.msix.pba = delta.pba;
  }
  out.pci.irq_state = delta.irqState;
  return out;
}

/**
 * A copy of `state` that applyDelta may merge into without touching `state`:
 * every object it assigns into is copied, values are shared. A warm-up's
 * structuredClone of it took ~10 ms (a trace, session 5).
 */
export function copyForMerge(state: VirtioSavedState): VirtioSavedState {
  const modern = state.extra_state?.modern_state;
  return {
    ...state,
    pci: { ...state.pci },
    device: { ...state.device },
    queues: state.queues.map((q) => ({ ...q })),
    ...(state.msix ? { msix: { ...state.msix } } : {}),
    ...(state.extra_state ? { extra_state: { ...state.extra_state, ...(modern ? { modern_state: { ...modern } } : {}) } } : {}),
  };
}

/**
 * A copy of `state` with its VLAN filter, rx-mode and MAC changed (each
 * flipped back and forth by one bit): what a warm-up feeds the per-delta
 * paths — encodeSlices, decodeSlices, the merge — which a delta with nothing
 * changed never runs. Run cold inside the downtime, a one-category change
 * cost the destination ~0.9 ms more than no change (bench:early).
 */
export function withSyntheticChanges(state: VirtioSavedState): VirtioSavedState {
  // Only what changes is copied; the rest is shared with `state`, which the
  // callers only read. structuredClone of this state (under 1 KB of buffers)
  // took 10 ms of the source's thread at a migration's start, 30 ms the first
  // time in a process (a trace of it, session 5).
  const d = state.device as { vlans: Uint8Array; promisc: number; mac: Uint8Array };
  const vlans = d.vlans.slice();
  vlans[0] = vlans[0]! ^ 1;
  const mac = d.mac.slice();
  mac[5] = mac[5]! ^ 1;
  return { ...state, device: { ...state.device, vlans, mac, promisc: d.promisc ^ 1 } };
}

/**
 * The destination's switchover for a device that holds the early state
 * (loadProvisional). Nothing changed: the minimal state alone
 * (resyncAtSwitchover). Categories changed under per-delta: the current
 * state rebuilt from the early copy and the delta, checked in full, then
 * only those categories applied (applyCategories). A full reload (rfc on any
 * change, per-delta on a transport change): the whole state loaded over the
 * provisional one. The backend is attached by the caller, after.
 * @throws MalformedError ERR_MIGRATE_BAD_DELTA; VmigError ERR_NET_STATE_* (nothing applied)
 */
export function applyEarlySwitchover(nic: VirtioNetDevice, early: VirtioSavedState, delta: NetDelta, decodeFull: (bytes: Uint8Array) => VirtioSavedState): void {
  if (!delta.fullReload && delta.changed.length === 0) {
    nic.resyncAtSwitchover(delta);
    return;
  }
  const merged = applyDelta(early, delta, decodeFull);
  if (delta.fullReload) nic.loadState(merged, { deferBackendAttach: true });
  else nic.applyCategories(merged, delta.changed as NetStateCategory[]);
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
