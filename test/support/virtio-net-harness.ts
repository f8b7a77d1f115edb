/**
 * A guest-side driver for VirtioNetDevice tests: it does what a virtio-net
 * driver does, through the transport's MMIO registers and guest memory only
 * (virtio 1.2 §3.1.1 initialisation, §4.1.4.3 common config, §2.7 rings via
 * MockDriver), with a LoopbackBackend on the host side.
 *
 * Lives in test/support because it needs two test-only modules of other
 * layers (virtio/testing/mock-driver, backends/testing/loopback-backend),
 * which src/ files may not reach into (test/layering.test.ts).
 *
 * RAM is split into one region per virtqueue (rings at its start, buffers
 * after them), so queues never share buffer space.
 */

import type { NetBackend } from '../../src/backends/index.js';
import { LoopbackBackend } from '../../src/backends/testing/loopback-backend.js';
import type { LoopbackOptions } from '../../src/backends/testing/loopback-backend.js';
import { VirtioNetDevice } from '../../src/devices/net/index.js';
import type { VirtioNetDeviceOptions } from '../../src/devices/net/index.js';
import { GuestMemory } from '../../src/memory/index.js';
import {
  VIRTIO_CONFIG_S_ACKNOWLEDGE,
  VIRTIO_CONFIG_S_DRIVER,
  VIRTIO_CONFIG_S_DRIVER_OK,
  VIRTIO_CONFIG_S_FEATURES_OK,
  VIRTIO_F_EVENT_IDX,
  VIRTIO_NO_VECTOR,
  VIRTIO_PCI_DEVICE_CFG,
  VIRTIO_PCI_MSIX_TABLE,
  splitQueueAreaSizes,
} from '../../src/virtio/index.js';
import { MockDriver } from '../../src/virtio/testing/mock-driver.js';
import type { MockBuffer } from '../../src/virtio/testing/mock-driver.js';

export const REGION = 1 << 20;
export const HDR = 12;

export interface HarnessOptions<B extends NetBackend = LoopbackBackend> extends Partial<Omit<VirtioNetDeviceOptions, 'memory' | 'backend' | 'raiseVector'>> {
  loopback?: LoopbackOptions;
  ramBytes?: number;
  /** Reuse RAM (a migration destination). */
  memory?: GuestMemory;
  /** Another backend than a fresh LoopbackBackend (a second loopback, a real TAP). */
  backend?: B;
}

export interface ReceivedFrame {
  header: Uint8Array;
  /** The Ethernet frame after the header. */
  frame: Uint8Array;
  numBuffers: number;
}

