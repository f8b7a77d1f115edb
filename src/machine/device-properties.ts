/**
 * Typed device properties, as QEMU's qdev properties: each has a name, the
 * QOM type that defines it (so globals for a parent type can reach it), a
 * kind that fixes how text and JSON values are parsed, a default, and
 * checks. Values are validated here, before anything uses them.
 *
 * The virtio-net-pci table holds what vmig implements: the virtio-net host
 * feature bits with QEMU's defaults (research §4.5), the virtio ring features,
 * NIC wiring (netdev, mac), queue sizes, MSI-X vectors, the PCI address, and
 * vmig's early-migration switches (DESIGN §6).
 */

import { VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC } from '../virtio/index.js';
import * as net from '../devices/net/index.js';
import { parseOnOff, parseUint } from './qemu-option-syntax.js';

export type PropertyKind = 'bool' | 'uint' | 'string' | 'mac' | 'enum' | 'pci-devfn';
export type PropertyValue = boolean | number | string;

export interface PropertySpec {
  readonly name: string;
  /** The QOM type that defines it (see qom-types.ts). */
  readonly owner: string;
  readonly kind: PropertyKind;
  /** `undefined` means "unspecified": worked out when the VM is assembled (vectors, mac, addr). */
  readonly default: PropertyValue | undefined;
  readonly min?: number;
  readonly max?: number;
  readonly values?: readonly string[];
  /** A rule beyond the kind; returns why a value is refused. */
  readonly check?: (value: PropertyValue) => string | undefined;
  /** qom-set may change it while the VM runs (takes effect at the next migration). */
  readonly runtime?: boolean;
  /** The virtio feature bit a bool property offers. */
  readonly featureBit?: number;
  readonly help: string;
}

/** A device type vmig can create: its QOM type, its virtio child and its properties. */
export interface DeviceModel {
  readonly type: string;
  /** The type of the child object the proxy aliases (virtio-backend). */
  readonly childType: string;
  readonly properties: readonly PropertySpec[];
}

/** Deprecated VIRTIO_NET_F_GSO (bit 6): QEMU still offers it by default. */
export const VIRTIO_NET_F_GSO = 6;

/** MSI-X allows at most 2048 table entries. */
export const MAX_MSIX_VECTORS = 2048;

function featureBool(name: string, bit: number, def: boolean, help: string): PropertySpec {
  return { name, owner: 'virtio-net-device', kind: 'bool', default: def, featureBit: bit, help };
}

function queueSize(name: string, help: string): PropertySpec {
  return {
    name,
    owner: 'virtio-net-device',
    kind: 'uint',
    default: 256,
    min: 256,
    max: 1024,
    check: (v) => ((v as number) & ((v as number) - 1)) === 0 ? undefined : 'must be a power of 2 between 256 and 1024',
    help,
  };
}

