/**
 * The saved state of a virtio-pci device, as QEMU's `virtio_save` writes it
 * (hw/virtio/virtio.c, hw/virtio/virtio-pci.c; research/qemu-wire-format.md §3).
 * Identical in QEMU 7.2 and 10.2 except the 10.2-only subsections noted below.
 *
 *   A  transport: PCIDevice (be32 version · config 256|4096 · 4 × be32 INTx)
 *      [MSI-X table n×16 · PBA ⌈n/8⌉ · be16 config_vector]      if MSI-X
 *   B  u8 status · u8 isr · be16 queue_sel · be32 features[31:0]
 *      be32 config_len · config_len bytes
 *   C  be32 N (queues with num ≠ 0)
 *   D  N × (be32 num · be64 desc · be16 last_avail_idx [· be16 vector if MSI-X])
 *   F  the device's own description, fields + subsections, no version
 *   G  subsections of "virtio" (device_endian, 128bit_features [10.2],
 *      64bit_features, virtqueues, ringsize, broken, extra_state → virtio_pci
 *      modern_state [→ features128, 10.2], started, packed_virtqueues, disabled)
 *
 * The state object is wire-shaped: a subsection is sent iff its value is
 * present. Deciding what a live device must send (QEMU's `needed` rules) is
 * the device model's job, so the same description re-encodes a decoded QEMU
 * stream byte for byte.
 *
 * Two layout facts are not on the wire but device properties: whether the
 * function has MSI-X (and how many vectors) and whether its config space is
 * PCIe-sized. A loader with a live device passes them in the context
 * (`msixVectors`, `pciExpress`); a decoder without one (`inferTransport`)
 * reads them from the capability list inside the saved config space.
 */

import { ByteReader, ByteWriter, MalformedError } from '../core/index.js';
import type { CustomCodec, VmState, Vmsd, VmstateContext } from '../vmstate/index.js';
import { loadState, saveState } from '../vmstate/index.js';
import {
  PCI_CAPABILITY_LIST,
  PCI_CAP_ID_EXP,
  PCI_CAP_ID_MSIX,
  PCI_CONFIG_SPACE_SIZE,
  PCI_MSIX_ENTRY_SIZE,
  PCI_MSIX_FLAGS_QSIZE,
  PCI_NUM_PINS,
  PCI_STATUS,
  PCI_STATUS_CAP_LIST,
  PCIE_CONFIG_SPACE_SIZE,
  VIRTIO_QUEUE_MAX,
} from './spec-constants.js';

/** Part D: one loaded queue. */
export interface VirtioQueueSaved {
  num: number;
  desc: bigint;
  lastAvailIdx: number;
  /** Present iff the function has MSI-X. */
  vector?: number;
}

/** The virtio-pci modern common-config mirror (virtio_pci/modern_state). */
export interface VirtioPciModernState {
  dfselect: number;
  gfselect: number;
  guest_features: number[];
  vqs: { num: number; enabled: boolean; desc: number[]; avail: number[]; used: number[] }[];
  /** 10.2: guest feature words 2..3. */
  features128?: number[];
}

/** Everything virtio_save writes, wire-shaped. */
export interface VirtioSavedState extends VmState {
  pci: { version: number; config: Uint8Array; irq_state: number[] };
  msix?: { table: Uint8Array; pba: Uint8Array; config_vector: number };
  status: number;
  isr: number;
  queue_sel: number;
  guest_features_lo: number;
  config: Uint8Array;
  queues: VirtioQueueSaved[];
  /** The device's own state (part F). */
  device: VmState;
  device_endian?: number;
  guest_features_128_hi?: bigint;
  guest_features_64?: bigint;
  vrings?: { avail: bigint; used: bigint }[];
  ring_sizes?: number[];
  broken?: boolean;
  extra_state?: { modern_state?: VirtioPciModernState };
  started?: boolean;
  packed_vqs?: { last_avail_idx: number; last_avail_wrap_counter: boolean; used_idx: number; used_wrap_counter: boolean; inuse: number }[];
  disabled?: boolean;
}

export interface VirtioTransportContext extends VmstateContext {
  /** MSI-X vectors of the function; 0 = no MSI-X. */
  msixVectors?: number;
  /** Config space is 4096 bytes (PCIe). */
  pciExpress?: boolean;
  /** Read the two facts above from the saved PCI config instead. */
  inferTransport?: boolean;
  /** Set by the codec while part F loads: the low feature word read in part B. */
  guestFeaturesLo?: number;
}

