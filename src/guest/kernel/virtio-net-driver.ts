/**
 * The guest's virtio-net PCI driver, modelled on Linux's virtio_net over the
 * modern virtio-pci transport (virtio 1.2 §3.1 initialisation, §2.7 split
 * queues, §5.1 network device). It runs on vCPU 0 inside the guest kernel and
 * keeps every piece of state in guest RAM (the struct below), so a migrated
 * guest continues with the same rings, indices and buffers.
 *
 * Driver state (at BB_NET_STATE):
 *   0x00 u32 phase (0 down, 1 up, 2 failed)   0x04/0x08 u32 features lo/hi
 *   0x0c u32 max queue pairs                   0x10 u32 current queue pairs
 *   0x14 u32 queue count (incl. control)       0x18 6 bytes MAC
 *   0x20 u32 config status (link/announce)     0x24 u32 control buffer gpa
 *   0x28 u32 control commands failed            0x2c u32 frames dropped (too big)
 *   0x40 + 64·q  per-queue record (QUEUE_* offsets)
 *
 * Queue numbering as QEMU's: rx0 tx0 rx1 tx1 … then the control queue.
 * Buffers: one 2 KiB buffer per descriptor (12-byte virtio_net_hdr_v1 plus a
 * 1514-byte frame fit); RX descriptors are posted once and recycled in
 * place; TX descriptors come from a free stack of ids in RAM. MSI-X vectors:
 * config 0, queue q → q + 1 (Linux's per-queue vectors).
 */

import type { GuestMemory } from '../../memory/index.js';
import {
  VIRTIO_CONFIG_S_ACKNOWLEDGE,
  VIRTIO_CONFIG_S_DRIVER,
  VIRTIO_CONFIG_S_DRIVER_OK,
  VIRTIO_CONFIG_S_FEATURES_OK,
  VIRTIO_F_VERSION_1,
  VIRTIO_NO_VECTOR,
  VIRTIO_PCI_DEVICE_CFG,
  VIRTIO_PCI_ISR,
  VIRTIO_PCI_MSIX_TABLE,
} from '../../virtio/index.constants.js';
import type { VcpuServices } from '../vcpu-services.js';
import type { KernelHeap } from './heap.js';

/** virtio-net feature bits this driver understands (virtio 1.2 §5.1.3). */
export const F = {
  CSUM: 0,
  GUEST_CSUM: 1,
  CTRL_GUEST_OFFLOADS: 2,
  MAC: 5,
  MRG_RXBUF: 15,
  STATUS: 16,
  CTRL_VQ: 17,
  CTRL_RX: 18,
  CTRL_VLAN: 19,
  CTRL_RX_EXTRA: 20,
  GUEST_ANNOUNCE: 21,
  MQ: 22,
  CTRL_MAC_ADDR: 23,
  RSS: 60,
} as const;

const WANTED = [F.CSUM, F.GUEST_CSUM, F.CTRL_GUEST_OFFLOADS, F.MAC, F.MRG_RXBUF, F.STATUS, F.CTRL_VQ, F.CTRL_RX, F.CTRL_VLAN, F.CTRL_RX_EXTRA, F.GUEST_ANNOUNCE, F.MQ, F.CTRL_MAC_ADDR, F.RSS];

/**
 * Features a re-initialisation may leave out of the negotiation, by QEMU's
 * property names: the driver works without them (no guest announce; no VLAN
 * filter commands, every VLAN passing). The others shape the queue layout,
 * the control queue or the rx mode the driver relies on.
 */
export const OPTIONAL_FEATURES: Readonly<Record<string, number>> = { guest_announce: F.GUEST_ANNOUNCE, ctrl_vlan: F.CTRL_VLAN };

/** How a re-initialisation differs from the first probe. */
export interface ReinitOptions {
  /** Ring entries per data queue (at most what the rings were allocated for); default: as now. */
  ringSize?: number;
  /** Feature bits not to ask for this time (OPTIONAL_FEATURES); default: none, every feature the driver knows. */
  featuresOff?: readonly number[];
}