export const VIRTIO_NET_PCI: DeviceModel = {
  type: 'virtio-net-pci',
  childType: 'virtio-net-device',
  properties: [
    featureBool('csum', net.VIRTIO_NET_F_CSUM, true, 'host handles partial checksums'),
    featureBool('guest_csum', net.VIRTIO_NET_F_GUEST_CSUM, true, 'guest handles partial checksums'),
    featureBool('gso', VIRTIO_NET_F_GSO, true, 'legacy GSO'),
    featureBool('guest_tso4', net.VIRTIO_NET_F_GUEST_TSO4, true, 'guest receives TSOv4'),
    featureBool('guest_tso6', net.VIRTIO_NET_F_GUEST_TSO6, true, 'guest receives TSOv6'),
    featureBool('guest_ecn', net.VIRTIO_NET_F_GUEST_ECN, true, 'guest receives TSO with ECN'),
    featureBool('guest_ufo', net.VIRTIO_NET_F_GUEST_UFO, true, 'guest receives UFO'),
    featureBool('guest_announce', net.VIRTIO_NET_F_GUEST_ANNOUNCE, true, 'guest sends gratuitous packets on request'),
    featureBool('host_tso4', net.VIRTIO_NET_F_HOST_TSO4, true, 'host takes TSOv4'),
    featureBool('host_tso6', net.VIRTIO_NET_F_HOST_TSO6, true, 'host takes TSOv6'),
    featureBool('host_ecn', net.VIRTIO_NET_F_HOST_ECN, true, 'host takes TSO with ECN'),
    featureBool('host_ufo', net.VIRTIO_NET_F_HOST_UFO, true, 'host takes UFO'),
    featureBool('mrg_rxbuf', net.VIRTIO_NET_F_MRG_RXBUF, true, 'mergeable receive buffers'),
    featureBool('status', net.VIRTIO_NET_F_STATUS, true, 'link status in config space'),
    featureBool('ctrl_vq', net.VIRTIO_NET_F_CTRL_VQ, true, 'control virtqueue'),
    featureBool('ctrl_rx', net.VIRTIO_NET_F_CTRL_RX, true, 'rx mode control (promisc, allmulti)'),
    featureBool('ctrl_vlan', net.VIRTIO_NET_F_CTRL_VLAN, true, 'VLAN filtering'),
    featureBool('ctrl_rx_extra', net.VIRTIO_NET_F_CTRL_RX_EXTRA, true, 'extra rx mode control (alluni, nomulti, nouni, nobcast)'),
    featureBool('ctrl_mac_addr', net.VIRTIO_NET_F_CTRL_MAC_ADDR, true, 'MAC address setting through the control virtqueue'),
    featureBool('ctrl_guest_offloads', net.VIRTIO_NET_F_CTRL_GUEST_OFFLOADS, true, 'guest offload control'),
    featureBool('mq', net.VIRTIO_NET_F_MQ, false, 'multiqueue (as many queue pairs as the netdev has queues)'),
    featureBool('rss', net.VIRTIO_NET_F_RSS, false, 'receive-side scaling'),
    { name: 'mac', owner: 'virtio-net-device', kind: 'mac', default: undefined, help: 'MAC address (default 52:54:00:12:34:56 + NIC index)' },
    { name: 'netdev', owner: 'virtio-net-device', kind: 'string', default: undefined, help: 'id of the -netdev backend' },
    queueSize('rx_queue_size', 'RX virtqueue size'),
    queueSize('tx_queue_size', 'TX virtqueue size (above 256 only with vhost-user)'),
    { name: 'x-txburst', owner: 'virtio-net-device', kind: 'uint', default: 256, min: 1, max: 4096, help: 'TX chains one flush takes before yielding (QEMU TX_BURST)' },
    { name: 'early-mig', owner: 'virtio-net-device', kind: 'bool', default: true, runtime: true, help: 'migrate device state in the setup phase (DESIGN §6)' },
    { name: 'early-mig-policy', owner: 'virtio-net-device', kind: 'enum', default: 'per-delta', values: ['rfc', 'per-delta'], runtime: true, help: 'on changes since the early section: rfc = full reload, per-delta = resync each changed category' },
    { name: 'indirect_desc', owner: 'virtio-device', kind: 'bool', default: true, featureBit: VIRTIO_F_INDIRECT_DESC, help: 'indirect descriptors' },
    { name: 'event_idx', owner: 'virtio-device', kind: 'bool', default: true, featureBit: VIRTIO_F_EVENT_IDX, help: 'used/avail event index notification suppression' },
    { name: 'vectors', owner: 'virtio-net-pci-base', kind: 'uint', default: undefined, min: 1, max: MAX_MSIX_VECTORS, help: 'MSI-X vectors (default 2 × queue pairs + 2)' },
    { name: 'addr', owner: 'pci-device', kind: 'pci-devfn', default: undefined, help: 'PCI slot[.function] on pcie.0 (default: first free slot)' },
  ],
};

export function findProperty(model: DeviceModel, name: string): PropertySpec | undefined {
  return model.properties.find((p) => p.name === name);
}

/** Parse "SS[.F]" (hex, as QEMU's pci-devfn property) into devfn = slot << 3 | function. */
export function parsePciDevfn(text: string): number | undefined {
  const m = /^(?:0[xX])?([0-9a-fA-F]{1,2})(?:\.([0-7]))?$/.exec(text);
  if (!m) return undefined;
  const slot = Number.parseInt(m[1]!, 16);
  if (slot > 31) return undefined;
  return (slot << 3) | Number(m[2] ?? 0);
}

export function formatPciDevfn(devfn: number): string {
  return `${(devfn >> 3).toString(16).padStart(2, '0')}.${devfn & 7}`;
}

const MAC_RE = /^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$/;

