/**
 * Machine types (DESIGN §8). A versioned machine type promises that a VM
 * started with it behaves, and migrates, like that release did. Each release
 * X.Y has a compat array (QEMU's hw_compat_X_Y) of (driver, property, value)
 * that keeps machine types ≤ X.Y on the old behaviour; machine type M gets
 * every array of a release ≥ M, newest first, so an older array overrides a
 * newer one where both set a property (pc_q35_X_Y_machine_options calls its
 * newer sibling, then adds hw_compat_X_Y). The newest release's array stays
 * empty: it fills when a newer machine type is added.
 *
 * Entries only name properties vmig implements:
 *   - 10.1: virtio-net early migration off (the RFC's patch 01 puts it in
 *     hw_compat_10_1, so 10.2 and newer default on);
 *   - 10.2: early-migration policy 'rfc', because the per-category delta
 *     sections arrived after 10.2 and a 10.2 destination only knows the RFC's
 *     all-or-nothing reload.
 * Both name virtio-net-device, as QEMU names TYPE_VIRTIO_NET for feature
 * properties, so they reach virtio-net-pci's child (and would reach any other
 * transport) and a user's `-global virtio-net-device.early-mig=on` still wins.
 */

import type { GlobalProperty } from './global-properties.js';

export interface MachineVersion {
  readonly major: number;
  readonly minor: number;
}

export interface MachineType {
  readonly name: string;
  readonly version: MachineVersion;
  readonly alias?: string;
  readonly isDefault: boolean;
  readonly description: string;
  /** Accumulated compat properties, in the order they are applied. */
  readonly compatProps: readonly GlobalProperty[];
}

/** hw_compat_X_Y, keyed by release, for the releases vmig has machine types of. */
export const HW_COMPAT: Readonly<Record<string, readonly GlobalProperty[]>> = {
  '11.1': [],
  '11.0': [],
  '10.2': [{ driver: 'virtio-net-device', property: 'early-mig-policy', value: 'rfc' }],
  '10.1': [{ driver: 'virtio-net-device', property: 'early-mig', value: 'off' }],
  '10.0': [],
};

const RELEASES: readonly MachineVersion[] = [
  { major: 10, minor: 0 },
  { major: 10, minor: 1 },
  { major: 10, minor: 2 },
  { major: 11, minor: 0 },
  { major: 11, minor: 1 },
];

/** vmig's vCPUs are worker threads; this bounds -smp. */
export const MAX_VCPUS = 64;

function compare(a: MachineVersion, b: MachineVersion): number {
  return a.major - b.major || a.minor - b.minor;
}

const key = (v: MachineVersion) => `${v.major}.${v.minor}`;

function buildMachineTypes(): MachineType[] {
  const newest = RELEASES.reduce((a, b) => (compare(a, b) >= 0 ? a : b));
  return RELEASES.map((version) => {
    const compatProps = RELEASES.filter((r) => compare(r, version) >= 0)
      .sort((a, b) => compare(b, a)) // newest array first: older arrays override
      .flatMap((r) => HW_COMPAT[key(r)] ?? []);
    const isNewest = compare(version, newest) === 0;
    return {
      name: `pc-q35-${key(version)}`,
      version,
      ...(isNewest ? { alias: 'q35' } : {}),
      isDefault: isNewest,
      description: `Standard PC (Q35 + ICH9, 2009), vmig compat ${key(version)}`,
      compatProps,
    };
  }).sort((a, b) => compare(b.version, a.version));
}

/** Newest first. */
export const MACHINE_TYPES: readonly MachineType[] = buildMachineTypes();

export const DEFAULT_MACHINE_TYPE: MachineType = MACHINE_TYPES.find((m) => m.isDefault)!;

/** By canonical name or alias. */
export function findMachineType(name: string): MachineType | undefined {
  return MACHINE_TYPES.find((m) => m.name === name || m.alias === name);
}

/** QEMU's MachineInfo (query-machines), with compat-props when asked (QEMU ≥ 9.1). */
export function queryMachinesData(withCompatProps = false): Record<string, unknown>[] {
  return MACHINE_TYPES.map((m) => ({
    name: m.name,
    ...(m.alias ? { alias: m.alias } : {}),
    ...(m.isDefault ? { 'is-default': true } : {}),
    'cpu-max': MAX_VCPUS,
    'hotpluggable-cpus': false,
    'numa-mem-supported': false,
    deprecated: false,
    'default-ram-id': 'pc.ram',
    acpi: false,
    ...(withCompatProps ? { 'compat-props': m.compatProps.map((p) => ({ 'qom-type': p.driver, property: p.property, value: p.value })) } : {}),
  }));
}
