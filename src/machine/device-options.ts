/**
 * `-global` and `-device`, then the assembly of every device's properties:
 * default < machine compat < -global < -device (global-properties.ts), with
 * the cross-checks QEMU makes at realize time done here, before anything is
 * created:
 *   - the netdev exists and is wired to one device only;
 *   - features that need the control virtqueue are not offered without it
 *     (virtio 1.2 §5.1.3.1; Linux's virtnet_validate_features refuses such a device);
 *   - queue sizes: tx above 256 only with vhost-user, otherwise clamped to 256 as QEMU does;
 *   - vectors default to 2 × queue pairs + 2 (virtio_net_pci_realize);
 *   - mac defaults to 52:54:00:12:34:56 + n (qemu_macaddr_default_if_unset);
 *   - addr defaults to the first free slot; slots QEMU's q35 uses are skipped
 *     (00 host bridge, 1f ICH9, and 01 where QEMU puts its VGA unless -nodefaults),
 *     so devices get the PCI addresses, hence section names, QEMU would give them.
 */

import { VIRTIO_NET_PCI, findProperty, formatPciDevfn, formatPropertyValue, parsePropertyText } from './device-properties.js';
import type { PropertyValue } from './device-properties.js';
import { checkGlobalProperty, resolveDeviceProperties } from './global-properties.js';
import type { GlobalProperty, PropertySource } from './global-properties.js';
import type { MachineType } from './machine-types.js';
import { OptionBag, optionError, splitOption, suggestion } from './option-bag.js';
import { isWellFormedId } from './qemu-option-syntax.js';
import type { DeviceConfig, NetdevConfig } from './vm-config.js';

const DEVICE_TYPES = [VIRTIO_NET_PCI];

/** A -device as written: driver, id, and its properties parsed and canonical. */
export interface DeviceRequest {
  readonly driver: 'virtio-net-pci';
  readonly id?: string;
  readonly options: Readonly<Record<string, string>>;
  readonly values: Readonly<Record<string, PropertyValue>>;
}

/** `-global DRIVER.PROP=VALUE` (value verbatim, as qemu_global_option) or `-global driver=D,property=P,value=V`. */
export function parseGlobal(text: string): GlobalProperty {
  let global: GlobalProperty;
  const dotted = /^([^.=]{1,63})\.([^=]{1,63})=(.*)$/s.exec(text);
  if (dotted) {
    global = { driver: dotted[1]!, property: dotted[2]!, value: dotted[3]! };
  } else {
    if (!text.includes('=')) throw optionError('-global', `'${text}' is neither DRIVER.PROPERTY=VALUE nor driver=D,property=P,value=V`);
    const bag = new OptionBag('-global', splitOption('-global', text));
    const driver = bag.requiredString('driver', " (or use -global DRIVER.PROPERTY=VALUE)");
    const property = bag.requiredString('property');
    const value = bag.take('value');
    if (!value.present) throw optionError('-global', 'value= is required');
    bag.finish(['driver', 'property', 'value']);
    global = { driver, property, value: value.value ?? '' };
  }
  for (const model of DEVICE_TYPES) {
    const problem = checkGlobalProperty(model, global);
    if (problem) throw optionError('-global', `${global.driver}.${global.property}=${global.value}: ${problem.reason}`, problem.code);
  }
  return global;
}

