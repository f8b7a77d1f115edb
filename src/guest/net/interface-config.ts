/**
 * The network configuration the receive classifier works from — the NIC's
 * MAC and up to 8 IPv4 interfaces (the untagged one and 802.1Q
 * sub-interfaces, each with its own address) — as a plain object and as a
 * fixed 80-byte layout the guest keeps in RAM, so it migrates with the guest
 * and the admin channel can change it there.
 *
 * Layout (little-endian; addresses in network order):
 *
 *     0  u32 le   magic "NCFG" (4e 43 46 47): a zeroed region is not a config
 *     4  u16 le   layout version (1)
 *     6  u8       interface count (0..8)
 *     7  u8       flags: bit 0 NET_CONFIG_F_ACCEPT_IPV4_MULTICAST
 *     8  u8[6]    NIC MAC (unicast; sub-interfaces share it, as Linux VLAN devices do by default)
 *    14  u8[2]    reserved
 *    16  interface i at 16 + 8·i, 8 slots (slots ≥ count are ignored):
 *          0  u32 be   IPv4 address
 *          4  u8       prefix length (0..32)
 *          5  u8       reserved
 *          6  u16 le   VLAN id: 0 = untagged, 1..4094 = 802.1Q sub-interface
 *    80
 *
 * Several interfaces may share a VLAN (secondary addresses); the same
 * address may appear on different VLANs (separate L2 domains), never twice
 * on one.
 */

import { VmigError } from '../../core/index.js';
import { checkSpan, readU16le, readU32be, readU32le, writeU16le, writeU32be, writeU32le } from './byte-access.js';
import { formatIpv4Address, isIpv4Address, isMartianIpv4Source } from './ipv4-address.js';
import { isMacAddress, isUnicastMac, readMac, writeMac } from './mac-address.js';

export const INTERFACE_CONFIG_MAGIC = 0x4746_434e; // "NCFG" read as u32 le
export const INTERFACE_CONFIG_LAYOUT_VERSION = 1;
export const INTERFACE_CONFIG_BYTES = 80;
export const MAX_INTERFACES = 8;
/** Deliver UDP sent to IPv4 multicast groups (the NIC's MAC filter decides which groups arrive). */
export const NET_CONFIG_F_ACCEPT_IPV4_MULTICAST = 1;
const KNOWN_FLAGS = NET_CONFIG_F_ACCEPT_IPV4_MULTICAST;

const INTERFACES_AT = 16;
const INTERFACE_BYTES = 8;

/** One IPv4 interface: an address on the untagged link or on a VLAN. */
export interface InterfaceAddress {
  /** 0 = untagged; 1..4094 = 802.1Q VLAN id. */
  vlanId: number;
  ip: number;
  prefixLength: number;
}

export interface InterfaceConfig {
  /** The NIC's MAC (48-bit number, see mac-address.ts). */
  mac: number;
  /** NET_CONFIG_F_* bits. */
  flags: number;
  /** At most MAX_INTERFACES; the index is the interface index the classifier reports. */
  interfaces: InterfaceAddress[];
}

function invalid(reason: string, details: Record<string, unknown>): never {
  throw new VmigError('ERR_GUEST_BAD_INTERFACE_CONFIG', `Invalid network interface configuration: ${reason}`, { details });
}

/**
 * Check everything the classifier relies on.
 * @throws VmigError ERR_GUEST_BAD_INTERFACE_CONFIG naming the first problem
 */