/** Control classes and commands (virtio 1.2 §5.1.6.5). */
export const CTRL = {
  RX: 0,
  RX_PROMISC: 0,
  RX_ALLMULTI: 1,
  RX_ALLUNI: 2,
  RX_NOMULTI: 3,
  RX_NOUNI: 4,
  RX_NOBCAST: 5,
  MAC: 1,
  MAC_TABLE_SET: 0,
  MAC_ADDR_SET: 1,
  VLAN: 2,
  VLAN_ADD: 0,
  VLAN_DEL: 1,
  ANNOUNCE: 3,
  ANNOUNCE_ACK: 0,
  MQ: 4,
  MQ_VQ_PAIRS_SET: 0,
  MQ_RSS_CONFIG: 1,
  GUEST_OFFLOADS: 5,
  GUEST_OFFLOADS_SET: 0,
} as const;

export const VIRTIO_NET_S_LINK_UP = 1;
export const VIRTIO_NET_S_ANNOUNCE = 2;
export const NET_HDR_BYTES = 12;
export const BUFFER_BYTES = 2048;
const MAX_PAIRS = 8;

const D_PHASE = 0x00;
const D_FEAT_LO = 0x04;
const D_FEAT_HI = 0x08;
const D_MAX_PAIRS = 0x0c;
const D_CURR_PAIRS = 0x10;
const D_NUM_QUEUES = 0x14;
const D_MAC = 0x18;
const D_STATUS = 0x20;
const D_CTRL_BUF = 0x24;
const D_CTRL_FAILED = 0x28;
const D_TOO_BIG = 0x2c;
const D_QUEUES = 0x40;
const Q_BYTES = 64;

const Q_SIZE = 0x00;
const Q_DESC = 0x04;
const Q_AVAIL = 0x08;
const Q_USED = 0x0c;
const Q_BUFS = 0x10;
const Q_AVAIL_IDX = 0x14; // u32 holding the u16 shadow
const Q_LAST_USED = 0x18; // u32 holding the u16
const Q_FREE = 0x1c; // gpa of the u16 free-id stack (tx)
const Q_FREE_COUNT = 0x20;
const Q_PACKETS = 0x24;
const Q_BYTES_DONE = 0x28;
const Q_DROPS = 0x2c;

export const DRIVER_STATE_BYTES = D_QUEUES + Q_BYTES * (2 * MAX_PAIRS + 1);

const VIRTQ_DESC_F_NEXT = 1;
const VIRTQ_DESC_F_WRITE = 2;
const VIRTQ_USED_F_NO_NOTIFY = 1;
const CTRL_BUF_BYTES = 4096;
const CTRL_SPIN_LIMIT_NS = 500_000_000n;

/** Received frame handed to the stack: a view into the RX buffer (valid until `run` returns). */
export type FrameHandler = (pair: number, frame: Uint8Array, offset: number, length: number) => void;

export class VirtioNetDriver {
  readonly #mem: GuestMemory;
  readonly #svc: VcpuServices;
  readonly #s: number;

  constructor(mem: GuestMemory, services: VcpuServices, statePtr: number) {
    this.#mem = mem;
    this.#svc = services;
    this.#s = statePtr;
  }

  get up(): boolean {
    return this.#mem.readU32(this.#s + D_PHASE) === 1;
  }

  get maxPairs(): number {
    return this.#mem.readU32(this.#s + D_MAX_PAIRS);
  }

  get currPairs(): number {
    return this.#mem.readU32(this.#s + D_CURR_PAIRS);
  }

  get mac(): Uint8Array {
    return this.#mem.slice(this.#s + D_MAC, 6);
  }

  get linkStatus(): number {
    return this.#mem.readU32(this.#s + D_STATUS);
  }

  hasFeature(bit: number): boolean {
    const word = bit < 32 ? this.#mem.readU32(this.#s + D_FEAT_LO) : this.#mem.readU32(this.#s + D_FEAT_HI);
    return ((word >>> (bit & 31)) & 1) === 1;
  }