const u32 = (name: string, path = [name]) => ({ name, path, type: { kind: 'int' as const, type: 'uint32' as const } });

const vmstateVirtqueue: Vmsd = {
  name: 'virtqueue_state',
  version: 1,
  fields: [
    { name: 'vring.avail', path: ['avail'], type: { kind: 'int', type: 'uint64' } },
    { name: 'vring.used', path: ['used'], type: { kind: 'int', type: 'uint64' } },
  ],
};

const vmstatePackedVirtqueue: Vmsd = {
  name: 'packed_virtqueue_state',
  version: 1,
  fields: [
    { name: 'last_avail_idx', type: { kind: 'int', type: 'uint16' } },
    { name: 'last_avail_wrap_counter', type: { kind: 'bool' } },
    { name: 'used_idx', type: { kind: 'int', type: 'uint16' } },
    { name: 'used_wrap_counter', type: { kind: 'bool' } },
    { name: 'inuse', type: { kind: 'int', type: 'uint32' } },
  ],
};

const vmstateVirtioPciModernQueue: Vmsd = {
  name: 'virtio_pci/modern_queue_state',
  version: 1,
  fields: [
    { name: 'num', type: { kind: 'int', type: 'uint16' } },
    { name: 'unused', type: { kind: 'unused', size: 1 } },
    { name: 'enabled', type: { kind: 'bool' } },
    { name: 'desc', type: { kind: 'int', type: 'uint32' }, count: 2 },
    { name: 'avail', type: { kind: 'int', type: 'uint32' }, count: 2 },
    { name: 'used', type: { kind: 'int', type: 'uint32' }, count: 2 },
  ],
};

const vmstateVirtioPciModernState: Vmsd = {
  name: 'virtio_pci/modern_state',
  version: 1,
  needed: (s) => s.modern_state !== undefined,
  fields: [
    u32('dfselect', ['modern_state', 'dfselect']),
    u32('gfselect', ['modern_state', 'gfselect']),
    { name: 'guest_features', path: ['modern_state', 'guest_features'], type: { kind: 'int', type: 'uint32' }, count: 2 },
    { name: 'vqs', path: ['modern_state', 'vqs'], type: { kind: 'struct', vmsd: vmstateVirtioPciModernQueue }, count: VIRTIO_QUEUE_MAX },
  ],
  subsections: [
    {
      name: 'virtio_pci/modern_state/features128',
      version: 1,
      needed: (s) => (s.modern_state as VirtioPciModernState | undefined)?.features128 !== undefined,
      fields: [{ name: 'guest_features', path: ['modern_state', 'features128'], type: { kind: 'int', type: 'uint32' }, count: 2 }],
    },
  ],
};

/** vmstate_virtio_pci: no fields, one subsection (saved inside virtio/extra_state). */
const vmstateVirtioPci: Vmsd = { name: 'virtio_pci', version: 1, fields: [], subsections: [vmstateVirtioPciModernState] };

const has = (key: string) => (s: VmState) => s[key] !== undefined;

/** vmstate_virtio: no fields, only subsections, in QEMU's array order. */
export const vmstateVirtio: Vmsd = {
  name: 'virtio',
  version: 1,
  minimumVersion: 1,
  fields: [],
  subsections: [
    { name: 'virtio/device_endian', version: 1, needed: has('device_endian'), fields: [{ name: 'device_endian', type: { kind: 'int', type: 'uint8' } }] },
    { name: 'virtio/128bit_features', version: 1, needed: has('guest_features_128_hi'), fields: [{ name: 'guest_features_ex[1]', path: ['guest_features_128_hi'], type: { kind: 'int', type: 'uint64' } }] },
    { name: 'virtio/64bit_features', version: 1, needed: has('guest_features_64'), fields: [{ name: 'guest_features', path: ['guest_features_64'], type: { kind: 'int', type: 'uint64' } }] },
    { name: 'virtio/virtqueues', version: 1, needed: has('vrings'), fields: [{ name: 'vq', path: ['vrings'], type: { kind: 'struct', vmsd: vmstateVirtqueue }, count: VIRTIO_QUEUE_MAX }] },
    { name: 'virtio/ringsize', version: 1, needed: has('ring_sizes'), fields: [{ name: 'vq', path: ['ring_sizes'], type: { kind: 'int', type: 'uint32' }, count: VIRTIO_QUEUE_MAX }] },
    { name: 'virtio/broken', version: 1, needed: has('broken'), fields: [{ name: 'broken', type: { kind: 'bool' } }] },
    { name: 'virtio/extra_state', version: 1, needed: has('extra_state'), fields: [{ name: 'extra_state', type: { kind: 'struct', vmsd: vmstateVirtioPci } }] },
    { name: 'virtio/started', version: 1, needed: has('started'), fields: [{ name: 'started', type: { kind: 'bool' } }] },
    { name: 'virtio/packed_virtqueues', version: 1, needed: has('packed_vqs'), fields: [{ name: 'vq', path: ['packed_vqs'], type: { kind: 'struct', vmsd: vmstatePackedVirtqueue }, count: VIRTIO_QUEUE_MAX }] },
    { name: 'virtio/disabled', version: 1, needed: has('disabled'), fields: [{ name: 'disabled', type: { kind: 'bool' } }] },
  ],
};