/** Result of parsing: the value, or why it is refused (to be prefixed with the option and property). */
export type ParsedProperty = { ok: true; value: PropertyValue } | { ok: false; reason: string };

function refuse(reason: string): ParsedProperty {
  return { ok: false, reason };
}

function finish(spec: PropertySpec, value: PropertyValue): ParsedProperty {
  const problem = spec.check?.(value);
  return problem === undefined ? { ok: true, value } : refuse(`${spec.name} ${problem}`);
}

/** Parse a property's text form (command line, -global, compat); `undefined` is a bare flag. */
export function parsePropertyText(spec: PropertySpec, text: string | undefined): ParsedProperty {
  if (text === undefined && spec.kind !== 'bool') return refuse(`property '${spec.name}' needs a value`);
  switch (spec.kind) {
    case 'bool': {
      const b = parseOnOff(text);
      return b === undefined ? refuse(`property '${spec.name}' expects on/off (or yes/no, true/false), got '${text}'`) : finish(spec, b);
    }
    case 'uint': {
      const n = parseUint(text!);
      const min = spec.min ?? 0;
      const max = spec.max ?? Number.MAX_SAFE_INTEGER;
      if (n === undefined || n < min || n > max) return refuse(`${spec.name} must be ${min}..${max}, got '${text}'`);
      return finish(spec, n);
    }
    case 'enum':
      return spec.values!.includes(text!) ? finish(spec, text!) : refuse(`property '${spec.name}' expects one of ${spec.values!.join(', ')}, got '${text}'`);
    case 'mac': {
      if (!MAC_RE.test(text!)) return refuse(`property 'mac' expects a MAC address like 52:54:00:12:34:56, got '${text}'`);
      const canonical = text!.toLowerCase().replaceAll('-', ':');
      if (Number.parseInt(canonical.slice(0, 2), 16) & 1) return refuse(`mac ${canonical} is a multicast address; a NIC needs a unicast one`);
      return finish(spec, canonical);
    }
    case 'pci-devfn': {
      const devfn = parsePciDevfn(text!);
      return devfn === undefined ? refuse(`property 'addr' expects a PCI address slot[.function] in hex (slot 00..1f, function 0..7), got '${text}'`) : finish(spec, devfn);
    }
    case 'string':
      return text!.length === 0 ? refuse(`property '${spec.name}' must not be empty`) : finish(spec, text!);
  }
}

/**
 * Parse a JSON value (qom-set). Type mismatches use QEMU's input-visitor
 * wording; the value then goes through the same checks as text.
 */
export function parsePropertyJson(spec: PropertySpec, value: unknown): ParsedProperty {
  const typeError = (expected: string) => refuse(`Invalid parameter type for '${spec.name}', expected: ${expected}`);
  switch (spec.kind) {
    case 'bool':
      return typeof value === 'boolean' ? finish(spec, value) : typeError('boolean');
    case 'uint':
      return typeof value === 'number' && Number.isInteger(value) ? parsePropertyText(spec, String(value)) : typeError('integer');
    case 'pci-devfn':
      if (typeof value === 'number' && Number.isInteger(value)) return value >= 0 && value < 256 ? finish(spec, value) : refuse(`Property '${spec.name}' expects a devfn in 0..255`);
      return typeof value === 'string' ? parsePropertyText(spec, value) : typeError('string');
    default:
      return typeof value === 'string' ? parsePropertyText(spec, value) : typeError('string');
  }
}

/** The text form that parses back to `value` (on/off, decimal, canonical MAC, "03.0"). */
export function formatPropertyValue(spec: PropertySpec, value: PropertyValue): string {
  switch (spec.kind) {
    case 'bool':
      return value ? 'on' : 'off';
    case 'pci-devfn':
      return formatPciDevfn(value as number);
    default:
      return String(value);
  }
}

/**
 * The feature bits the bool properties offer (QEMU's host_features from
 * DEFINE_PROP_BIT64). Bits no property controls, such as VIRTIO_F_VERSION_1
 * and VIRTIO_NET_F_MAC, are the device's and transport's to add.
 */
export function propertyFeatureBits(model: DeviceModel, values: Readonly<Record<string, PropertyValue | undefined>>): bigint {
  let bits = 0n;
  for (const p of model.properties) if (p.featureBit !== undefined && values[p.name] === true) bits |= 1n << BigInt(p.featureBit);
  return bits;
}
