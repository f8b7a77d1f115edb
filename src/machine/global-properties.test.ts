import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { VIRTIO_NET_PCI, findProperty, parsePropertyJson, parsePropertyText, propertyFeatureBits } from './device-properties.js';
import { checkGlobalProperty, resolveDeviceProperties } from './global-properties.js';
import type { GlobalProperty } from './global-properties.js';
import { isTypeOf } from './qom-types.js';

const g = (driver: string, property: string, value: string): GlobalProperty => ({ driver, property, value });
const resolve = (compat: GlobalProperty[], globals: GlobalProperty[], options: Record<string, boolean | number | string> = {}) => resolveDeviceProperties(VIRTIO_NET_PCI, compat, globals, options);

describe('precedence: default < compat < -global < -device', () => {
  test('each layer overrides the one below, and sources say which won', () => {
    const compat = [g('virtio-net-device', 'early-mig', 'off'), g('virtio-net-device', 'rx_queue_size', '512')];
    const globals = [g('virtio-net-pci', 'rx_queue_size', '1024'), g('virtio-net-pci', 'mq', 'on')];
    const r = resolve(compat, globals, { mq: false });
    assert.equal(r.values.csum, true);
    assert.equal(r.sources.csum, 'default');
    assert.equal(r.values['early-mig'], false);
    assert.equal(r.sources['early-mig'], 'compat');
    assert.equal(r.values.rx_queue_size, 1024);
    assert.equal(r.sources.rx_queue_size, 'global');
    assert.equal(r.values.mq, false);
    assert.equal(r.sources.mq, 'device');
  });

  test('a user -global beats compat whichever object it names', () => {
    const compat = [g('virtio-net-device', 'early-mig', 'off')];
    assert.equal(resolve(compat, [g('virtio-net-device', 'early-mig', 'on')]).values['early-mig'], true);
    assert.equal(resolve(compat, [g('virtio-net-pci', 'early-mig', 'on')]).values['early-mig'], true);
    assert.equal(resolve(compat, [g('virtio-net-pci', 'early-mig', 'on')], { 'early-mig': false }).values['early-mig'], false);
  });

  test("QEMU's object order: proxy globals are applied after the child's, so they win", () => {
    const r = resolve([], [g('virtio-net-pci', 'mq', 'on'), g('virtio-net-device', 'mq', 'off')]);
    assert.equal(r.values.mq, true);
  });

  test('among globals of one object, the later one wins', () => {
    assert.equal(resolve([], [g('virtio-net-pci', 'vectors', '6'), g('virtio-net-pci', 'vectors', '8')]).values.vectors, 8);
  });
});

describe('driver matching follows the type hierarchy (object_dynamic_cast)', () => {
  test('the hierarchy', () => {
    assert.ok(isTypeOf('virtio-net-pci', 'virtio-net-pci-base'));
    assert.ok(isTypeOf('virtio-net-pci', 'virtio-pci'));
    assert.ok(isTypeOf('virtio-net-pci', 'pci-device'));
    assert.ok(isTypeOf('virtio-net-pci', 'device'));
    assert.ok(isTypeOf('virtio-net-device', 'virtio-device'));
    assert.ok(!isTypeOf('virtio-net-device', 'virtio-pci'));
    assert.ok(!isTypeOf('virtio-net-pci', 'virtio-device'), 'the proxy is not a virtio device; its child is');
  });

  test('parent-type globals reach virtio-net-pci and its child', () => {
    assert.equal(resolve([g('virtio-net-pci-base', 'vectors', '3')], []).values.vectors, 3, "hw_compat_5_2's shape");
    assert.equal(resolve([], [g('virtio-pci', 'vectors', '7')]).values.vectors, 7);
    assert.equal(resolve([], [g('virtio-device', 'event_idx', 'off')]).values.event_idx, false);
    assert.equal(resolve([], [g('device', 'mq', 'on')]).values.mq, true);
    assert.equal(resolve([], [g('pci-device', 'addr', '05.0')]).values.addr, 5 << 3);
  });

  test('checkGlobalProperty: unknown drivers and properties the matched objects lack', () => {
    assert.equal(checkGlobalProperty(VIRTIO_NET_PCI, g('virtio-net-pci', 'mq', 'on')), undefined);
    const reason = (driver: string, property: string, value: string) => checkGlobalProperty(VIRTIO_NET_PCI, g(driver, property, value))?.reason;
    assert.equal(reason('virtio-blk-pci', 'x', '1'), "unknown driver 'virtio-blk-pci'");
    assert.equal(reason('virtio-net-device', 'vectors', '3'), "property 'vectors' does not exist on virtio-net-device");
    assert.equal(reason('device', 'vectors', '3'), "property 'vectors' does not exist on virtio-net-device", 'device matches the child, which has no vectors');
    assert.equal(reason('virtio-net-pci', 'mqq', 'on'), "property 'mqq' does not exist on virtio-net-pci");
    assert.equal(checkGlobalProperty(VIRTIO_NET_PCI, g('virtio-net-pci', 'mqq', 'on'))?.code, 'ERR_MACHINE_UNKNOWN_PROPERTY');
    assert.equal(reason('virtio-net-pci', 'mq', 'maybe'), "property 'mq' expects on/off (or yes/no, true/false), got 'maybe'");
  });
});