/** Limits on values part B and C read before using them as sizes. */
const MAX_CONFIG_LEN = 4096;

function malformed(r: ByteReader, back: number, expected: string, message: string): MalformedError {
  return new MalformedError('ERR_VIRTIO_BAD_STATE', message, { offset: r.offset - back, expected });
}

/** Walk the capability list of a saved config space (untrusted: bounded, loop-safe). */
export function findPciCapability(config: Uint8Array, capId: number): number | undefined {
  if (config.length < PCI_CONFIG_SPACE_SIZE || !(config[PCI_STATUS]! & PCI_STATUS_CAP_LIST)) return undefined;
  let ptr = config[PCI_CAPABILITY_LIST]! & 0xfc;
  for (let hops = 0; ptr >= 0x40 && hops < 48; hops++) {
    if (config[ptr] === capId) return ptr;
    ptr = config[ptr + 1]! & 0xfc;
  }
  return undefined;
}

function transportLayout(r: ByteReader, head: Uint8Array, ctx: VirtioTransportContext): { express: boolean; vectors: number } {
  if (!ctx.inferTransport) return { express: ctx.pciExpress ?? false, vectors: ctx.msixVectors ?? 0 };
  const express = findPciCapability(head, PCI_CAP_ID_EXP) !== undefined;
  const msix = findPciCapability(head, PCI_CAP_ID_MSIX);
  let vectors = 0;
  if (msix !== undefined) {
    const control = head[msix + 2]! | (head[msix + 3]! << 8); // PCI config is little-endian
    vectors = (control & PCI_MSIX_FLAGS_QSIZE) + 1;
  }
  void r;
  return { express, vectors };
}

/**
 * The custom put/get of QEMU's `virtio` field: the whole of `virtio_save`.
 * @param deviceVmsd the device's own description (part F)
 */
