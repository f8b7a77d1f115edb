/**
 * The live property values of the VM's devices, looked up the way qom-get
 * does: by id, or by QOM path (`/machine/peripheral/ID`, or
 * `/machine/peripheral-anon/device[N]` for a device without id, with
 * `/virtio-backend` for the virtio child, which sees only its own properties).
 *
 * Like qdev, properties are settable until the device is realized; after
 * that only the ones marked `runtime` (early-mig, early-mig-policy) change,
 * which lets the bench switch migration modes on one running VM. A set is
 * validated completely before the value changes, and listeners hear of it
 * after.
 */

import { VmigError } from '../core/index.js';
import { VIRTIO_NET_PCI, findProperty, parsePropertyJson, parsePropertyText } from './device-properties.js';
import type { ParsedProperty, PropertySpec, PropertyValue } from './device-properties.js';
import { checkFeatureDependencies } from './device-options.js';
import { qomAncestry } from './qom-types.js';
import type { VmConfig } from './vm-config.js';

interface LiveDevice {
  readonly index: number;
  readonly id: string | undefined;
  readonly qomPath: string;
  readonly values: Record<string, PropertyValue>;
}

export interface PropertyChange {
  readonly deviceIndex: number;
  readonly deviceId: string | undefined;
  readonly property: string;
  readonly oldValue: PropertyValue;
  readonly newValue: PropertyValue;
}

const CHILD = 'virtio-backend';

export class DevicePropertyStore {
  private readonly devices: LiveDevice[];
  private readonly netdevIds: Set<string>;
  private readonly listeners = new Set<(change: PropertyChange) => void>();
  private realized = false;

  constructor(config: VmConfig) {
    let anon = 0;
    this.devices = config.devices.map((d, index) => ({
      index,
      id: d.id,
      qomPath: d.id === undefined ? `/machine/peripheral-anon/device[${anon++}]` : `/machine/peripheral/${d.id}`,
      values: { ...d.properties },
    }));
    this.netdevIds = new Set(config.netdevs.map((n) => n.id));
  }

  /** From now on only runtime properties may change (qdev's realize). */
  markRealized(): void {
    this.realized = true;
  }

  /** Devices in creation order. */
  list(): Array<{ index: number; id: string | undefined; qomPath: string; type: string }> {
    return this.devices.map((d) => ({ index: d.index, id: d.id, qomPath: d.qomPath, type: VIRTIO_NET_PCI.type }));
  }

  onChange(listener: (change: PropertyChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** All property values of one device (a copy). */
  snapshot(target: string): Record<string, PropertyValue> {
    return { ...this.find(target).device.values };
  }

  /**
   * @throws VmigError ERR_MACHINE_UNKNOWN_DEVICE, ERR_MACHINE_UNKNOWN_PROPERTY
   */
  getProperty(target: string, name: string): PropertyValue {
    const { device, objectType } = this.find(target);
    if (name === 'type') return objectType; // every QOM object has it
    this.spec(target, name);
    return device.values[name]!;
  }

  /** Set from text (command-line spelling). */
  setProperty(target: string, name: string, text: string): PropertyChange {
    return this.set(target, name, (spec) => parsePropertyText(spec, text));
  }

  /** Set from a JSON value (qom-set). */
  setPropertyJson(target: string, name: string, value: unknown): PropertyChange {
    return this.set(target, name, (spec) => parsePropertyJson(spec, value));
  }

  private set(target: string, name: string, parse: (spec: PropertySpec) => ParsedProperty): PropertyChange {
    const { device } = this.find(target);
    const spec = this.spec(target, name);
    if (this.realized && !spec.runtime) {
      const who = device.id === undefined ? 'anonymous device' : `device '${device.id}'`;
      throw new VmigError('ERR_MACHINE_PROPERTY_READONLY', `Attempt to set property '${name}' on ${who} (type '${VIRTIO_NET_PCI.type}') after it was realized`, { details: { device: device.id, property: name } });
    }
    const parsed = parse(spec);
    if (!parsed.ok) throw new VmigError('ERR_MACHINE_BAD_PROPERTY', parsed.reason, { details: { device: device.id, property: name } });
    const next = { ...device.values, [name]: parsed.value };
    const problem = checkFeatureDependencies(next);
    if (problem) throw new VmigError('ERR_MACHINE_BAD_PROPERTY', problem, { details: { device: device.id, property: name } });
    if (name === 'netdev') {
      const netdev = parsed.value as string;
      if (!this.netdevIds.has(netdev)) throw new VmigError('ERR_MACHINE_BAD_REFERENCE', `netdev '${netdev}' is not defined`, { details: { device: device.id } });
      if (this.devices.some((d) => d !== device && d.values.netdev === netdev)) throw new VmigError('ERR_MACHINE_BAD_REFERENCE', `netdev '${netdev}' is already used by another device`, { details: { device: device.id } });
    }
    const change: PropertyChange = { deviceIndex: device.index, deviceId: device.id, property: name, oldValue: device.values[name]!, newValue: parsed.value };
    device.values[name] = parsed.value;
    for (const l of [...this.listeners]) l(change);
    return change;
  }

  private find(target: string): { device: LiveDevice; objectType: string } {
    const child = target.endsWith(`/${CHILD}`);
    const base = child ? target.slice(0, -(CHILD.length + 1)) : target;
    const device = this.devices.find((d) => (!base.startsWith('/') && d.id === base) || d.qomPath === base);
    if (!device || (child && !base.startsWith('/'))) {
      throw new VmigError('ERR_MACHINE_UNKNOWN_DEVICE', `Device '${target}' not found`, { details: { target } });
    }
    return { device, objectType: child ? VIRTIO_NET_PCI.childType : VIRTIO_NET_PCI.type };
  }

  private spec(target: string, name: string): PropertySpec {
    const { objectType } = this.find(target);
    const spec = findProperty(VIRTIO_NET_PCI, name);
    if (!spec || (objectType !== VIRTIO_NET_PCI.type && !qomAncestry(objectType).includes(spec.owner))) {
      throw new VmigError('ERR_MACHINE_UNKNOWN_PROPERTY', `Property '${objectType}.${name}' not found`, { details: { target, property: name } });
    }
    return spec;
  }
}