export const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class NetHarness<B extends NetBackend = LoopbackBackend> {
  readonly memory: GuestMemory;
  readonly backend: B;
  readonly device: VirtioNetDevice;
  readonly raised: number[] = [];
  readonly errors: Error[] = [];
  readonly filterEvents: string[] = [];
  /** Per virtqueue index, once set up. */
  readonly drivers: (MockDriver | undefined)[] = [];
  /** Writable buffers of posted RX chains, by queue and head. */
  readonly #rxBufs = new Map<number, Map<number, { gpa: number; len: number }[]>>();

  constructor(options: HarnessOptions<B> = {}) {
    const { loopback, ramBytes, memory, backend, ...deviceOptions } = options;
    this.memory = memory ?? GuestMemory.createAnonymous(ramBytes ?? 16 * REGION);
    this.backend = backend ?? (new LoopbackBackend(loopback) as unknown as B);
    this.device = new VirtioNetDevice({
      memory: this.memory,
      backend: this.backend,
      raiseVector: (v) => this.raised.push(v),
      onError: (e) => this.errors.push(e),
      onRxFilterChanged: (name) => this.filterEvents.push(name),
      ...deviceOptions,
    });
  }

  get transport() {
    return this.device.transport;
  }

  // ---- registers ---------------------------------------------------------

  common(off: number, size: number): number {
    return Number(this.transport.read(off, size));
  }

  setCommon(off: number, size: number, value: number | bigint): void {
    this.transport.write(off, size, BigInt(value));
  }

  config(off: number, size: number): number {
    return Number(this.transport.read(VIRTIO_PCI_DEVICE_CFG + off, size));
  }

  get status(): number {
    return this.common(0x14, 1);
  }

  offeredFeatures(): bigint {
    this.setCommon(0x00, 4, 0);
    const lo = BigInt(this.common(0x04, 4));
    this.setCommon(0x00, 4, 1);
    const hi = BigInt(this.common(0x04, 4));
    return (hi << 32n) | lo;
  }

  /** Reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK; true when the device kept FEATURES_OK. */
  negotiate(wanted: bigint = this.offeredFeatures()): boolean {
    this.setCommon(0x14, 1, 0);
    this.drivers.length = 0;
    this.#rxBufs.clear();
    this.setCommon(0x14, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE);
    this.setCommon(0x14, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    const features = wanted & this.offeredFeatures();
    this.setCommon(0x08, 4, 0);
    this.setCommon(0x0c, 4, Number(features & 0xffffffffn));
    this.setCommon(0x08, 4, 1);
    this.setCommon(0x0c, 4, Number(features >> 32n));
    this.setCommon(0x14, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
    return (this.status & VIRTIO_CONFIG_S_FEATURES_OK) !== 0;
  }

  /** Set up every queue the device reports (or `count`), vectors like Linux: config 0, queue i → i + 1. */
  setupQueues(options: { size?: number; count?: number } = {}): void {
    const vectors = this.transport.vectors;
    for (let v = 0; v < vectors; v++) this.transport.write(VIRTIO_PCI_MSIX_TABLE + 16 * v + 12, 4, 0n); // unmask
    this.setCommon(0x10, 2, vectors > 0 ? 0 : VIRTIO_NO_VECTOR);
    const eventIdx = (this.device.features & (1n << BigInt(VIRTIO_F_EVENT_IDX))) !== 0n;
    const n = options.count ?? this.common(0x12, 2);
    for (let i = 0; i < n; i++) {
      this.setCommon(0x16, 2, i);
      let size = this.common(0x18, 2);
      if (options.size !== undefined && options.size < size) {
        size = options.size;
        this.setCommon(0x18, 2, size);
      }
      const base = REGION * (i + 1);
      const d = MockDriver.create(this.memory, size, eventIdx, base);
      const layout = { ...d.layout, dataEnd: base + REGION };
      const driver = new MockDriver(this.memory, layout);
      this.setCommon(0x20, 8, layout.descAddr);
      this.setCommon(0x28, 8, layout.availAddr);
      this.setCommon(0x30, 8, layout.usedAddr);
      this.setCommon(0x1a, 2, i + 1 < vectors ? i + 1 : VIRTIO_NO_VECTOR);
      this.setCommon(0x1c, 2, 1);
      this.drivers[i] = driver;
    }
  }

  driverOk(): void {
    this.setCommon(0x14, 1, this.status | VIRTIO_CONFIG_S_DRIVER_OK);
  }

  /** negotiate + setupQueues + DRIVER_OK. */
  start(wanted?: bigint, options: { size?: number } = {}): void {
    if (!this.negotiate(wanted)) throw new Error('the device refused the features');
    this.setupQueues(options);
    this.driverOk();
  }

  /** Take over the guest side of `from` (same RAM, rings and buffers): the guest after it migrated here. */
  adoptGuest(from: NetHarness<NetBackend>): void {
    this.drivers.splice(0, this.drivers.length, ...from.drivers);
    for (const [k, v] of from.#rxBufs) this.#rxBufs.set(k, v);
  }

  kick(index: number): void {
    this.transport.notifyFromDriver(index);
  }

  driver(index: number): MockDriver {
    const d = this.drivers[index];
    if (!d) throw new Error(`queue ${index} is not set up`);
    return d;
  }

  // ---- RX -----------------------------------------------------------------

  /** Post `count` receive buffers of `len` bytes on pair `pair` and kick if the device asks for it. */
  postRx(pair: number, count: number, len = 2048, options: { kick?: 'auto' | 'always' | 'never' } = {}): void {
    const index = 2 * pair;
    const d = this.driver(index);
    let bufs = this.#rxBufs.get(index);
    if (!bufs) this.#rxBufs.set(index, (bufs = new Map()));
    for (let k = 0; k < count; k++) {
      const gpa = d.alloc(len);
      this.memory.fill(gpa, len, 0xcc);
      const head = d.addChain([{ gpa, len, writable: true }]);
      bufs.set(head, [{ gpa, len }]);
    }
    const wants = d.publish();
    const mode = options.kick ?? 'auto';
    if (mode === 'always' || (mode === 'auto' && wants)) this.kick(index);
  }

  /** Frames the device put in pair `pair`'s RX queue since the last call (mergeable buffers joined). */
  received(pair: number): ReceivedFrame[] {
    const index = 2 * pair;
    const bufs = this.#rxBufs.get(index) ?? new Map<number, { gpa: number; len: number }[]>();
    const used = this.driver(index).popUsed();
    const out: ReceivedFrame[] = [];
    for (let i = 0; i < used.length; ) {
      const first = used[i]!;
      const bytes = this.#readUsed(bufs, first.id, first.len);
      const numBuffers = bytes[10]! | (bytes[11]! << 8);
      const parts = [bytes];
      for (let k = 1; k < numBuffers && i + k < used.length; k++) parts.push(this.#readUsed(bufs, used[i + k]!.id, used[i + k]!.len));
      i += Math.max(1, numBuffers);
      const all = concat(parts);
      out.push({ header: all.slice(0, HDR), frame: all.slice(HDR), numBuffers });
    }
    return out;
  }

  #readUsed(bufs: Map<number, { gpa: number; len: number }[]>, head: number, len: number): Uint8Array {
    const list = bufs.get(head);
    if (!list) throw new Error(`used head ${head} was not an RX buffer`);
    bufs.delete(head);
    const out = new Uint8Array(len);
    let at = 0;
    for (const b of list) {
      const n = Math.min(b.len, len - at);
      if (n <= 0) break;
      out.set(this.memory.slice(b.gpa, n), at);
      at += n;
    }
    return out;
  }

  // ---- TX -----------------------------------------------------------------

  /** Queue one frame (header first) on pair `pair`'s TX queue; `split` cuts it into descriptors of these sizes. */
  addTx(pair: number, packet: Uint8Array, options: { split?: number[]; indirect?: boolean; publish?: boolean } = {}): number {
    const d = this.driver(2 * pair + 1);
    const sizes = options.split ?? [packet.length];
    const buffers: MockBuffer[] = [];
    let at = 0;
    for (const s of sizes) {
      const gpa = d.alloc(Math.max(1, s));
      this.memory.write(gpa, packet.subarray(at, at + s));
      buffers.push({ gpa, len: s, writable: false });
      at += s;
    }
    const head = d.addChain(buffers, { indirect: options.indirect ?? false });
    if (options.publish ?? true) {
      if (d.publish()) this.kick(2 * pair + 1);
    }
    return head;
  }

  // ---- control queue ------------------------------------------------------

  get ctrlIndex(): number {
    return this.device.numQueues - 1;
  }

  /** Send a control command; returns the ack byte (the device handles it synchronously on the kick). */
  ctrl(cls: number, cmd: number, data: Uint8Array = new Uint8Array(0)): number {
    const d = this.driver(this.ctrlIndex);
    const out = d.alloc(2 + data.length);
    this.memory.write(out, Uint8Array.of(cls, cmd));
    this.memory.write(out + 2, data);
    const ack = d.alloc(1);
    this.memory.writeU8(ack, 0xee);
    d.addChain([
      { gpa: out, len: 2 + data.length, writable: false },
      { gpa: ack, len: 1, writable: true },
    ]);
    d.publish();
    this.kick(this.ctrlIndex);
    const used = d.popUsed();
    if (used.length !== 1) throw new Error(`ctrl command not completed (${used.length} used)`);
    return this.memory.readU8(ack);
  }

  async settle(turns = 8): Promise<void> {
    for (let i = 0; i < turns; i++) await tick();
  }
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function mac(s: string): Uint8Array {
  return Uint8Array.from(s.split(':').map((h) => parseInt(h, 16)));
}

/** An Ethernet frame: dst, src, [802.1Q tag], ethertype, payload (padded to 60 bytes). */
export function ethFrame(o: { dst: string; src?: string; type?: number; vlan?: number; payload?: Uint8Array }): Uint8Array {
  const tag = o.vlan === undefined ? [] : [0x81, 0x00, (o.vlan >> 8) & 0x0f, o.vlan & 0xff];
  const type = o.type ?? 0x0800;
  const head = Uint8Array.from([...mac(o.dst), ...mac(o.src ?? '02:00:00:00:00:01'), ...tag, type >> 8, type & 0xff]);
  const body = o.payload ?? new Uint8Array(46);
  const f = concat([head, body]);
  return f.length >= 60 ? f : concat([f, new Uint8Array(60 - f.length)]);
}

/** A UDP/IPv4 frame (checksums zero: nothing here checks them). */
export function udpFrame(o: { dst: string; src?: string; srcIp: number[]; dstIp: number[]; sport: number; dport: number; vlan?: number; payload?: Uint8Array }): Uint8Array {
  const payload = o.payload ?? new Uint8Array(8);
  const ipLen = 20 + 8 + payload.length;
  const ip = [0x45, 0, ipLen >> 8, ipLen & 0xff, 0, 0, 0, 0, 64, 17, 0, 0, ...o.srcIp, ...o.dstIp];
  const udp = [o.sport >> 8, o.sport & 0xff, o.dport >> 8, o.dport & 0xff, (8 + payload.length) >> 8, (8 + payload.length) & 0xff, 0, 0];
  return ethFrame({ dst: o.dst, ...(o.src ? { src: o.src } : {}), ...(o.vlan !== undefined ? { vlan: o.vlan } : {}), type: 0x0800, payload: concat([Uint8Array.from([...ip, ...udp]), payload]) });
}

/** A vnet header (zeros: no offloads) in front of `frame`. */
export function withHeader(frame: Uint8Array, header: Uint8Array = new Uint8Array(HDR)): Uint8Array {
  return concat([header, frame]);
}

export function le16(v: number): Uint8Array {
  return Uint8Array.of(v & 0xff, v >> 8);
}

export function le32(v: number): Uint8Array {
  return Uint8Array.of(v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >>> 24);
}

export function le64(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  return b;
}

export { splitQueueAreaSizes };