/** Parse one -device (text or JSON form). */
export function parseDevice(text: string): DeviceRequest {
  const pairs = splitOption('-device', text, 'driver', true);
  const driver = pairs.find((p) => p.key === 'driver')?.value;
  const model = DEVICE_TYPES.find((m) => m.type === driver);
  if (!model) {
    throw optionError(`-device ${driver ?? ''}`.trimEnd(), `unknown device type '${driver ?? ''}' (vmig supports: ${DEVICE_TYPES.map((m) => m.type).join(', ')})${suggestion(driver ?? '', DEVICE_TYPES.map((m) => m.type))}`, 'ERR_MACHINE_UNKNOWN_DEVICE');
  }
  const label = `-device ${model.type}`;
  const bag = new OptionBag(label, pairs);
  bag.take('driver');
  const id = bag.string('id');
  if (id !== undefined && !isWellFormedId(id)) throw optionError(label, `id '${id}' is not well-formed (a letter, then letters, digits, '-', '.', '_')`);
  const options: Record<string, string> = {};
  const values: Record<string, PropertyValue> = {};
  for (const name of bag.rest()) {
    const spec = findProperty(model, name);
    if (!spec) throw optionError(label, `unknown property '${name}'${suggestion(name, model.properties.map((p) => p.name))}`, 'ERR_MACHINE_UNKNOWN_PROPERTY');
    const parsed = parsePropertyText(spec, bag.take(name).value);
    if (!parsed.ok) throw optionError(label, parsed.reason, 'ERR_MACHINE_BAD_PROPERTY');
    values[name] = parsed.value;
    options[name] = formatPropertyValue(spec, parsed.value);
  }
  return { driver: 'virtio-net-pci', ...(id === undefined ? {} : { id }), options, values };
}

/** Virtio features a device must not offer without VIRTIO_NET_F_CTRL_VQ. */
const NEEDS_CTRL_VQ = ['ctrl_rx', 'ctrl_vlan', 'guest_announce', 'mq', 'ctrl_mac_addr', 'rss', 'ctrl_guest_offloads'];
/** Why this combination of feature properties cannot be offered, or undefined. */
export function checkFeatureDependencies(values: Readonly<Record<string, PropertyValue | undefined>>): string | undefined {
  if (values.ctrl_vq !== false) return undefined;
  const needy = NEEDS_CTRL_VQ.filter((f) => values[f] === true);
  if (needy.length === 0) return undefined;
  return `ctrl_vq=off, but ${needy.map((f) => `${f}=on`).join(', ')} ${needy.length === 1 ? 'needs' : 'need'} the control virtqueue; turn ${needy.length === 1 ? 'it' : 'them'} off too`;
}

const RESERVED_SLOTS: Record<number, string> = { 0x00: 'the q35 host bridge (mch)', 0x1f: 'the ICH9 LPC/SATA/SMBus functions' };

function macForIndex(i: number): string {
  return `52:54:00:12:34:${((0x56 + i) & 0xff).toString(16).padStart(2, '0')}`;
}

/**
 * Resolve every device against the machine type, the -globals and the netdevs.
 * @throws VmigError ERR_MACHINE_BAD_REFERENCE, ERR_MACHINE_DUPLICATE_ID, ERR_MACHINE_BAD_PROPERTY
 */
