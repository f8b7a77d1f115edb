import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { QmpCommandRegistry, QmpSession } from '../control/index.js';
import { parseVmCommandLine } from './command-line.js';
import { DevicePropertyStore } from './device-property-store.js';
import type { PropertyChange } from './device-property-store.js';
import { registerMachineQmpCommands } from './machine-qmp-commands.js';

const config = () =>
  parseVmCommandLine([
    '-machine', 'pc-q35-10.1',
    '-netdev', 'tap,id=n0,queues=2', '-netdev', 'tap,id=n1', '-netdev', 'tap,id=n2',
    '-device', 'virtio-net-pci,netdev=n0,id=net0,mq=on',
    '-device', 'virtio-net-pci,netdev=n1',
  ]);

describe('DevicePropertyStore', () => {
  test('lookup by id, QOM path, anonymous path and the virtio child', () => {
    const store = new DevicePropertyStore(config());
    assert.deepEqual(store.list().map((d) => d.qomPath), ['/machine/peripheral/net0', '/machine/peripheral-anon/device[0]']);
    assert.equal(store.getProperty('net0', 'mq'), true);
    assert.equal(store.getProperty('/machine/peripheral/net0', 'vectors'), 6);
    assert.equal(store.getProperty('/machine/peripheral/net0/virtio-backend', 'early-mig'), false, 'compat of pc-q35-10.1');
    assert.equal(store.getProperty('/machine/peripheral-anon/device[0]', 'netdev'), 'n1');
    assert.equal(store.getProperty('net0', 'type'), 'virtio-net-pci');
    assert.equal(store.getProperty('/machine/peripheral/net0/virtio-backend', 'type'), 'virtio-net-device');
    assert.throws(() => store.getProperty('/machine/peripheral/net0/virtio-backend', 'vectors'), { code: 'ERR_MACHINE_UNKNOWN_PROPERTY', message: "Property 'virtio-net-device.vectors' not found" });
    assert.throws(() => store.getProperty('net0', 'nope'), { code: 'ERR_MACHINE_UNKNOWN_PROPERTY', message: "Property 'virtio-net-pci.nope' not found" });
    assert.throws(() => store.getProperty('net9', 'mq'), { code: 'ERR_MACHINE_UNKNOWN_DEVICE', message: "Device 'net9' not found" });
  });

  test('before realize any property may change, validated first; after, only runtime ones', () => {
    const store = new DevicePropertyStore(config());
    const changes: PropertyChange[] = [];
    store.onChange((c) => changes.push(c));
    store.setProperty('net0', 'vectors', '8');
    assert.equal(store.getProperty('net0', 'vectors'), 8);
    assert.throws(() => store.setProperty('net0', 'vectors', '0'), { code: 'ERR_MACHINE_BAD_PROPERTY', message: "vectors must be 1..2048, got '0'" });
    assert.throws(() => store.setProperty('net0', 'ctrl_vq', 'off'), { code: 'ERR_MACHINE_BAD_PROPERTY' });
    assert.throws(() => store.setProperty('net0', 'netdev', 'n1'), { code: 'ERR_MACHINE_BAD_REFERENCE', message: "netdev 'n1' is already used by another device" });
    assert.throws(() => store.setProperty('net0', 'netdev', 'n9'), { code: 'ERR_MACHINE_BAD_REFERENCE' });
    store.setProperty('net0', 'netdev', 'n2');
    assert.equal(store.getProperty('net0', 'vectors'), 8, 'failed sets changed nothing');
    store.markRealized();
    assert.throws(() => store.setProperty('net0', 'mq', 'off'), { code: 'ERR_MACHINE_PROPERTY_READONLY', message: "Attempt to set property 'mq' on device 'net0' (type 'virtio-net-pci') after it was realized" });
    store.setPropertyJson('net0', 'early-mig', true);
    store.setProperty('net0', 'early-mig-policy', 'rfc');
    assert.deepEqual(changes.map((c) => `${c.property}:${String(c.oldValue)}→${String(c.newValue)}`), ['vectors:6→8', 'netdev:n0→n2', 'early-mig:false→true', 'early-mig-policy:rfc→rfc']);
  });
});

