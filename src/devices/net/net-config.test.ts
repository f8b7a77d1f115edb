/** Properties → host features and config length (QEMU's feature_sizes), and the saved PCI config's capability list. */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { PCI_CAP_ID_MSIX, VIRTIO_F_VERSION_1, findPciCapability } from '../../virtio/index.js';
import { netConfigSize, parseMac, resolveNetConfig } from './net-config.js';
import { buildPciConfig, pciConfigMismatch, savedMsixVectors } from './pci-config.js';
import { VIRTIO_NET_F_MQ, VIRTIO_NET_F_RSS, VIRTIO_NET_F_STATUS } from './spec-constants.js';

const bit = (n: number): bigint => 1n << BigInt(n);
const tap = { kind: 'tap', hasVnetHdr: true, hasUfo: true };

describe('virtio-net properties', () => {
  test('config length: 6 (MAC), 8 (STATUS), 10 (MQ), 24 (RSS)', () => {
    assert.equal(netConfigSize(0n), 6);
    assert.equal(netConfigSize(bit(VIRTIO_NET_F_STATUS)), 8);
    assert.equal(netConfigSize(bit(VIRTIO_NET_F_STATUS) | bit(VIRTIO_NET_F_MQ)), 10);
    assert.equal(netConfigSize(bit(VIRTIO_NET_F_RSS)), 24);
    assert.equal(resolveNetConfig({}, tap).configSize, 8, 'QEMU default: 8 [verified in research §4.1]');
  });

  test('defaults follow QEMU; VERSION_1 always; tx_queue_size capped at 256 for non-vhost back-ends', () => {
    const r = resolveNetConfig({ tx_queue_size: 1024, rx_queue_size: 1024 }, tap);
    assert.ok(r.hostFeatures & bit(VIRTIO_F_VERSION_1));
    assert.equal(r.txQueueSize, 256);
    assert.equal(r.rxQueueSize, 1024);
    assert.equal(resolveNetConfig({ tx_queue_size: 1024 }, { ...tap, kind: 'vhost-user' }).txQueueSize, 1024);
    assert.equal(resolveNetConfig({ status: false }, tap).hostFeatures & bit(VIRTIO_NET_F_STATUS), 0n);
  });

  test('MACs parse in QEMU notation and nothing else', () => {
    assert.deepEqual([...parseMac('52:54:00:AB:cd:01')], [0x52, 0x54, 0, 0xab, 0xcd, 1]);
    for (const bad of ['52:54:00:ab:cd', '52-54-00-ab-cd-01', '', '52:54:00:ab:cd:0g']) assert.throws(() => parseMac(bad), /ERR_NET_BAD_PROPERTY|not a MAC/);
  });
});

describe('saved PCI config', () => {
  test('the capability list leads to an MSI-X capability whose size is the vector count, then four virtio caps', () => {
    for (const vectors of [0, 4, 10, 33]) {
      const c = buildPciConfig({ vectors, deviceConfigLen: 10, maxQueues: 9 });
      assert.equal(c.length, 256);
      assert.equal(savedMsixVectors(c), vectors);
      const types: number[] = [];
      for (let p = c[0x34]!; p !== 0; p = c[p + 1]!) if (c[p] === 0x09) types.push(c[p + 3]!);
      assert.deepEqual(types, [1, 3, 4, 2]);
      assert.equal(findPciCapability(c, PCI_CAP_ID_MSIX) !== undefined, vectors > 0);
    }
  });

  test('a config from a function with another vector count or identity does not fit', () => {
    const ours = buildPciConfig({ vectors: 4, deviceConfigLen: 8, maxQueues: 3 });
    assert.equal(pciConfigMismatch(buildPciConfig({ vectors: 4, deviceConfigLen: 8, maxQueues: 3 }), ours), undefined);
    assert.match(pciConfigMismatch(buildPciConfig({ vectors: 6, deviceConfigLen: 8, maxQueues: 3 }), ours)!, /6 vectors/);
    const other = ours.slice();
    other[2] = 0x00;
    assert.match(pciConfigMismatch(other, ours)!, /vendor:device/);
  });
});