export function assembleDevices(requests: readonly DeviceRequest[], machine: MachineType, globals: readonly GlobalProperty[], netdevs: readonly NetdevConfig[], nodefaults: boolean): { devices: DeviceConfig[]; warnings: string[] } {
  const warnings: string[] = [];
  const ids = new Set<string>();
  const netdevUser = new Map<string, string>();
  const resolved = requests.map((req, index) => {
    const label = `-device ${req.driver}`;
    const who = req.id === undefined ? `device #${index + 1}` : `device '${req.id}'`;
    if (req.id !== undefined) {
      if (ids.has(req.id)) throw optionError(label, `id '${req.id}' is already used by another -device`, 'ERR_MACHINE_DUPLICATE_ID');
      ids.add(req.id);
    }
    const props = resolveDeviceProperties(VIRTIO_NET_PCI, machine.compatProps, globals, req.values);
    const values = { ...props.values };
    const sources: Record<string, PropertySource | 'auto'> = { ...props.sources };
    const netdevId = values.netdev as string | undefined;
    if (netdevId === undefined) throw optionError(label, 'netdev= is required (the id of the -netdev to connect to)', 'ERR_MACHINE_BAD_REFERENCE');
    const netdev = netdevs.find((n) => n.id === netdevId);
    if (!netdev) throw optionError(label, `netdev '${netdevId}' is not defined`, 'ERR_MACHINE_BAD_REFERENCE');
    const other = netdevUser.get(netdevId);
    if (other !== undefined) throw optionError(label, `netdev '${netdevId}' is already used by ${other}`, 'ERR_MACHINE_BAD_REFERENCE');
    netdevUser.set(netdevId, who);
    const featureProblem = checkFeatureDependencies(values);
    if (featureProblem) throw optionError(label, featureProblem, 'ERR_MACHINE_BAD_PROPERTY');
    if (values.mq !== true && netdev.queues > 1) warnings.push(`${label}: mq=off, so the guest uses 1 of netdev '${netdev.id}''s ${netdev.queues} queue pairs`);
    if ((values.tx_queue_size as number) > 256 && netdev.type !== 'vhost-user') {
      warnings.push(`${label}: tx_queue_size=${values.tx_queue_size} is only possible with vhost-user; using 256`);
      values.tx_queue_size = 256;
      sources.tx_queue_size = 'auto';
    }
    if (values.vectors === undefined) {
      values.vectors = 2 * netdev.queues + 2;
      sources.vectors = 'auto';
    }
    return { req, values, sources, index };
  });

  // MAC addresses: explicit ones first, then the default sequence skipping those in use.
  const usedMacs = new Set(resolved.map((r) => r.values.mac).filter((m): m is string => typeof m === 'string'));
  let nextMac = 0;
  for (const r of resolved) {
    if (r.values.mac !== undefined) continue;
    while (usedMacs.has(macForIndex(nextMac))) nextMac++;
    r.values.mac = macForIndex(nextMac);
    usedMacs.add(r.values.mac);
    r.sources.mac = 'auto';
  }
  const macOwners = new Map<string, number>();
  for (const r of resolved) {
    const prev = macOwners.get(r.values.mac as string);
    if (prev !== undefined) warnings.push(`-device virtio-net-pci: devices #${prev + 1} and #${r.index + 1} share mac ${r.values.mac}`);
    macOwners.set(r.values.mac as string, r.index);
  }

  // PCI addresses: explicit ones must be free, then automatic ones take the first free slot.
  const slotUser = new Map<number, string>();
  for (const r of resolved) {
    const devfn = r.values.addr as number | undefined;
    if (devfn === undefined) continue;
    const label = `-device ${r.req.driver}`;
    const reserved = RESERVED_SLOTS[devfn >> 3];
    if (reserved) throw optionError(label, `addr ${formatPciDevfn(devfn)} is taken by ${reserved}`, 'ERR_MACHINE_BAD_PROPERTY');
    const user = slotUser.get(devfn);
    if (user !== undefined) throw optionError(label, `addr ${formatPciDevfn(devfn)} is already used by ${user}`, 'ERR_MACHINE_BAD_PROPERTY');
    slotUser.set(devfn, r.req.id === undefined ? `device #${r.index + 1}` : `device '${r.req.id}'`);
  }
  const firstAutoSlot = nodefaults ? 1 : 2;
  for (const r of resolved) {
    if (r.values.addr !== undefined) continue;
    let slot = firstAutoSlot;
    while (slot < 0x1f && [...slotUser.keys()].some((devfn) => devfn >> 3 === slot)) slot++;
    if (slot >= 0x1f) throw optionError(`-device ${r.req.driver}`, 'no free PCI slot on pcie.0', 'ERR_MACHINE_BAD_PROPERTY');
    r.values.addr = slot << 3;
    r.sources.addr = 'auto';
    slotUser.set(slot << 3, `device #${r.index + 1}`);
  }

  for (const n of netdevs) if (!netdevUser.has(n.id)) warnings.push(`-netdev ${n.type}: '${n.id}' is not used by any device`);
  const devices = resolved.map(({ req, values, sources }) => ({
    driver: req.driver,
    ...(req.id === undefined ? {} : { id: req.id }),
    options: req.options,
    properties: values as Record<string, PropertyValue>,
    sources,
  }));
  return { devices, warnings };
}
