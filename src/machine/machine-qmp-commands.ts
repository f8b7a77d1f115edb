/**
 * The QMP commands whose data the machine layer owns: query-machines,
 * qom-get, qom-set, qom-list. The VMM calls registerMachineQmpCommands on its
 * server's registry (control cannot import machine; machine can import
 * control). Errors carry QEMU's classes: an unknown path is DeviceNotFound,
 * everything else GenericError.
 */

import { QmpError } from '../control/index.js';
import type { QmpCommandRegistry } from '../control/index.js';
import { hasCode } from '../core/index.js';
import { VIRTIO_NET_PCI } from './device-properties.js';
import type { DevicePropertyStore } from './device-property-store.js';
import { queryMachinesData } from './machine-types.js';
import { qomAncestry } from './qom-types.js';

function asQmpError(err: unknown): unknown {
  if (hasCode(err, 'ERR_MACHINE_UNKNOWN_DEVICE')) return new QmpError('DeviceNotFound', (err as Error).message, { cause: err });
  if (err instanceof Error && !(err instanceof QmpError)) return new QmpError('GenericError', err.message, { cause: err });
  return err;
}

function qomType(kind: string): string {
  switch (kind) {
    case 'bool':
      return 'bool';
    case 'uint':
      return 'uint32';
    case 'pci-devfn':
      return 'int32';
    default:
      return 'str';
  }
}

export function registerMachineQmpCommands(registry: QmpCommandRegistry, store: DevicePropertyStore): void {
  registry.register<{ 'compat-props'?: boolean }>({
    name: 'query-machines',
    args: { '*compat-props': 'bool' },
    handler: (args) => queryMachinesData(args['compat-props'] ?? false),
  });
  registry.register<{ path: string; property: string }>({
    name: 'qom-get',
    args: { path: 'str', property: 'str' },
    handler: ({ path, property }) => {
      try {
        return store.getProperty(path, property);
      } catch (err) {
        throw asQmpError(err);
      }
    },
  });
  registry.register<{ path: string; property: string; value: unknown }>({
    name: 'qom-set',
    args: { path: 'str', property: 'str', value: 'any' },
    handler: ({ path, property, value }) => {
      try {
        store.setPropertyJson(path, property, value);
      } catch (err) {
        throw asQmpError(err);
      }
    },
  });
  registry.register<{ path: string }>({
    name: 'qom-list',
    args: { path: 'str' },
    handler: ({ path }) => {
      try {
        const child = path.endsWith('/virtio-backend');
        store.snapshot(path); // resolves the path or throws
        const objectType = child ? VIRTIO_NET_PCI.childType : VIRTIO_NET_PCI.type;
        const props = VIRTIO_NET_PCI.properties.filter((p) => !child || qomAncestry(objectType).includes(p.owner));
        return [
          { name: 'type', type: 'string' },
          ...(child ? [] : [{ name: 'virtio-backend', type: `child<${VIRTIO_NET_PCI.childType}>` }]),
          ...props.map((p) => ({ name: p.name, type: qomType(p.kind) })),
        ];
      } catch (err) {
        throw asQmpError(err);
      }
    },
  });
}