  // ------------------------------------------------------------ probe (virtio 1.2 §3.1.1)

  /** Reset, negotiate, set up every queue, DRIVER_OK. Returns false when the device refuses. */
  probe(heap: KernelHeap): boolean {
    return this.#init(heap, undefined);
  }

  /**
   * Re-initialise a driver that was up (Linux's restore after freeze, a ring
   * resize on a device without RING_RESET, or a re-bind by a driver that asks
   * for fewer features): reset, negotiate — every feature the driver knows
   * but `featuresOff` — set up the rings and buffers allocated at the first
   * probe again — with `ringSize` entries if given (at most what they were
   * allocated for), else as many as now — DRIVER_OK.
   */
  reinit(options: ReinitOptions = {}): boolean {
    return this.#init(undefined, options);
  }

  #init(heap: KernelHeap | undefined, reinit: ReinitOptions | undefined): boolean {
    const m = this.#mem;
    const s = this.#s;
    this.#common(0x14, 1, 0n);
    this.#common(0x14, 1, BigInt(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER));
    this.#common(0x00, 4, 0n);
    const lo = Number(this.#readCommon(0x04, 4));
    this.#common(0x00, 4, 1n);
    const hi = Number(this.#readCommon(0x04, 4));
    let wantLo = 0;
    let wantHi = 1 << (VIRTIO_F_VERSION_1 - 32);
    for (const bit of WANTED) {
      if (reinit?.featuresOff?.includes(bit)) continue;
      if (bit < 32) wantLo |= 1 << bit;
      else wantHi |= 1 << (bit - 32);
    }
    const featLo = (lo & wantLo) >>> 0;
    const featHi = (hi & wantHi) >>> 0;
    this.#common(0x08, 4, 0n);
    this.#common(0x0c, 4, BigInt(featLo));
    this.#common(0x08, 4, 1n);
    this.#common(0x0c, 4, BigInt(featHi));
    this.#common(0x14, 1, BigInt(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK));
    if (!(Number(this.#readCommon(0x14, 1)) & VIRTIO_CONFIG_S_FEATURES_OK)) {
      m.writeU32(s + D_PHASE, 2);
      return false;
    }
    m.writeU32(s + D_FEAT_LO, featLo);
    m.writeU32(s + D_FEAT_HI, featHi);
    for (let i = 0; i < 6; i++) m.writeU8(s + D_MAC + i, Number(this.#svc.mmioRead(BigInt(VIRTIO_PCI_DEVICE_CFG + i), 1)));
    const mq = this.hasFeature(F.MQ) || this.hasFeature(F.RSS);
    const maxPairs = mq ? Math.min(MAX_PAIRS, Number(this.#svc.mmioRead(BigInt(VIRTIO_PCI_DEVICE_CFG + 8), 2)) || 1) : 1;
    const hasCtrl = this.hasFeature(F.CTRL_VQ);
    const numQueues = 2 * maxPairs + (hasCtrl ? 1 : 0);
    m.writeU32(s + D_MAX_PAIRS, maxPairs);
    m.writeU32(s + D_CURR_PAIRS, 1);
    m.writeU32(s + D_NUM_QUEUES, numQueues);
    this.#common(0x10, 2, 0n); // config vector 0
    for (let q = 0; q < numQueues; q++) this.#setupQueue(heap, q, hasCtrl && q === numQueues - 1, reinit);
    if (hasCtrl && heap) m.writeU32(s + D_CTRL_BUF, heap.alloc(CTRL_BUF_BYTES, 64));
    // Unmask the vectors we use (MSI-X vector control = last dword of each entry).
    for (let v = 0; v <= numQueues; v++) this.#svc.mmioWrite(BigInt(VIRTIO_PCI_MSIX_TABLE + v * 16 + 12), 4, 0n);
    this.#common(0x14, 1, BigInt(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK));
    m.writeU32(s + D_PHASE, 1);
    this.readConfigStatus();
    // Linux brings up as many pairs as there are queues to use, and at open
    // programs the rx mode: the device starts promiscuous (QEMU resets
    // promisc to 1) until the driver says otherwise.
    if (maxPairs > 1) this.setQueuePairs(maxPairs);
    if (this.hasFeature(F.CTRL_RX)) {
      this.control(CTRL.RX, CTRL.RX_PROMISC, Uint8Array.of(0));
      this.control(CTRL.RX, CTRL.RX_ALLMULTI, Uint8Array.of(0));
    }
    return true;
  }

  #setupQueue(heap: KernelHeap | undefined, q: number, isCtrl: boolean, reinit?: ReinitOptions): void {
    const m = this.#mem;
    const rec = this.#q(q);
    this.#common(0x16, 2, BigInt(q));
    // The size the rings were (or are) allocated for; a re-init may use fewer entries.
    const capacity = Math.min(Number(this.#readCommon(0x18, 2)), isCtrl ? 64 : 256);
    // A re-init keeps the current size unless given another.
    const size = reinit && !isCtrl ? Math.min(capacity, reinit.ringSize ?? (m.readU32(rec + Q_SIZE) || capacity)) : capacity;
    this.#common(0x18, 2, BigInt(size));
    const desc = reinit || !heap ? m.readU32(rec + Q_DESC) : heap.alloc(16 * capacity, 16);
    const avail = reinit || !heap ? m.readU32(rec + Q_AVAIL) : heap.alloc(6 + 2 * capacity, 4);
    const used = reinit || !heap ? m.readU32(rec + Q_USED) : heap.alloc(6 + 8 * capacity, 4);
    if (reinit) {
      // A reset device starts both indices at 0: so do the rings (Linux allocates them zeroed).
      m.fill(avail, 6 + 2 * capacity, 0);
      m.fill(used, 6 + 8 * capacity, 0);
      m.writeU32(rec + Q_LAST_USED, 0);
      m.writeU32(rec + Q_AVAIL_IDX, 0);
    }
    m.writeU32(rec + Q_SIZE, size);
    m.writeU32(rec + Q_DESC, desc);
    m.writeU32(rec + Q_AVAIL, avail);
    m.writeU32(rec + Q_USED, used);
    this.#common(0x20, 8, BigInt(desc));
    this.#common(0x28, 8, BigInt(avail));
    this.#common(0x30, 8, BigInt(used));
    this.#common(0x1a, 2, BigInt(q + 1));
    if (!isCtrl) {
      const bufs = reinit || !heap ? m.readU32(rec + Q_BUFS) : heap.alloc(BUFFER_BYTES * capacity, 64);
      m.writeU32(rec + Q_BUFS, bufs);
      if (q % 2 === 0) {
        // RX: every descriptor owns a buffer the device may write; post them all.
        for (let i = 0; i < size; i++) {
          this.#writeDesc(desc, i, bufs + i * BUFFER_BYTES, BUFFER_BYTES, VIRTQ_DESC_F_WRITE, 0);
          m.writeU16(avail + 4 + 2 * i, i);
        }
        m.writeU32(rec + Q_AVAIL_IDX, size & 0xffff);
        m.atomicStoreU16(avail + 2, size & 0xffff);
      } else {
        const free = reinit || !heap ? m.readU32(rec + Q_FREE) : heap.alloc(2 * capacity, 2);
        for (let i = 0; i < size; i++) m.writeU16(free + 2 * i, i);
        m.writeU32(rec + Q_FREE, free);
        m.writeU32(rec + Q_FREE_COUNT, size);
      }
    }
    this.#common(0x1c, 2, 1n);
  }

  // ------------------------------------------------------------ data path

  /**
   * Deliver received frames (up to `budget`) to `onFrame`, recycle their
   * buffers, reclaim finished TX buffers. Returns true if work remains.
   */
  poll(onFrame: FrameHandler, budget = 64): boolean {
    if (!this.up) return false;
    const pairs = this.currPairs;
    let more = false;
    for (let p = 0; p < pairs; p++) {
      more = this.#pollRx(p, onFrame, budget) || more;
      this.#reclaimTx(2 * p + 1);
    }
    return more;
  }

  #pollRx(pair: number, onFrame: FrameHandler, budget: number): boolean {
    const m = this.#mem;
    const q = 2 * pair;
    const rec = this.#q(q);
    const size = m.readU32(rec + Q_SIZE);
    const used = m.readU32(rec + Q_USED);
    const avail = m.readU32(rec + Q_AVAIL);
    const bufs = m.readU32(rec + Q_BUFS);
    let last = m.readU32(rec + Q_LAST_USED);
    let availIdx = m.readU32(rec + Q_AVAIL_IDX);
    const usedIdx = m.atomicLoadU16(used + 2);
    let n = 0;
    while (last !== usedIdx && n < budget) {
      const slot = last % size;
      const id = m.readU32(used + 4 + 8 * slot);
      const len = m.readU32(used + 8 + 8 * slot);
      if (id < size && len >= NET_HDR_BYTES && len <= BUFFER_BYTES) {
        const at = bufs + id * BUFFER_BYTES;
        const numBuffers = m.readU16(at + 10);
        if (this.hasFeature(F.MRG_RXBUF) && numBuffers > 1) {
          m.writeU32(this.#s + D_TOO_BIG, m.readU32(this.#s + D_TOO_BIG) + 1);
        } else {
          this.#count(rec, len - NET_HDR_BYTES);
          onFrame(pair, m.bytes, at + NET_HDR_BYTES, len - NET_HDR_BYTES);
        }
        // Hand the same buffer back to the device.
        m.writeU16(avail + 4 + 2 * (availIdx % size), id);
        availIdx = (availIdx + 1) & 0xffff;
      }
      last = (last + 1) & 0xffff;
      n++;
    }
    if (n > 0) {
      m.writeU32(rec + Q_LAST_USED, last);
      m.writeU32(rec + Q_AVAIL_IDX, availIdx);
      m.atomicStoreU16(avail + 2, availIdx);
      this.#kick(q, used);
    }
    return last !== usedIdx;
  }

  #reclaimTx(q: number): void {
    const m = this.#mem;
    const rec = this.#q(q);
    const used = m.readU32(rec + Q_USED);
    const size = m.readU32(rec + Q_SIZE);
    let last = m.readU32(rec + Q_LAST_USED);
    const usedIdx = m.atomicLoadU16(used + 2);
    if (last === usedIdx) return;
    const free = m.readU32(rec + Q_FREE);
    let count = m.readU32(rec + Q_FREE_COUNT);
    while (last !== usedIdx) {
      const id = m.readU32(used + 4 + 8 * (last % size));
      if (id < size && count < size) m.writeU16(free + 2 * count++, id);
      last = (last + 1) & 0xffff;
    }
    m.writeU32(rec + Q_FREE_COUNT, count);
    m.writeU32(rec + Q_LAST_USED, last);
  }

  /**
   * Send one frame on queue pair `pair`: `build` writes the frame at the given
   * offset of RAM (after room for the virtio-net header) and returns its
   * length. Returns false when the TX ring is full or the link is down.
   */
  send(pair: number, build: (ram: Uint8Array, offset: number, capacity: number) => number): boolean {
    const m = this.#mem;
    if (!this.up) return false;
    const q = 2 * Math.min(pair, this.currPairs - 1) + 1;
    const rec = this.#q(q);
    this.#reclaimTx(q);
    let count = m.readU32(rec + Q_FREE_COUNT);
    if (count === 0) {
      m.writeU32(rec + Q_DROPS, m.readU32(rec + Q_DROPS) + 1);
      return false;
    }
    const free = m.readU32(rec + Q_FREE);
    const id = m.readU16(free + 2 * --count);
    const at = m.readU32(rec + Q_BUFS) + id * BUFFER_BYTES;
    m.fill(at, NET_HDR_BYTES, 0);
    const len = build(m.bytes, at + NET_HDR_BYTES, BUFFER_BYTES - NET_HDR_BYTES);
    m.markDirty(at, NET_HDR_BYTES + len);
    this.#writeDesc(m.readU32(rec + Q_DESC), id, at, NET_HDR_BYTES + len, 0, 0);
    m.writeU32(rec + Q_FREE_COUNT, count);
    this.#count(rec, len);
    this.#publish(q, rec, id);
    return true;
  }

  /**
   * A driver bug, on purpose: one TX chain whose buffer runs past the end of
   * RAM. A device must refuse it; virtio-net marks itself broken and sets
   * DEVICE_NEEDS_RESET (QEMU virtio_error). Returns false when no TX
   * descriptor is free.
   */
  sendOutOfRange(pair: number): boolean {
    const m = this.#mem;
    if (!this.up) return false;
    const q = 2 * Math.min(pair, this.currPairs - 1) + 1;
    const rec = this.#q(q);
    this.#reclaimTx(q);
    const count = m.readU32(rec + Q_FREE_COUNT);
    if (count === 0) return false;
    const id = m.readU16(m.readU32(rec + Q_FREE) + 2 * (count - 1));
    m.writeU32(rec + Q_FREE_COUNT, count - 1);
    this.#writeDesc(m.readU32(rec + Q_DESC), id, m.size - 8, 64, 0, 0);
    this.#publish(q, rec, id);
    return true;
  }

  /** Make chain `id` available on queue `q` (its descriptor written), then notify the device. */
  #publish(q: number, rec: number, id: number): void {
    const m = this.#mem;
    const avail = m.readU32(rec + Q_AVAIL);
    const availIdx = m.readU32(rec + Q_AVAIL_IDX);
    m.writeU16(avail + 4 + 2 * (availIdx % m.readU32(rec + Q_SIZE)), id);
    const next = (availIdx + 1) & 0xffff;
    m.writeU32(rec + Q_AVAIL_IDX, next);
    m.atomicStoreU16(avail + 2, next);
    this.#kick(q, m.readU32(rec + Q_USED));
  }

  #kick(q: number, used: number): void {
    // The device may ask not to be notified (virtio 1.2 §2.7.10): honour it.
    if (this.#mem.atomicLoadU16(used) & VIRTQ_USED_F_NO_NOTIFY) return;
    this.#svc.ringDoorbell(q);
  }

  #count(rec: number, bytes: number): void {
    const m = this.#mem;
    m.writeU32(rec + Q_PACKETS, (m.readU32(rec + Q_PACKETS) + 1) >>> 0);
    m.writeU32(rec + Q_BYTES_DONE, (m.readU32(rec + Q_BYTES_DONE) + bytes) >>> 0);
  }

  /** Per-queue-pair counters for the admin `status`. */
  counters(): { queue: number; rx_packets: number; tx_packets: number; rx_bytes: number; tx_bytes: number; tx_ring_full: number }[] {
    const m = this.#mem;
    const out = [];
    for (let p = 0; p < this.maxPairs; p++) {
      const rx = this.#q(2 * p);
      const tx = this.#q(2 * p + 1);
      out.push({ queue: p, rx_packets: m.readU32(rx + Q_PACKETS), tx_packets: m.readU32(tx + Q_PACKETS), rx_bytes: m.readU32(rx + Q_BYTES_DONE), tx_bytes: m.readU32(tx + Q_BYTES_DONE), tx_ring_full: m.readU32(tx + Q_DROPS) });
    }
    return out;
  }

  // ------------------------------------------------------------ config and control

  /** Read the config-space status (link, announce) and the ISR; returns the status. */
  readConfigStatus(): number {
    this.#svc.mmioRead(BigInt(VIRTIO_PCI_ISR), 1);
    const status = this.hasFeature(F.STATUS) ? Number(this.#svc.mmioRead(BigInt(VIRTIO_PCI_DEVICE_CFG + 6), 2)) : VIRTIO_NET_S_LINK_UP;
    this.#mem.writeU32(this.#s + D_STATUS, status);
    return status;
  }

  /**
   * Run a control command (virtio 1.2 §5.1.6.5): header, data, ack. Like
   * Linux, the driver waits for the device's answer (bounded). Returns the
   * ack (0 = VIRTIO_NET_OK).
   */
  control(cls: number, cmd: number, data: Uint8Array): number {
    const m = this.#mem;
    if (!this.up || !this.hasFeature(F.CTRL_VQ) || data.length > CTRL_BUF_BYTES - 64) return 1;
    const q = m.readU32(this.#s + D_NUM_QUEUES) - 1;
    const rec = this.#q(q);
    const buf = m.readU32(this.#s + D_CTRL_BUF);
    const desc = m.readU32(rec + Q_DESC);
    const avail = m.readU32(rec + Q_AVAIL);
    const used = m.readU32(rec + Q_USED);
    const size = m.readU32(rec + Q_SIZE);
    m.writeU8(buf, cls);
    m.writeU8(buf + 1, cmd);
    m.write(buf + 16, data);
    m.writeU8(buf + 15, 0xff);
    this.#writeDesc(desc, 0, buf, 2, VIRTQ_DESC_F_NEXT, 1);
    this.#writeDesc(desc, 1, buf + 16, data.length, VIRTQ_DESC_F_NEXT, 2);
    this.#writeDesc(desc, 2, buf + 15, 1, VIRTQ_DESC_F_WRITE, 0);
    const availIdx = m.readU32(rec + Q_AVAIL_IDX);
    m.writeU16(avail + 4 + 2 * (availIdx % size), 0);
    const next = (availIdx + 1) & 0xffff;
    m.writeU32(rec + Q_AVAIL_IDX, next);
    m.atomicStoreU16(avail + 2, next);
    this.#svc.ringDoorbell(q);
    const deadline = this.#svc.nowNs() + CTRL_SPIN_LIMIT_NS;
    while (m.atomicLoadU16(used + 2) !== next) {
      if (this.#svc.nowNs() > deadline) {
        m.writeU32(this.#s + D_CTRL_FAILED, m.readU32(this.#s + D_CTRL_FAILED) + 1);
        return 1;
      }
    }
    m.writeU32(rec + Q_LAST_USED, next);
    return m.readU8(buf + 15);
  }

  setQueuePairs(pairs: number): number {
    const n = Math.max(1, Math.min(pairs, this.maxPairs));
    const d = new Uint8Array(2);
    d[0] = n & 0xff;
    d[1] = n >> 8;
    const ack = this.control(CTRL.MQ, CTRL.MQ_VQ_PAIRS_SET, d);
    if (ack === 0) this.#mem.writeU32(this.#s + D_CURR_PAIRS, n);
    return ack;
  }

  /** The device changed our MAC (or we did): keep the RAM copy in step. */
  setMacCopy(mac: Uint8Array): void {
    this.#mem.write(this.#s + D_MAC, mac);
  }

  // ------------------------------------------------------------ helpers

  #q(q: number): number {
    return this.#s + D_QUEUES + q * Q_BYTES;
  }

  #writeDesc(table: number, i: number, addr: number, len: number, flags: number, next: number): void {
    const m = this.#mem;
    const d = table + 16 * i;
    m.writeU64(d, BigInt(addr));
    m.writeU32(d + 8, len);
    m.writeU16(d + 12, flags);
    m.writeU16(d + 14, next);
  }

  #common(off: number, size: 1 | 2 | 4 | 8, value: bigint): void {
    this.#svc.mmioWrite(BigInt(off), size, value);
  }

  #readCommon(off: number, size: 1 | 2 | 4 | 8): bigint {
    return this.#svc.mmioRead(BigInt(off), size);
  }
}

export { VIRTIO_NO_VECTOR };