export function validateInterfaceConfig(config: InterfaceConfig): void {
  if (!isMacAddress(config.mac) || !isUnicastMac(config.mac)) invalid(`MAC ${config.mac} is not a unicast, non-zero 48-bit address`, { mac: config.mac });
  if (!Number.isInteger(config.flags) || (config.flags & ~KNOWN_FLAGS) !== 0 || config.flags < 0) invalid(`unknown flags 0x${config.flags.toString(16)}`, { flags: config.flags });
  if (config.interfaces.length > MAX_INTERFACES) invalid(`${config.interfaces.length} interfaces, at most ${MAX_INTERFACES}`, { count: config.interfaces.length });
  config.interfaces.forEach((iface, index) => {
    if (!Number.isInteger(iface.vlanId) || iface.vlanId < 0 || iface.vlanId > 4094) invalid(`interface ${index}: VLAN id ${iface.vlanId} is not in 0..4094`, { index, vlanId: iface.vlanId });
    if (!isIpv4Address(iface.ip) || isMartianIpv4Source(iface.ip)) invalid(`interface ${index}: ${iface.ip} is not a unicast IPv4 address`, { index, ip: iface.ip });
    if (!Number.isInteger(iface.prefixLength) || iface.prefixLength < 0 || iface.prefixLength > 32) invalid(`interface ${index}: prefix length ${iface.prefixLength} is not in 0..32`, { index, prefixLength: iface.prefixLength });
    for (let other = 0; other < index; other++) {
      const o = config.interfaces[other]!;
      if (o.vlanId === iface.vlanId && o.ip === iface.ip) invalid(`interfaces ${other} and ${index} both have ${formatIpv4Address(iface.ip)} on VLAN ${iface.vlanId}`, { index, other });
    }
  });
}

/**
 * Store `config` at bytes[offset, offset+80). Returns 80 (the span to mark dirty).
 * @throws VmigError ERR_GUEST_BAD_INTERFACE_CONFIG, ERR_GUEST_SPAN_OUT_OF_RANGE
 */
export function encodeInterfaceConfig(config: InterfaceConfig, bytes: Uint8Array, offset: number): number {
  validateInterfaceConfig(config);
  checkSpan(bytes, offset, INTERFACE_CONFIG_BYTES, 'interface configuration region');
  bytes.fill(0, offset, offset + INTERFACE_CONFIG_BYTES);
  writeU32le(bytes, offset, INTERFACE_CONFIG_MAGIC);
  writeU16le(bytes, offset + 4, INTERFACE_CONFIG_LAYOUT_VERSION);
  bytes[offset + 6] = config.interfaces.length;
  bytes[offset + 7] = config.flags;
  writeMac(bytes, offset + 8, config.mac);
  config.interfaces.forEach((iface, index) => {
    const at = offset + INTERFACES_AT + index * INTERFACE_BYTES;
    writeU32be(bytes, at, iface.ip);
    bytes[at + 4] = iface.prefixLength;
    writeU16le(bytes, at + 6, iface.vlanId);
  });
  return INTERFACE_CONFIG_BYTES;
}

/**
 * Read and validate the configuration at bytes[offset, offset+80). Config
 * changes are rare, so this allocates a fresh object; the classifier then
 * uses it per frame without touching RAM. Reserved bytes are ignored.
 * @throws VmigError ERR_GUEST_BAD_INTERFACE_CONFIG, ERR_GUEST_SPAN_OUT_OF_RANGE
 */
export function decodeInterfaceConfig(bytes: Uint8Array, offset: number): InterfaceConfig {
  checkSpan(bytes, offset, INTERFACE_CONFIG_BYTES, 'interface configuration region');
  const magic = readU32le(bytes, offset);
  if (magic !== INTERFACE_CONFIG_MAGIC) invalid(`magic 0x${magic.toString(16)} at ${offset} is not "NCFG" (was it ever written?)`, { offset, magic });
  const version = readU16le(bytes, offset + 4);
  if (version !== INTERFACE_CONFIG_LAYOUT_VERSION) invalid(`layout version ${version}, this guest reads ${INTERFACE_CONFIG_LAYOUT_VERSION}`, { offset, version });
  const count = bytes[offset + 6]!;
  if (count > MAX_INTERFACES) invalid(`${count} interfaces, at most ${MAX_INTERFACES}`, { offset, count });
  const interfaces: InterfaceAddress[] = [];
  for (let index = 0; index < count; index++) {
    const at = offset + INTERFACES_AT + index * INTERFACE_BYTES;
    interfaces.push({ vlanId: readU16le(bytes, at + 6), ip: readU32be(bytes, at), prefixLength: bytes[at + 4]! });
  }
  const config: InterfaceConfig = { mac: readMac(bytes, offset + 8), flags: bytes[offset + 7]!, interfaces };
  validateInterfaceConfig(config);
  return config;
}
