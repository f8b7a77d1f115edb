/**
 * VirtioPciTransport: the driver-visible register semantics of virtio 1.2
 * §4.1 (modern virtio-pci), driven the way a driver drives them.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import type { TransportQueue, VirtioDeviceModel } from './pci-transport.js';
import { VIRTIO_PCI_DEVICE_CFG, VIRTIO_PCI_ISR, VIRTIO_PCI_MSIX_PBA, VIRTIO_PCI_MSIX_TABLE, VIRTIO_PCI_NOTIFY, VirtioPciTransport } from './pci-transport.js';
import { VIRTIO_CONFIG_S_ACKNOWLEDGE, VIRTIO_CONFIG_S_DRIVER, VIRTIO_CONFIG_S_DRIVER_OK, VIRTIO_CONFIG_S_FEATURES_OK, VIRTIO_CONFIG_S_NEEDS_RESET, VIRTIO_NO_VECTOR } from './spec-constants.js';

const VERSION_1 = 1n << 32n;

class RecordingDevice implements VirtioDeviceModel {
  hostFeatures = VERSION_1 | (1n << 5n) | (1n << 16n);
  numQueues = 3;
  refuse = false;
  log: string[] = [];
  config = new Uint8Array([0x52, 0x54, 0, 1, 2, 3, 1, 0]);
  queueMaxSize(): number {
    return 256;
  }
  readConfig(offset: number, size: number): bigint {
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.config[offset + i] ?? 0);
    return v;
  }
  writeConfig(offset: number, size: number, value: bigint): void {
    this.log.push(`config ${offset}/${size}=${value}`);
  }
  acceptFeatures(f: bigint): boolean {
    this.log.push(`features 0x${f.toString(16)}`);
    return !this.refuse;
  }
  queueEnabled(i: number, q: TransportQueue): void {
    this.log.push(`enable ${i} size ${q.size} desc 0x${q.desc.toString(16)}`);
  }
  driverOk(): void {
    this.log.push('driver-ok');
  }
  reset(): void {
    this.log.push('reset');
  }
  notify(i: number): void {
    this.log.push(`notify ${i}`);
  }
}

function setup(vectors = 4) {
  const dev = new RecordingDevice();
  const raised: number[] = [];
  const t = new VirtioPciTransport(dev, vectors, (v) => raised.push(v));
  return { dev, t, raised };
}

function negotiate(t: VirtioPciTransport, features: bigint): number {
  t.write(0x14, 1, BigInt(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER));
  t.write(0x08, 4, 0n);
  t.write(0x0c, 4, features & 0xffffffffn);
  t.write(0x08, 4, 1n);
  t.write(0x0c, 4, features >> 32n);
  t.write(0x14, 1, BigInt(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK));
  return Number(t.read(0x14, 1));
}

describe('virtio-pci modern common configuration (virtio 1.2 §4.1.4.3)', () => {
  test('device_feature shows the offered features 32 bits per device_feature_select', () => {
    const { t } = setup();
    t.write(0x00, 4, 0n);
    assert.equal(t.read(0x04, 4), (1n << 5n) | (1n << 16n));
    t.write(0x00, 4, 1n);
    assert.equal(t.read(0x04, 4), 1n);
    t.write(0x00, 4, 2n);
    assert.equal(t.read(0x04, 4), 0n);
  });

  test('§3.1.1: FEATURES_OK stays set for an offered feature set including VERSION_1', () => {
    const { t, dev } = setup();
    const status = negotiate(t, VERSION_1 | (1n << 5n));
    assert.ok(status & VIRTIO_CONFIG_S_FEATURES_OK);
    assert.equal(t.guestFeatures, VERSION_1 | (1n << 5n));
    assert.deepEqual(dev.log, ['features 0x100000020']);
  });

  test('§3.1.1: FEATURES_OK reads back clear for a feature not offered, for a missing VERSION_1, and when the device refuses', () => {
    assert.equal(negotiate(setup().t, VERSION_1 | (1n << 7n)) & VIRTIO_CONFIG_S_FEATURES_OK, 0);
    assert.equal(negotiate(setup().t, 1n << 5n) & VIRTIO_CONFIG_S_FEATURES_OK, 0);
    const s = setup();
    s.dev.refuse = true;
    assert.equal(negotiate(s.t, VERSION_1) & VIRTIO_CONFIG_S_FEATURES_OK, 0);
  });

  test('driver features cannot change after FEATURES_OK', () => {
    const { t } = setup();
    negotiate(t, VERSION_1);
    t.write(0x08, 4, 0n);
    t.write(0x0c, 4, 0xffffn);
    assert.equal(t.guestFeatures, VERSION_1);
  });

  test('§2.7: queue_size accepts powers of two up to the maximum and ignores anything else', () => {
    const { t } = setup();
    t.write(0x16, 2, 1n);
    assert.equal(t.read(0x18, 2), 256n);
    t.write(0x18, 2, 100n);
    assert.equal(t.read(0x18, 2), 256n);
    t.write(0x18, 2, 512n);
    assert.equal(t.read(0x18, 2), 256n);
    t.write(0x18, 2, 64n);
    assert.equal(t.read(0x18, 2), 64n);
  });

  test('ring addresses are written in 32-bit halves and frozen once the queue is enabled', () => {
    const { t, dev } = setup();
    t.write(0x16, 2, 0n);
    t.write(0x20, 4, 0x12345000n);
    t.write(0x24, 4, 0x1n);
    t.write(0x28, 8, 0x2000n);
    t.write(0x30, 4, 0x3000n);
    assert.equal(t.read(0x20, 8), 0x1_1234_5000n);
    assert.equal(t.read(0x24, 4), 1n);
    t.write(0x1c, 2, 1n);
    assert.deepEqual(dev.log, ['enable 0 size 256 desc 0x112345000']);
    t.write(0x20, 4, 0n);
    assert.equal(t.queues[0]!.desc, 0x1_1234_5000n);
    assert.equal(t.read(0x1c, 2), 1n);
    assert.equal(t.read(0x1e, 2), 0n, 'queue_notify_off of queue 0');
  });

  test('a queue_select beyond num_queues reads size 0 and NO_VECTOR, and writes go nowhere', () => {
    const { t } = setup();
    assert.equal(t.read(0x12, 2), 3n);
    t.write(0x16, 2, 7n);
    assert.equal(t.read(0x18, 2), 0n);
    assert.equal(t.read(0x1a, 2), BigInt(VIRTIO_NO_VECTOR));
    t.write(0x1c, 2, 1n);
    assert.ok(t.queues.every((q) => !q.enabled));
  });

  test('an MSI-X vector the function does not have reads back as NO_VECTOR', () => {
    const { t } = setup(4);
    t.write(0x10, 2, 3n);
    assert.equal(t.read(0x10, 2), 3n);
    t.write(0x10, 2, 4n);
    assert.equal(t.read(0x10, 2), BigInt(VIRTIO_NO_VECTOR));
    t.write(0x1a, 2, 9n);
    assert.equal(t.read(0x1a, 2), BigInt(VIRTIO_NO_VECTOR));
  });

  test('writing status 0 resets the device, queues and vectors', () => {
    const { t, dev } = setup();
    negotiate(t, VERSION_1);
    t.write(0x10, 2, 1n);
    t.write(0x1c, 2, 1n);
    t.write(0x14, 1, 0n);
    assert.equal(t.status, 0);
    assert.equal(t.guestFeatures, 0n);
    assert.equal(t.configVector, VIRTIO_NO_VECTOR);
    assert.ok(t.queues.every((q) => !q.enabled && q.size === 256));
    assert.equal(dev.log.at(-1), 'reset');
  });
});

describe('virtio-pci notifications, ISR, MSI-X', () => {
  function live() {
    const s = setup(4);
    negotiate(s.t, VERSION_1);
    s.t.write(0x16, 2, 1n);
    s.t.write(0x1a, 2, 2n);
    s.t.write(0x1c, 2, 1n);
    s.t.write(0x14, 1, BigInt(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK));
    // Unmask vectors 1 and 2 (vector control is the last dword of each entry).
    s.t.write(VIRTIO_PCI_MSIX_TABLE + 16 + 12, 4, 0n);
    s.t.write(VIRTIO_PCI_MSIX_TABLE + 32 + 12, 4, 0n);
    return s;
  }

  test('notifications reach the device only for enabled queues after DRIVER_OK', () => {
    const { t, dev } = live();
    t.write(VIRTIO_PCI_NOTIFY + 4, 2, 1n);
    t.notifyFromDriver(0);
    t.notifyFromDriver(9);
    assert.deepEqual(dev.log.filter((l) => l.startsWith('notify')), ['notify 1']);
    assert.ok(dev.log.includes('driver-ok'));
  });

  test('§4.1.4.5: ISR is read-to-clear and records queue and config interrupts', () => {
    const { t, raised } = live();
    t.interruptQueue(1);
    assert.deepEqual(raised, [2]);
    t.write(0x10, 2, 1n);
    t.interruptConfig();
    assert.deepEqual(raised, [2, 1]);
    assert.equal(t.read(VIRTIO_PCI_ISR, 1), 3n);
    assert.equal(t.read(VIRTIO_PCI_ISR, 1), 0n);
    assert.equal(t.read(0x15, 1), 1n, 'config_generation bumped');
  });

  test('a masked vector sets its PBA bit and fires when unmasked', () => {
    const { t, raised } = live();
    t.write(VIRTIO_PCI_MSIX_TABLE + 32 + 12, 4, 1n);
    t.interruptQueue(1);
    assert.deepEqual(raised, []);
    assert.equal(t.read(VIRTIO_PCI_MSIX_PBA, 1), 4n);
    t.write(VIRTIO_PCI_MSIX_TABLE + 32 + 12, 4, 0n);
    assert.deepEqual(raised, [2]);
    assert.equal(t.read(VIRTIO_PCI_MSIX_PBA, 1), 0n);
  });

  test('NEEDS_RESET is set once and announced through a config interrupt', () => {
    const { t, raised } = live();
    t.write(0x10, 2, 1n);
    t.needsReset();
    t.needsReset();
    assert.ok(t.status & VIRTIO_CONFIG_S_NEEDS_RESET);
    assert.deepEqual(raised, [1]);
    assert.ok(Number(t.read(0x14, 1)) & VIRTIO_CONFIG_S_DRIVER_OK);
  });

  test('device config reads and writes go to the device at their offset', () => {
    const { t, dev } = live();
    assert.equal(t.read(VIRTIO_PCI_DEVICE_CFG, 4), 0x01005452n);
    assert.equal(t.read(VIRTIO_PCI_DEVICE_CFG + 6, 2), 1n);
    t.write(VIRTIO_PCI_DEVICE_CFG + 1, 1, 9n);
    assert.ok(dev.log.includes('config 1/1=9'));
  });

  test('unknown offsets read as zero and ignore writes', () => {
    const { t } = live();
    assert.equal(t.read(0x40, 4), 0n);
    const before = JSON.stringify(t.queues, (_, v) => (typeof v === 'bigint' ? v.toString() : v));
    t.write(0x40, 4, 0xffn);
    t.write(0x0fff, 1, 0xffn);
    assert.equal(JSON.stringify(t.queues, (_, v) => (typeof v === 'bigint' ? v.toString() : v)), before);
  });
});
