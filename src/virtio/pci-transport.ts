/**
 * The virtio-pci modern transport (virtio 1.2 §4.1), as the device side of the
 * MMIO accesses a vCPU makes: common configuration, ISR, device-specific
 * configuration, notifications and the MSI-X table (DESIGN §3, §4).
 *
 * BAR layout (one memory BAR, offsets as QEMU's modern layout uses them):
 *
 *   0x00000  common cfg  (virtio 1.2 §4.1.4.3, below)
 *   0x01000  ISR         (read-to-clear: bit 0 queue, bit 1 config change)
 *   0x02000  device cfg  (the device's own layout, e.g. virtio_net_config)
 *   0x03000  notify      (queue i at 0x03000 + 4·i; also delivered as doorbells)
 *   0x10000  MSI-X table (16 bytes per vector)    0x11000  MSI-X PBA
 *
 *   common cfg: 0x00 le32 device_feature_select   0x04 le32 device_feature (ro)
 *               0x08 le32 driver_feature_select   0x0c le32 driver_feature
 *               0x10 le16 config_msix_vector      0x12 le16 num_queues (ro)
 *               0x14 u8 device_status              0x15 u8 config_generation (ro)
 *               0x16 le16 queue_select             0x18 le16 queue_size
 *               0x1a le16 queue_msix_vector        0x1c le16 queue_enable
 *               0x1e le16 queue_notify_off (ro)    0x20/0x28/0x30 le64 queue_desc/driver/device
 *
 * The state kept here is exactly what QEMU migrates for a virtio-pci proxy
 * (device status, ISR, queue_sel, the features the driver wrote, per-queue
 * size/enable/addresses/vector, MSI-X table and PBA), so it maps onto
 * virtio_save's layout without translation.
 *
 * Guest-supplied values are untrusted: a queue size that is not a power of two
 * or above the maximum is ignored, a vector beyond the table reads back as
 * VIRTIO_NO_VECTOR, features the device did not offer make FEATURES_OK fail,
 * unknown offsets read as zero and ignore writes (the vCPU sees a faultless bus).
 */

import {
  PCI_MSIX_ENTRY_SIZE,
  VIRTIO_CONFIG_S_DRIVER_OK,
  VIRTIO_CONFIG_S_FEATURES_OK,
  VIRTIO_CONFIG_S_NEEDS_RESET,
  VIRTIO_F_VERSION_1,
  VIRTIO_NO_VECTOR,
} from './spec-constants.js';
import {
  VIRTIO_PCI_COMMON_CFG,
  VIRTIO_PCI_ISR,
  VIRTIO_PCI_DEVICE_CFG,
  VIRTIO_PCI_NOTIFY,
  VIRTIO_PCI_NOTIFY_OFF_MULTIPLIER,
  VIRTIO_PCI_MSIX_TABLE,
  VIRTIO_PCI_MSIX_PBA,
  VIRTIO_PCI_ISR_QUEUE,
  VIRTIO_PCI_ISR_CONFIG,
} from './pci-layout.js';

// The BAR layout lives in pci-layout.ts (the guest driver imports it alone); re-exported here for the transport's users.
export { VIRTIO_PCI_COMMON_CFG, VIRTIO_PCI_ISR, VIRTIO_PCI_DEVICE_CFG, VIRTIO_PCI_NOTIFY, VIRTIO_PCI_NOTIFY_OFF_MULTIPLIER, VIRTIO_PCI_MSIX_TABLE, VIRTIO_PCI_MSIX_PBA, VIRTIO_PCI_ISR_QUEUE, VIRTIO_PCI_ISR_CONFIG };

/** MSI-X vector control: masked. */
const PCI_MSIX_ENTRY_CTRL_MASKBIT = 1;

/** What the transport needs from the device behind it. */
export interface VirtioDeviceModel {
  /** Feature bits the device offers (VERSION_1 included). */
  readonly hostFeatures: bigint;
  readonly numQueues: number;
  /** Largest size the driver may give queue `i` (and its default). */
  queueMaxSize(index: number): number;
  readConfig(offset: number, size: number): bigint;
  writeConfig(offset: number, size: number, value: bigint): void;
  /** The driver set FEATURES_OK with these features; return false to refuse them. */
  acceptFeatures(features: bigint): boolean;
  /** The driver enabled queue `index` with these addresses. */
  queueEnabled(index: number, queue: TransportQueue): void;
  /** DRIVER_OK was set. */
  driverOk(): void;
  /** Status 0 was written (or the transport is reset): forget everything. */
  reset(): void;
  /** The driver notified queue `index`. */
  notify(index: number): void;
}