describe('property values', () => {
  const spec = (name: string) => findProperty(VIRTIO_NET_PCI, name)!;

  test("QEMU's defaults for the feature bits and queue sizes", () => {
    const { values } = resolve([], []);
    for (const on of ['csum', 'guest_csum', 'gso', 'guest_tso4', 'guest_tso6', 'guest_ecn', 'guest_ufo', 'guest_announce', 'host_tso4', 'host_tso6', 'host_ecn', 'host_ufo', 'mrg_rxbuf', 'status', 'ctrl_vq', 'ctrl_rx', 'ctrl_vlan', 'ctrl_rx_extra', 'ctrl_mac_addr', 'ctrl_guest_offloads', 'event_idx', 'indirect_desc']) {
      assert.equal(values[on], true, on);
    }
    assert.equal(values.mq, false);
    assert.equal(values.rss, false);
    assert.equal(values.rx_queue_size, 256);
    assert.equal(values.tx_queue_size, 256);
    assert.equal(values['early-mig'], true);
    assert.equal(values['early-mig-policy'], 'per-delta');
    assert.equal(values.vectors, undefined, 'unspecified until the netdev is known');
  });

  test('text parsing and its refusals', () => {
    assert.deepEqual(parsePropertyText(spec('mac'), '52-54-00-AB-CD-EF'), { ok: true, value: '52:54:00:ab:cd:ef' });
    assert.deepEqual(parsePropertyText(spec('mac'), '01:00:5e:00:00:01'), { ok: false, reason: 'mac 01:00:5e:00:00:01 is a multicast address; a NIC needs a unicast one' });
    assert.deepEqual(parsePropertyText(spec('addr'), '1f.7'), { ok: true, value: 0xff });
    assert.deepEqual(parsePropertyText(spec('addr'), '0x3'), { ok: true, value: 0x18 });
    assert.equal(parsePropertyText(spec('addr'), '20.0').ok, false);
    assert.deepEqual(parsePropertyText(spec('rx_queue_size'), '300'), { ok: false, reason: 'rx_queue_size must be a power of 2 between 256 and 1024' });
    assert.deepEqual(parsePropertyText(spec('vectors'), '0'), { ok: false, reason: "vectors must be 1..2048, got '0'" });
    assert.deepEqual(parsePropertyText(spec('early-mig-policy'), 'fast'), { ok: false, reason: "property 'early-mig-policy' expects one of rfc, per-delta, got 'fast'" });
    assert.deepEqual(parsePropertyText(spec('netdev'), undefined), { ok: false, reason: "property 'netdev' needs a value" });
    assert.deepEqual(parsePropertyText(spec('mq'), undefined), { ok: true, value: true });
  });

  test("JSON parsing (qom-set) uses QEMU's type wording", () => {
    assert.deepEqual(parsePropertyJson(spec('mq'), 'on'), { ok: false, reason: "Invalid parameter type for 'mq', expected: boolean" });
    assert.deepEqual(parsePropertyJson(spec('vectors'), '4'), { ok: false, reason: "Invalid parameter type for 'vectors', expected: integer" });
    assert.deepEqual(parsePropertyJson(spec('vectors'), 4), { ok: true, value: 4 });
    assert.deepEqual(parsePropertyJson(spec('early-mig-policy'), 'rfc'), { ok: true, value: 'rfc' });
    assert.deepEqual(parsePropertyJson(spec('addr'), 24), { ok: true, value: 24 });
    assert.deepEqual(parsePropertyJson(spec('addr'), '03.0'), { ok: true, value: 24 });
  });

  test('feature bits follow the bool properties', () => {
    const { values } = resolve([], [], { mq: true, csum: false });
    const bits = propertyFeatureBits(VIRTIO_NET_PCI, values);
    assert.equal((bits >> 22n) & 1n, 1n, 'VIRTIO_NET_F_MQ');
    assert.equal(bits & 1n, 0n, 'VIRTIO_NET_F_CSUM off');
    assert.equal((bits >> 29n) & 1n, 1n, 'VIRTIO_F_EVENT_IDX');
    assert.equal((bits >> 6n) & 1n, 1n, 'legacy GSO');
    assert.equal((bits >> 60n) & 1n, 0n, 'RSS off by default');
  });
});