describe('machine QMP commands through a session', () => {
  async function session() {
    const registry = new QmpCommandRegistry();
    const store = new DevicePropertyStore(config());
    store.markRealized();
    registerMachineQmpCommands(registry, store);
    const lines: string[] = [];
    const s = new QmpSession({ id: 1, registry, transport: { write: (t) => lines.push(t) } });
    s.start();
    const run = async (request: Record<string, unknown>) => {
      lines.length = 0;
      s.receive(new TextEncoder().encode(JSON.stringify(request)));
      await s.whenIdle();
      return JSON.parse(lines[0]!) as Record<string, unknown>;
    };
    await run({ execute: 'qmp_capabilities' });
    return { run, store };
  }

  test('query-machines, with and without compat-props', async () => {
    const { run } = await session();
    const plain = (await run({ execute: 'query-machines' })).return as Array<Record<string, unknown>>;
    assert.equal(plain.length, 5);
    assert.equal(plain.find((m) => m['is-default'])?.name, 'pc-q35-11.1');
    const detailed = (await run({ execute: 'query-machines', arguments: { 'compat-props': true } })).return as Array<Record<string, unknown>>;
    assert.equal((detailed.find((m) => m.name === 'pc-q35-10.0')!['compat-props'] as unknown[]).length, 2);
    assert.deepEqual(await run({ execute: 'query-machines', arguments: { 'compat-props': 1 } }), { error: { class: 'GenericError', desc: "Invalid parameter type for 'compat-props', expected: boolean" } });
  });

  test('qom-get / qom-set / qom-list with QEMU error classes', async () => {
    const { run, store } = await session();
    assert.deepEqual(await run({ execute: 'qom-get', arguments: { path: '/machine/peripheral/net0', property: 'mac' } }), { return: '52:54:00:12:34:56' });
    assert.deepEqual(await run({ execute: 'qom-get', arguments: { path: '/machine/peripheral/net0', property: 'addr' } }), { return: 16 });
    assert.deepEqual(await run({ execute: 'qom-get', arguments: { path: '/machine/peripheral/nope', property: 'mac' } }), { error: { class: 'DeviceNotFound', desc: "Device '/machine/peripheral/nope' not found" } });
    assert.deepEqual(await run({ execute: 'qom-get', arguments: { path: 'net0', property: 'mqq' } }), { error: { class: 'GenericError', desc: "Property 'virtio-net-pci.mqq' not found" } });
    assert.deepEqual(await run({ execute: 'qom-set', arguments: { path: 'net0', property: 'early-mig', value: 'on' } }), { error: { class: 'GenericError', desc: "Invalid parameter type for 'early-mig', expected: boolean" } });
    assert.deepEqual(await run({ execute: 'qom-set', arguments: { path: 'net0', property: 'early-mig', value: true }, id: 5 }), { return: {}, id: 5 });
    assert.equal(store.getProperty('net0', 'early-mig'), true);
    assert.deepEqual(await run({ execute: 'qom-set', arguments: { path: 'net0', property: 'mq', value: false } }), { error: { class: 'GenericError', desc: "Attempt to set property 'mq' on device 'net0' (type 'virtio-net-pci') after it was realized" } });
    assert.deepEqual(await run({ execute: 'qom-get', arguments: { path: 'net0' } }), { error: { class: 'GenericError', desc: "Parameter 'property' is missing" } });
    const list = (await run({ execute: 'qom-list', arguments: { path: '/machine/peripheral/net0/virtio-backend' } })).return as Array<{ name: string; type: string }>;
    assert.ok(list.some((p) => p.name === 'early-mig' && p.type === 'bool'));
    assert.ok(!list.some((p) => p.name === 'vectors'), 'the child has no vectors');
  });
});
