/**
 * The 256-byte PCI configuration space of vmig's virtio-net-pci function, as
 * it travels in the saved state (research §3.3: PCIDevice, then MSI-X).
 * vmig emulates no PCI config cycles; this is the header a modern
 * virtio-pci function would present (virtio 1.2 §4.1.2, §4.1.4), built so
 * that a decoder without the device (`vmig analyze`, QEMU's
 * analyze-migration.py) finds the MSI-X table size in the capability list:
 *
 *   0x00 le16 vendor 0x1af4 · 0x02 le16 device 0x1041 · 0x04 le16 command (memory, bus master)
 *   0x06 le16 status (capability list) · 0x08 revision 1 · 0x09 class 02 00 00 (Ethernet)
 *   0x20 BAR4: 64-bit prefetchable memory (the one BAR of pci-transport.ts)
 *   0x2c subsystem 0x1af4:0x1100 · 0x34 first capability · 0x3d interrupt pin A
 *   0x40 MSI-X (table at BAR4+0x10000, PBA at BAR4+0x11000, size = vectors)   [only with vectors > 0]
 *   then virtio vendor capabilities (cfg_type, bar, offset, length):
 *        common 1 @0x0000 · ISR 3 @0x1000 · device 4 @0x2000 · notify 2 @0x3000 (+ multiplier 4)
 */

import {
  PCI_CAP_ID_MSIX,
  PCI_CAPABILITY_LIST,
  PCI_CONFIG_SPACE_SIZE,
  PCI_MSIX_FLAGS_QSIZE,
  PCI_STATUS,
  PCI_STATUS_CAP_LIST,
  VIRTIO_PCI_COMMON_CFG,
  VIRTIO_PCI_DEVICE_CFG,
  VIRTIO_PCI_ISR,
  VIRTIO_PCI_MSIX_PBA,
  VIRTIO_PCI_MSIX_TABLE,
  VIRTIO_PCI_NOTIFY,
  VIRTIO_PCI_NOTIFY_OFF_MULTIPLIER,
  findPciCapability,
} from '../../virtio/index.js';
import { PCI_CLASS_NETWORK_ETHERNET, PCI_DEVICE_ID_VIRTIO_NET_MODERN, PCI_SUBSYSTEM_ID_QEMU, PCI_VENDOR_ID_REDHAT_QUMRANET } from './spec-constants.js';

const PCI_CAP_ID_VNDR = 0x09;
const VIRTIO_PCI_CAP_COMMON_CFG = 1;
const VIRTIO_PCI_CAP_NOTIFY_CFG = 2;
const VIRTIO_PCI_CAP_ISR_CFG = 3;
const VIRTIO_PCI_CAP_DEVICE_CFG = 4;
/** The BAR every region lives in. */
const VIRTIO_BAR = 4;
const MSIX_ENABLE = 0x8000;
/** Size of the common configuration structure (virtio 1.2 §4.1.4.3). */
const COMMON_CFG_LEN = 0x38;

export interface PciConfigParams {
  /** MSI-X vectors; 0 = no MSI-X capability. */
  vectors: number;
  /** Device config space length (virtio_net_config). */
  deviceConfigLen: number;
  /** The most queues the device can have (sizes the notify region). */
  maxQueues: number;
}