export function virtioSaveCodec(deviceVmsd: Vmsd): CustomCodec {
  return {
    save(w: ByteWriter, st: VmState, ctx: VmstateContext): void {
      const s = st as VirtioSavedState;
      // A: transport
      w.i32be(s.pci.version).bytes(s.pci.config);
      for (let i = 0; i < PCI_NUM_PINS; i++) w.i32be(s.pci.irq_state[i] ?? 0);
      if (s.msix) w.bytes(s.msix.table).bytes(s.msix.pba).u16be(s.msix.config_vector);
      // B: common
      w.u8(s.status).u8(s.isr).u16be(s.queue_sel).u32be(s.guest_features_lo).u32be(s.config.length).bytes(s.config);
      // C, D: queues
      w.u32be(s.queues.length);
      for (const q of s.queues) {
        w.u32be(q.num).u64be(q.desc).u16be(q.lastAvailIdx);
        if (s.msix) w.u16be(q.vector ?? 0xffff);
      }
      // F: device fields and subsections; G: virtio subsections
      saveState(w, deviceVmsd, s.device, { ...ctx, guestFeaturesLo: s.guest_features_lo, virtio: s });
      saveState(w, vmstateVirtio, s, ctx);
    },

    load(r: ByteReader, st: VmState, ctxIn: VmstateContext): void {
      const ctx = ctxIn as VirtioTransportContext;
      const s = st as VirtioSavedState;
      // A: transport. The first 256 config bytes decide the rest of the layout.
      const version = r.i32be('be32 PCIDevice version');
      if (version < 0 || version > 2) throw malformed(r, 4, 'PCIDevice version ≤ 2', `PCIDevice version ${version} is not in 0..2`);
      const head = r.bytes(PCI_CONFIG_SPACE_SIZE, 'PCI config space');
      const layout = transportLayout(r, head, ctx);
      const config = new Uint8Array(layout.express ? PCIE_CONFIG_SPACE_SIZE : PCI_CONFIG_SPACE_SIZE);
      config.set(head);
      if (layout.express) config.set(r.bytes(PCIE_CONFIG_SPACE_SIZE - PCI_CONFIG_SPACE_SIZE, 'PCIe extended config space'), PCI_CONFIG_SPACE_SIZE);
      const irq: number[] = [];
      for (let i = 0; i < PCI_NUM_PINS; i++) {
        const v = r.i32be('be32 PCI irq state');
        if (v !== 0 && v !== 1) throw malformed(r, 4, 'irq state 0 or 1', `PCI INTx state ${v} is not 0 or 1`);
        irq.push(v);
      }
      s.pci = { version, config, irq_state: irq };
      if (layout.vectors > 0) {
        const table = r.bytes(layout.vectors * PCI_MSIX_ENTRY_SIZE, 'MSI-X table').slice();
        const pba = r.bytes(Math.ceil(layout.vectors / 8), 'MSI-X PBA').slice();
        const configVector = r.u16be('be16 config vector');
        checkVector(r, configVector, layout.vectors);
        s.msix = { table, pba, config_vector: configVector };
      } else {
        delete s.msix;
      }
      // B
      s.status = r.u8('u8 device status');
      s.isr = r.u8('u8 ISR');
      s.queue_sel = r.u16be('be16 queue_sel');
      if (s.queue_sel >= VIRTIO_QUEUE_MAX) throw malformed(r, 2, `queue_sel < ${VIRTIO_QUEUE_MAX}`, `queue_sel ${s.queue_sel} is out of range`);
      s.guest_features_lo = r.u32be('be32 guest features (low word)');
      const configLen = r.u32be('be32 config length');
      if (configLen > MAX_CONFIG_LEN) throw malformed(r, 4, `config length ≤ ${MAX_CONFIG_LEN}`, `virtio config length ${configLen} is too large`);
      s.config = r.bytes(configLen, 'virtio device config').slice();
      // C, D
      const n = r.u32be('be32 queue count');
      if (n > VIRTIO_QUEUE_MAX) throw malformed(r, 4, `queue count ≤ ${VIRTIO_QUEUE_MAX}`, `Invalid number of virtqueues: 0x${n.toString(16)}`);
      const queues: VirtioQueueSaved[] = [];
      for (let i = 0; i < n; i++) {
        const num = r.u32be(`be32 size of queue ${i}`);
        const desc = r.u64be(`be64 descriptor table address of queue ${i}`);
        const lastAvailIdx = r.u16be(`be16 last_avail_idx of queue ${i}`);
        if (desc === 0n && lastAvailIdx !== 0) throw malformed(r, 2, 'last_avail_idx 0 for a queue without rings', `VQ ${i} address 0x0 inconsistent with Host index 0x${lastAvailIdx.toString(16)}`);
        const q: VirtioQueueSaved = { num, desc, lastAvailIdx };
        if (layout.vectors > 0) {
          q.vector = r.u16be(`be16 MSI-X vector of queue ${i}`);
          checkVector(r, q.vector, layout.vectors);
        }
        queues.push(q);
      }
      s.queues = queues;
      // F: QEMU loads the device part with the local version; the low feature
      // word is already visible to its field_exists tests.
      const device: VmState = (s.device as VmState | undefined) ?? {};
      loadState(r, deviceVmsd, device, deviceVmsd.version, { ...ctx, guestFeaturesLo: s.guest_features_lo, virtio: s });
      s.device = device;
      // G
      loadState(r, vmstateVirtio, s, 1, ctx);
    },
  };
}

function checkVector(r: ByteReader, vector: number, vectors: number): void {
  if (vector !== 0xffff && vector >= vectors) throw malformed(r, 2, `a vector < ${vectors} or 0xffff`, `MSI-X vector ${vector} is out of range (the function has ${vectors})`);
}

/**
 * The top-level description of a virtio device section: one field `virtio`
 * holding the whole virtio_save blob (QEMU's VMSTATE_VIRTIO_DEVICE).
 */
export function virtioDeviceSectionVmsd(name: string, version: number, deviceVmsd: Vmsd): Vmsd {
  return {
    name,
    version,
    minimumVersion: version,
    fields: [{ name: 'virtio', type: { kind: 'custom', info: 'virtio', codec: virtioSaveCodec(deviceVmsd) } }],
  };
}

/** The 64-bit guest features a loader would apply: the 64-bit subsection when sent, else the low word. */
export function savedGuestFeatures(s: VirtioSavedState): bigint {
  return s.guest_features_64 ?? BigInt(s.guest_features_lo);
}