export interface TransportQueue {
  size: number;
  enabled: boolean;
  vector: number;
  desc: bigint;
  driver: bigint;
  device: bigint;
}

export type RaiseVector = (vector: number) => void;

export class VirtioPciTransport {
  readonly device: VirtioDeviceModel;
  readonly vectors: number;
  readonly #raise: RaiseVector;
  status = 0;
  isr = 0;
  configGeneration = 0;
  deviceFeatureSelect = 0;
  driverFeatureSelect = 0;
  /** The features as the driver wrote them, 32 bits per select value (QEMU modern_state guest_features). */
  driverFeatures = [0, 0];
  queueSelect = 0;
  configVector = VIRTIO_NO_VECTOR;
  readonly queues: TransportQueue[];
  readonly msixTable: Uint8Array;
  readonly msixPba: Uint8Array;

  constructor(device: VirtioDeviceModel, vectors: number, raise: RaiseVector) {
    if (!Number.isInteger(vectors) || vectors < 0 || vectors > 2048) throw new RangeError(`MSI-X vector count ${vectors} out of range`);
    this.device = device;
    this.vectors = vectors;
    this.#raise = raise;
    this.queues = Array.from({ length: device.numQueues }, (_, i) => freshQueue(device.queueMaxSize(i)));
    this.msixTable = new Uint8Array(vectors * PCI_MSIX_ENTRY_SIZE);
    // QEMU starts every vector masked (vector control bit set).
    for (let v = 0; v < vectors; v++) this.msixTable[v * PCI_MSIX_ENTRY_SIZE + 12] = PCI_MSIX_ENTRY_CTRL_MASKBIT;
    this.msixPba = new Uint8Array(Math.ceil(vectors / 8));
  }

  /** The features negotiated so far (what the driver wrote). */
  get guestFeatures(): bigint {
    return (BigInt(this.driverFeatures[1]! >>> 0) << 32n) | BigInt(this.driverFeatures[0]! >>> 0);
  }

  // ------------------------------------------------------------ MMIO

  read(addr: number, size: number): bigint {
    if (addr >= VIRTIO_PCI_MSIX_TABLE && addr < VIRTIO_PCI_MSIX_TABLE + this.msixTable.length) return readLe(this.msixTable, addr - VIRTIO_PCI_MSIX_TABLE, size);
    if (addr >= VIRTIO_PCI_MSIX_PBA && addr < VIRTIO_PCI_MSIX_PBA + this.msixPba.length) return readLe(this.msixPba, addr - VIRTIO_PCI_MSIX_PBA, size);
    if (addr >= VIRTIO_PCI_DEVICE_CFG && addr < VIRTIO_PCI_NOTIFY) return this.device.readConfig(addr - VIRTIO_PCI_DEVICE_CFG, size);
    if (addr === VIRTIO_PCI_ISR) {
      const isr = this.isr;
      this.isr = 0; // read-to-clear (virtio 1.2 §4.1.4.5)
      return BigInt(isr);
    }
    if (addr >= VIRTIO_PCI_NOTIFY && addr < VIRTIO_PCI_MSIX_TABLE) return 0n;
    return this.#readCommon(addr - VIRTIO_PCI_COMMON_CFG, size);
  }

  write(addr: number, size: number, value: bigint): void {
    if (addr >= VIRTIO_PCI_MSIX_TABLE && addr < VIRTIO_PCI_MSIX_TABLE + this.msixTable.length) {
      this.#writeMsix(addr - VIRTIO_PCI_MSIX_TABLE, size, value);
      return;
    }
    if (addr >= VIRTIO_PCI_DEVICE_CFG && addr < VIRTIO_PCI_NOTIFY) {
      this.device.writeConfig(addr - VIRTIO_PCI_DEVICE_CFG, size, value);
      return;
    }
    if (addr >= VIRTIO_PCI_NOTIFY && addr < VIRTIO_PCI_MSIX_TABLE) {
      const index = (addr - VIRTIO_PCI_NOTIFY) / VIRTIO_PCI_NOTIFY_OFF_MULTIPLIER;
      if (Number.isInteger(index)) this.notifyFromDriver(index);
      return;
    }
    if (addr < VIRTIO_PCI_ISR) this.#writeCommon(addr, size, value);
  }

  /** A doorbell (notify region write or shared-memory doorbell) for queue `index`. */
  notifyFromDriver(index: number): void {
    const q = this.queues[index];
    if (!q || !q.enabled || !(this.status & VIRTIO_CONFIG_S_DRIVER_OK)) return;
    this.device.notify(index);
  }

