import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { VIRTIO_NET_PCI } from './device-properties.js';
import { checkGlobalProperty, resolveDeviceProperties } from './global-properties.js';
import { DEFAULT_MACHINE_TYPE, HW_COMPAT, MACHINE_TYPES, findMachineType, queryMachinesData } from './machine-types.js';

function earlyMigOf(machine: string): { earlyMig: unknown; policy: unknown } {
  const m = findMachineType(machine);
  assert.ok(m, machine);
  const { values } = resolveDeviceProperties(VIRTIO_NET_PCI, m.compatProps, [], {});
  return { earlyMig: values['early-mig'], policy: values['early-mig-policy'] };
}

describe('machine types', () => {
  test('the five versions, newest first, q35 aliasing the newest, which is the default', () => {
    assert.deepEqual(MACHINE_TYPES.map((m) => m.name), ['pc-q35-11.1', 'pc-q35-11.0', 'pc-q35-10.2', 'pc-q35-10.1', 'pc-q35-10.0']);
    assert.equal(findMachineType('q35')?.name, 'pc-q35-11.1');
    assert.equal(DEFAULT_MACHINE_TYPE.name, 'pc-q35-11.1');
    assert.equal(findMachineType('pc-q35-9.2'), undefined);
    assert.equal(findMachineType('pc'), undefined);
  });

  test('early-mig defaults off up to 10.1 and on from 10.2 (and on q35)', () => {
    assert.equal(earlyMigOf('pc-q35-10.0').earlyMig, false);
    assert.equal(earlyMigOf('pc-q35-10.1').earlyMig, false);
    assert.equal(earlyMigOf('pc-q35-10.2').earlyMig, true);
    assert.equal(earlyMigOf('pc-q35-11.0').earlyMig, true);
    assert.equal(earlyMigOf('pc-q35-11.1').earlyMig, true);
    assert.equal(earlyMigOf('q35').earlyMig, true);
  });

  test('compat arrays accumulate: a machine gets the arrays of its own and every newer release', () => {
    assert.deepEqual(earlyMigOf('pc-q35-10.0'), { earlyMig: false, policy: 'rfc' });
    assert.deepEqual(earlyMigOf('pc-q35-10.2'), { earlyMig: true, policy: 'rfc' });
    assert.deepEqual(earlyMigOf('pc-q35-11.0'), { earlyMig: true, policy: 'per-delta' });
    const sizes = MACHINE_TYPES.map((m) => m.compatProps.length);
    assert.deepEqual(sizes, [...sizes].sort((a, b) => a - b), 'older machines never have fewer compat properties');
    const v100 = findMachineType('pc-q35-10.0')!.compatProps;
    for (const newer of MACHINE_TYPES) for (const p of newer.compatProps) assert.ok(v100.includes(p), `10.0 includes ${p.driver}.${p.property}`);
  });

  test('newest arrays come first so an older array overrides a newer one', () => {
    const m = findMachineType('pc-q35-10.0')!;
    assert.deepEqual(m.compatProps, [...HW_COMPAT['10.2']!, ...HW_COMPAT['10.1']!]);
    const newer = { driver: 'virtio-net-device', property: 'rx_queue_size', value: '512' };
    const older = { driver: 'virtio-net-device', property: 'rx_queue_size', value: '1024' };
    assert.equal(resolveDeviceProperties(VIRTIO_NET_PCI, [newer, older], [], {}).values.rx_queue_size, 1024);
  });

  test('every compat entry applies cleanly; the newest release has no array entries yet', () => {
    for (const [release, props] of Object.entries(HW_COMPAT)) for (const p of props) assert.equal(checkGlobalProperty(VIRTIO_NET_PCI, p), undefined, `${release}: ${p.driver}.${p.property}`);
    assert.deepEqual(HW_COMPAT['11.1'], []);
  });

  test("query-machines data is QEMU's MachineInfo", () => {
    const data = queryMachinesData();
    assert.equal(data.length, 5);
    assert.deepEqual(data[0], {
      name: 'pc-q35-11.1',
      alias: 'q35',
      'is-default': true,
      'cpu-max': 64,
      'hotpluggable-cpus': false,
      'numa-mem-supported': false,
      deprecated: false,
      'default-ram-id': 'pc.ram',
      acpi: false,
    });
    assert.equal('alias' in data[1]!, false);
    const withCompat = queryMachinesData(true).find((m) => m.name === 'pc-q35-10.1')!;
    assert.deepEqual(withCompat['compat-props'], [
      { 'qom-type': 'virtio-net-device', property: 'early-mig-policy', value: 'rfc' },
      { 'qom-type': 'virtio-net-device', property: 'early-mig', value: 'off' },
    ]);
  });
});