export function buildPciConfig(p: PciConfigParams): Uint8Array {
  const c = new Uint8Array(PCI_CONFIG_SPACE_SIZE);
  const v = new DataView(c.buffer);
  v.setUint16(0x00, PCI_VENDOR_ID_REDHAT_QUMRANET, true);
  v.setUint16(0x02, PCI_DEVICE_ID_VIRTIO_NET_MODERN, true);
  v.setUint16(0x04, 0x0006, true); // memory space + bus master
  v.setUint16(PCI_STATUS, PCI_STATUS_CAP_LIST, true);
  c[0x08] = 1; // modern-only virtio-pci has revision 1
  c[0x0a] = PCI_CLASS_NETWORK_ETHERNET & 0xff;
  c[0x0b] = PCI_CLASS_NETWORK_ETHERNET >> 8;
  v.setUint32(0x10 + 4 * VIRTIO_BAR, 0x0000000c, true); // 64-bit, prefetchable; the machine assigns the address
  v.setUint16(0x2c, PCI_VENDOR_ID_REDHAT_QUMRANET, true);
  v.setUint16(0x2e, PCI_SUBSYSTEM_ID_QEMU, true);
  c[0x3d] = 1; // INTA#

  const caps: ((at: number, next: number) => number)[] = [];
  if (p.vectors > 0) {
    caps.push((at, next) => {
      c[at] = PCI_CAP_ID_MSIX;
      c[at + 1] = next;
      v.setUint16(at + 2, ((p.vectors - 1) & PCI_MSIX_FLAGS_QSIZE) | MSIX_ENABLE, true);
      v.setUint32(at + 4, VIRTIO_PCI_MSIX_TABLE | VIRTIO_BAR, true);
      v.setUint32(at + 8, VIRTIO_PCI_MSIX_PBA | VIRTIO_BAR, true);
      return 12;
    });
  }
  const vendorCap = (type: number, offset: number, length: number, extra?: number) => (at: number, next: number) => {
    const len = extra === undefined ? 16 : 20;
    c[at] = PCI_CAP_ID_VNDR;
    c[at + 1] = next;
    c[at + 2] = len;
    c[at + 3] = type;
    c[at + 4] = VIRTIO_BAR;
    v.setUint32(at + 8, offset, true);
    v.setUint32(at + 12, length, true);
    if (extra !== undefined) v.setUint32(at + 16, extra, true);
    return len;
  };
  caps.push(vendorCap(VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_CFG, COMMON_CFG_LEN));
  caps.push(vendorCap(VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR, 1));
  caps.push(vendorCap(VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_CFG, p.deviceConfigLen));
  caps.push(vendorCap(VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY, p.maxQueues * VIRTIO_PCI_NOTIFY_OFF_MULTIPLIER, VIRTIO_PCI_NOTIFY_OFF_MULTIPLIER));

  // Lay the capabilities out from 0x40, each pointing at the next (4-byte aligned).
  const sizes = [12, 16, 16, 16, 20].slice(p.vectors > 0 ? 0 : 1);
  let at = 0x40;
  c[PCI_CAPABILITY_LIST] = at;
  caps.forEach((write, i) => {
    const next = i + 1 < caps.length ? at + ((sizes[i]! + 3) & ~3) : 0;
    write(at, next);
    at = next;
  });
  return c;
}

/** The MSI-X table size a saved config space declares (0: no MSI-X capability). */
export function savedMsixVectors(config: Uint8Array): number {
  const cap = findPciCapability(config, PCI_CAP_ID_MSIX);
  if (cap === undefined) return 0;
  return ((config[cap + 2]! | (config[cap + 3]! << 8)) & PCI_MSIX_FLAGS_QSIZE) + 1;
}

/**
 * Why a saved config space cannot belong to this function (QEMU refuses
 * differing read-only bytes, "Bad config data"), or undefined when it can:
 * vendor, device and class must match, and the MSI-X table size.
 */
export function pciConfigMismatch(saved: Uint8Array, ours: Uint8Array): string | undefined {
  if (saved.length !== ours.length) return `config space is ${saved.length} bytes, this function has ${ours.length}`;
  const id = (c: Uint8Array, at: number) => c[at]! | (c[at + 1]! << 8);
  if (id(saved, 0) !== id(ours, 0) || id(saved, 2) !== id(ours, 2)) {
    return `vendor:device ${id(saved, 0).toString(16)}:${id(saved, 2).toString(16)} is not ${id(ours, 0).toString(16)}:${id(ours, 2).toString(16)}`;
  }
  if (saved[0x0a] !== ours[0x0a] || saved[0x0b] !== ours[0x0b]) return 'the class code differs';
  const sv = savedMsixVectors(saved);
  const ov = savedMsixVectors(ours);
  if (sv !== ov) return `the MSI-X table has ${sv} vectors, this function has ${ov}`;
  return undefined;
}