  // ------------------------------------------------------------ interrupts

  /** The device used buffers of queue `index`: interrupt the driver on the queue's vector. */
  interruptQueue(index: number): void {
    const q = this.queues[index];
    if (!q) return;
    this.isr |= VIRTIO_PCI_ISR_QUEUE;
    this.#signal(q.vector);
  }

  /** The device configuration changed (link status, announce): bump the generation and interrupt. */
  interruptConfig(): void {
    this.configGeneration = (this.configGeneration + 1) & 0xff;
    this.isr |= VIRTIO_PCI_ISR_CONFIG;
    this.#signal(this.configVector);
  }

  /** The device hit an unrecoverable guest error: tell the driver to reset it (virtio 1.2 §2.1.2). */
  needsReset(): void {
    if (this.status & VIRTIO_CONFIG_S_NEEDS_RESET) return;
    this.status |= VIRTIO_CONFIG_S_NEEDS_RESET;
    if (this.status & VIRTIO_CONFIG_S_DRIVER_OK) this.interruptConfig();
  }

  #signal(vector: number): void {
    if (vector === VIRTIO_NO_VECTOR || vector >= this.vectors) return;
    if (this.msixTable[vector * PCI_MSIX_ENTRY_SIZE + 12]! & PCI_MSIX_ENTRY_CTRL_MASKBIT) {
      this.msixPba[vector >> 3]! |= 1 << (vector & 7);
      return;
    }
    this.#raise(vector);
  }

  #writeMsix(offset: number, size: number, value: bigint): void {
    const vector = Math.floor(offset / PCI_MSIX_ENTRY_SIZE);
    const wasMasked = (this.msixTable[vector * PCI_MSIX_ENTRY_SIZE + 12]! & PCI_MSIX_ENTRY_CTRL_MASKBIT) !== 0;
    writeLe(this.msixTable, offset, size, value);
    const masked = (this.msixTable[vector * PCI_MSIX_ENTRY_SIZE + 12]! & PCI_MSIX_ENTRY_CTRL_MASKBIT) !== 0;
    // Unmasking delivers what became pending meanwhile (PCI 3.0 §6.8.3.4).
    if (wasMasked && !masked && this.msixPba[vector >> 3]! & (1 << (vector & 7))) {
      this.msixPba[vector >> 3]! &= ~(1 << (vector & 7));
      this.#raise(vector);
    }
  }

  // ------------------------------------------------------------ common cfg

  #selected(): TransportQueue | undefined {
    return this.queues[this.queueSelect];
  }

  #readCommon(off: number, size: number): bigint {
    const q = this.#selected();
    switch (off) {
      case 0x00:
        return BigInt(this.deviceFeatureSelect);
      case 0x04:
        return this.deviceFeatureSelect < 2 ? (this.device.hostFeatures >> BigInt(32 * this.deviceFeatureSelect)) & 0xffffffffn : 0n;
      case 0x08:
        return BigInt(this.driverFeatureSelect);
      case 0x0c:
        return this.driverFeatureSelect < 2 ? BigInt(this.driverFeatures[this.driverFeatureSelect]! >>> 0) : 0n;
      case 0x10:
        return BigInt(this.configVector);
      case 0x12:
        return BigInt(this.device.numQueues);
      case 0x14:
        return BigInt(this.status);
      case 0x15:
        return BigInt(this.configGeneration);
      case 0x16:
        return BigInt(this.queueSelect);
      case 0x18:
        return BigInt(q?.size ?? 0);
      case 0x1a:
        return BigInt(q ? q.vector : VIRTIO_NO_VECTOR);
      case 0x1c:
        return q?.enabled ? 1n : 0n;
      case 0x1e:
        return BigInt(q ? this.queueSelect : 0);
      case 0x20:
      case 0x24:
        return part(q?.desc ?? 0n, off - 0x20, size);
      case 0x28:
      case 0x2c:
        return part(q?.driver ?? 0n, off - 0x28, size);
      case 0x30:
      case 0x34:
        return part(q?.device ?? 0n, off - 0x30, size);
      default:
        return 0n;
    }
  }

  #writeCommon(off: number, size: number, value: bigint): void {
    const v32 = Number(value & 0xffffffffn);
    const q = this.#selected();
    switch (off) {
      case 0x00:
        this.deviceFeatureSelect = v32;
        return;
      case 0x08:
        this.driverFeatureSelect = v32;
        return;
      case 0x0c:
        // Features may only change before FEATURES_OK (virtio 1.2 §3.1.1).
        if (this.driverFeatureSelect < 2 && !(this.status & VIRTIO_CONFIG_S_FEATURES_OK)) this.driverFeatures[this.driverFeatureSelect] = v32 >>> 0;
        return;
      case 0x10:
        this.configVector = this.#checkVector(v32 & 0xffff);
        return;
      case 0x14:
        this.#writeStatus(v32 & 0xff);
        return;
      case 0x16:
        // QEMU ignores a queue_select of VIRTIO_QUEUE_MAX or more (it could not migrate).
        if ((v32 & 0xffff) < 1024) this.queueSelect = v32 & 0xffff;
        return;
      case 0x18:
        if (q && !q.enabled) {
          const n = v32 & 0xffff;
          // Only powers of two up to the maximum (virtio 1.2 §2.7); others are ignored.
          if (n > 0 && (n & (n - 1)) === 0 && n <= this.device.queueMaxSize(this.queueSelect)) q.size = n;
        }
        return;
      case 0x1a:
        if (q) q.vector = this.#checkVector(v32 & 0xffff);
        return;
      case 0x1c:
        if (q && (v32 & 1) && !q.enabled) {
          q.enabled = true;
          this.device.queueEnabled(this.queueSelect, q);
        }
        return;
      case 0x20:
      case 0x24:
        if (q && !q.enabled) q.desc = setPart(q.desc, off - 0x20, size, value);
        return;
      case 0x28:
      case 0x2c:
        if (q && !q.enabled) q.driver = setPart(q.driver, off - 0x28, size, value);
        return;
      case 0x30:
      case 0x34:
        if (q && !q.enabled) q.device = setPart(q.device, off - 0x30, size, value);
        return;
      default:
        return;
    }
  }

  #checkVector(vector: number): number {
    // QEMU: a vector the function does not have reads back as NO_VECTOR.
    return vector < this.vectors ? vector : VIRTIO_NO_VECTOR;
  }

  #writeStatus(status: number): void {
    if (status === 0) {
      this.reset();
      return;
    }
    const newly = status & ~this.status;
    let next = status;
    if (newly & VIRTIO_CONFIG_S_FEATURES_OK) {
      const features = this.guestFeatures;
      const offered = this.device.hostFeatures;
      const ok = (features & ~offered) === 0n && (features & (1n << BigInt(VIRTIO_F_VERSION_1))) !== 0n && this.device.acceptFeatures(features);
      // A refused feature set leaves FEATURES_OK clear for the driver to see (virtio 1.2 §3.1.1 step 6).
      if (!ok) next &= ~VIRTIO_CONFIG_S_FEATURES_OK;
    }
    this.status = next | (this.status & VIRTIO_CONFIG_S_NEEDS_RESET);
    if (newly & VIRTIO_CONFIG_S_DRIVER_OK && next & VIRTIO_CONFIG_S_DRIVER_OK) this.device.driverOk();
  }

  /** Device reset: status, features, queues and vectors back to their initial values. */
  reset(): void {
    this.status = 0;
    this.isr = 0;
    this.driverFeatures = [0, 0];
    this.deviceFeatureSelect = 0;
    this.driverFeatureSelect = 0;
    this.queueSelect = 0;
    this.configVector = VIRTIO_NO_VECTOR;
    this.queues.forEach((q, i) => Object.assign(q, freshQueue(this.device.queueMaxSize(i))));
    this.device.reset();
  }
}

function freshQueue(size: number): TransportQueue {
  return { size, enabled: false, vector: VIRTIO_NO_VECTOR, desc: 0n, driver: 0n, device: 0n };
}

/** Read `size` bytes of a 64-bit register at byte offset `at` (0 or 4). */
function part(reg: bigint, at: number, size: number): bigint {
  const bits = BigInt(size * 8);
  return (reg >> BigInt(at * 8)) & ((1n << bits) - 1n);
}

function setPart(reg: bigint, at: number, size: number, value: bigint): bigint {
  const bits = BigInt(Math.min(size, 8 - at) * 8);
  const shift = BigInt(at * 8);
  const mask = ((1n << bits) - 1n) << shift;
  return (reg & ~mask) | ((value << shift) & mask);
}

function readLe(buf: Uint8Array, off: number, size: number): bigint {
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[off + i] ?? 0);
  return v;
}

function writeLe(buf: Uint8Array, off: number, size: number, value: bigint): void {
  for (let i = 0; i < size && off + i < buf.length; i++) buf[off + i] = Number((value >> BigInt(8 * i)) & 0xffn);
}
