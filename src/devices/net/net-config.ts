/**
 * virtio-net properties and configuration space.
 *
 * Properties are QEMU's `-device virtio-net-pci,…` names (hw/net/virtio-net.c
 * virtio_net_properties and the virtio common features), so the machine
 * layer can pass a parsed -device line through unchanged. They decide the
 * host (offered) features the way QEMU's realize + get_features do: MAC and
 * VERSION_1 always (vmig's virtio-pci is modern-only), offloads cleared when
 * the backend has no vnet headers, UFO cleared when it cannot take UFO.
 *
 * struct virtio_net_config (virtio 1.2 §5.1.4), little-endian:
 *
 *   0 mac[6] · 6 le16 status · 8 le16 max_virtqueue_pairs · 10 le16 mtu
 *   12 le32 speed · 16 u8 duplex · 17 u8 rss_max_key_size
 *   18 le16 rss_max_indirection_table_length · 20 le32 supported_hash_types
 *
 * Its length depends on the offered features (QEMU's feature_sizes): 6 with
 * MAC only, 8 with STATUS, 10 with MQ, 24 with RSS (research §4.1).
 */

import { VmigError } from '../../core/index.js';
import { VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_VERSION_1 } from '../../virtio/index.js';
import {
  VIRTIO_NET_CFG_DUPLEX,
  VIRTIO_NET_CFG_MAX_VIRTQUEUE_PAIRS,
  VIRTIO_NET_CFG_RSS_MAX_INDIRECTION_TABLE_LENGTH,
  VIRTIO_NET_CFG_RSS_MAX_KEY_SIZE,
  VIRTIO_NET_CFG_SPEED,
  VIRTIO_NET_CFG_STATUS,
  VIRTIO_NET_CFG_SUPPORTED_HASH_TYPES,
  VIRTIO_NET_CONFIG_MAX_SIZE,
  VIRTIO_NET_F_CSUM,
  VIRTIO_NET_F_CTRL_GUEST_OFFLOADS,
  VIRTIO_NET_F_CTRL_MAC_ADDR,
  VIRTIO_NET_F_CTRL_RX,
  VIRTIO_NET_F_CTRL_RX_EXTRA,
  VIRTIO_NET_F_CTRL_VLAN,
  VIRTIO_NET_F_CTRL_VQ,
  VIRTIO_NET_F_GUEST_ANNOUNCE,
  VIRTIO_NET_F_GUEST_CSUM,
  VIRTIO_NET_F_GUEST_ECN,
  VIRTIO_NET_F_GUEST_TSO4,
  VIRTIO_NET_F_GUEST_TSO6,
  VIRTIO_NET_F_GUEST_UFO,
  VIRTIO_NET_F_HOST_ECN,
  VIRTIO_NET_F_HOST_TSO4,
  VIRTIO_NET_F_HOST_TSO6,
  VIRTIO_NET_F_HOST_UFO,
  VIRTIO_NET_F_MAC,
  VIRTIO_NET_F_MQ,
  VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_NET_F_RSS,
  VIRTIO_NET_F_STATUS,
  VIRTIO_NET_QUEUE_DEFAULT_SIZE,
  VIRTIO_NET_RSS_MAX_KEY_SIZE,
  VIRTIO_NET_RSS_MAX_TABLE_LEN,
  VIRTIO_NET_RSS_SUPPORTED_HASHES,
} from './spec-constants.js';

/** `-device virtio-net-pci` properties vmig implements (QEMU's names and defaults). */
export interface VirtioNetProperties {
  /** "52:54:00:12:34:56" (QEMU's first default) or 6 bytes. */
  mac?: string | Uint8Array;
  csum?: boolean;
  guest_csum?: boolean;
  /** Legacy-only in QEMU (VIRTIO_NET_F_GSO): accepted, never offered to a modern driver. */
  gso?: boolean;
  guest_tso4?: boolean;
  guest_tso6?: boolean;
  guest_ecn?: boolean;
  guest_ufo?: boolean;
  guest_announce?: boolean;
  host_tso4?: boolean;
  host_tso6?: boolean;
  host_ecn?: boolean;
  host_ufo?: boolean;
  mrg_rxbuf?: boolean;
  status?: boolean;
  ctrl_vq?: boolean;
  ctrl_rx?: boolean;
  ctrl_vlan?: boolean;
  ctrl_rx_extra?: boolean;
  ctrl_mac_addr?: boolean;
  ctrl_guest_offloads?: boolean;
  /** Default off, as in QEMU. */
  mq?: boolean;
  /** Default off, as in QEMU (software RSS: vmig has no eBPF steering). */
  rss?: boolean;
  event_idx?: boolean;
  indirect_desc?: boolean;
  /** Power of two, 256..1024 (QEMU's limits). */
  rx_queue_size?: number;
  /** Power of two, 256..1024; QEMU caps it at 256 unless the backend is vhost-user/vdpa. */
  tx_queue_size?: number;
}

/** What the backend offers that changes the host features (QEMU's peer_has_vnet_hdr / peer_has_ufo). */
export interface BackendCaps {
  kind: string;
  hasVnetHdr: boolean;
  hasUfo: boolean;
  /** A datapath outside the VMM (vhost-user) and the virtio features it implements. */
  external?: { features: bigint };
}

/**
 * Features an external datapath must implement for the device to offer them
 * (QEMU's user_feature_bits for vhost-user net: what the rings and frames
 * need). The others (MAC, STATUS, CTRL_*, MQ, GUEST_ANNOUNCE) are the VMM's.
 */
const EXTERNAL_DATAPATH_FEATURES = [
  VIRTIO_NET_F_CSUM,
  VIRTIO_NET_F_GUEST_CSUM,
  VIRTIO_NET_F_GUEST_TSO4,
  VIRTIO_NET_F_GUEST_TSO6,
  VIRTIO_NET_F_GUEST_ECN,
  VIRTIO_NET_F_GUEST_UFO,
  VIRTIO_NET_F_HOST_TSO4,
  VIRTIO_NET_F_HOST_TSO6,
  VIRTIO_NET_F_HOST_ECN,
  VIRTIO_NET_F_HOST_UFO,
  VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_F_INDIRECT_DESC,
  VIRTIO_F_EVENT_IDX,
  VIRTIO_NET_F_RSS,
];

/** Properties resolved against the backend: everything the device needs from them. */
export interface ResolvedNetConfig {
  mac: Uint8Array;
  hostFeatures: bigint;
  rxQueueSize: number;
  txQueueSize: number;
  /** Length of the config space for these host features. */
  configSize: number;
}

const bit = (n: number): bigint => 1n << BigInt(n);

/** Feature properties that default to on, with their bits (QEMU's DEFINE_PROP_BIT64 list). */
const ON_BY_DEFAULT: readonly (readonly [keyof VirtioNetProperties, number])[] = [
  ['csum', VIRTIO_NET_F_CSUM],
  ['guest_csum', VIRTIO_NET_F_GUEST_CSUM],
  ['guest_tso4', VIRTIO_NET_F_GUEST_TSO4],
  ['guest_tso6', VIRTIO_NET_F_GUEST_TSO6],
  ['guest_ecn', VIRTIO_NET_F_GUEST_ECN],
  ['guest_ufo', VIRTIO_NET_F_GUEST_UFO],
  ['guest_announce', VIRTIO_NET_F_GUEST_ANNOUNCE],
  ['host_tso4', VIRTIO_NET_F_HOST_TSO4],
  ['host_tso6', VIRTIO_NET_F_HOST_TSO6],
  ['host_ecn', VIRTIO_NET_F_HOST_ECN],
  ['host_ufo', VIRTIO_NET_F_HOST_UFO],
  ['mrg_rxbuf', VIRTIO_NET_F_MRG_RXBUF],
  ['status', VIRTIO_NET_F_STATUS],
  ['ctrl_vq', VIRTIO_NET_F_CTRL_VQ],
  ['ctrl_rx', VIRTIO_NET_F_CTRL_RX],
  ['ctrl_vlan', VIRTIO_NET_F_CTRL_VLAN],
  ['ctrl_rx_extra', VIRTIO_NET_F_CTRL_RX_EXTRA],
  ['ctrl_mac_addr', VIRTIO_NET_F_CTRL_MAC_ADDR],
  ['ctrl_guest_offloads', VIRTIO_NET_F_CTRL_GUEST_OFFLOADS],
  ['event_idx', VIRTIO_F_EVENT_IDX],
  ['indirect_desc', VIRTIO_F_INDIRECT_DESC],
];
const OFF_BY_DEFAULT: readonly (readonly [keyof VirtioNetProperties, number])[] = [
  ['mq', VIRTIO_NET_F_MQ],
  ['rss', VIRTIO_NET_F_RSS],
];
const KNOWN = new Set<string>(['mac', 'gso', 'rx_queue_size', 'tx_queue_size', ...ON_BY_DEFAULT.map(([k]) => k), ...OFF_BY_DEFAULT.map(([k]) => k)]);

/** Offloads that need vnet headers (cleared without them, as QEMU's get_features does). */
/** Offloads that need vnet headers on the backend's frames (QEMU's peer_has_vnet_hdr). */
export const VNET_HDR_FEATURES: readonly number[] = [VIRTIO_NET_F_CSUM, VIRTIO_NET_F_HOST_TSO4, VIRTIO_NET_F_HOST_TSO6, VIRTIO_NET_F_HOST_ECN, VIRTIO_NET_F_GUEST_CSUM, VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_GUEST_TSO6, VIRTIO_NET_F_GUEST_ECN];

export const DEFAULT_MAC = '52:54:00:12:34:56';

function badProperty(name: string, value: unknown, why: string): VmigError {
  return new VmigError('ERR_NET_BAD_PROPERTY', `virtio-net property ${name}=${String(value)} ${why}`, { details: { property: name, value: String(value) } });
}

/** "aa:bb:cc:dd:ee:ff" → 6 bytes. @throws VmigError ERR_NET_BAD_PROPERTY */
export function parseMac(value: string | Uint8Array): Uint8Array {
  if (value instanceof Uint8Array) {
    if (value.length !== 6) throw badProperty('mac', `${value.length} bytes`, 'must be 6 bytes');
    return value.slice();
  }
  const m = /^([0-9a-fA-F]{2}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})$/.exec(value);
  if (!m) throw badProperty('mac', value, 'is not a MAC address like 52:54:00:12:34:56');
  return Uint8Array.from(m.slice(1).map((h) => parseInt(h, 16)));
}

function queueSize(name: string, value: number | undefined, cap: number): number {
  const v = value ?? VIRTIO_NET_QUEUE_DEFAULT_SIZE;
  if (!Number.isInteger(v) || v < VIRTIO_NET_QUEUE_DEFAULT_SIZE || v > 1024 || (v & (v - 1)) !== 0) {
    throw badProperty(name, v, 'must be a power of 2 between 256 and 1024');
  }
  return Math.min(v, cap);
}

/** Config space length for these host features (QEMU's virtio_get_config_size over feature_sizes). */
export function netConfigSize(hostFeatures: bigint): number {
  let size = 6; // mac: QEMU always offers VIRTIO_NET_F_MAC
  if (hostFeatures & bit(VIRTIO_NET_F_STATUS)) size = Math.max(size, 8);
  if (hostFeatures & bit(VIRTIO_NET_F_MQ)) size = Math.max(size, 10);
  if (hostFeatures & bit(VIRTIO_NET_F_RSS)) size = Math.max(size, VIRTIO_NET_CONFIG_MAX_SIZE);
  return size;
}

/**
 * Resolve properties against the backend.
 * @throws VmigError ERR_NET_BAD_PROPERTY for an unknown property or a bad value
 */
export function resolveNetConfig(props: VirtioNetProperties, backend: BackendCaps): ResolvedNetConfig {
  for (const [k, v] of Object.entries(props)) {
    if (!KNOWN.has(k)) throw badProperty(k, v, 'is not a virtio-net property vmig knows');
    if (k !== 'mac' && k !== 'rx_queue_size' && k !== 'tx_queue_size' && v !== undefined && typeof v !== 'boolean') throw badProperty(k, v, 'must be on or off (a boolean)');
  }
  let features = bit(VIRTIO_NET_F_MAC) | bit(VIRTIO_F_VERSION_1);
  for (const [name, b] of ON_BY_DEFAULT) if (props[name] ?? true) features |= bit(b);
  for (const [name, b] of OFF_BY_DEFAULT) if (props[name] ?? false) features |= bit(b);
  if (!backend.hasVnetHdr) for (const b of VNET_HDR_FEATURES) features &= ~bit(b);
  if (!backend.hasVnetHdr || !backend.hasUfo) features &= ~(bit(VIRTIO_NET_F_GUEST_UFO) | bit(VIRTIO_NET_F_HOST_UFO));
  if (backend.external) for (const b of EXTERNAL_DATAPATH_FEATURES) if ((backend.external.features & bit(b)) === 0n) features &= ~bit(b);
  // QEMU's virtio_net_max_tx_queue_size: only vhost-user/vdpa back-ends take more than 256.
  const txCap = backend.kind === 'vhost-user' ? 1024 : VIRTIO_NET_QUEUE_DEFAULT_SIZE;
  return {
    mac: parseMac(props.mac ?? DEFAULT_MAC),
    hostFeatures: features,
    rxQueueSize: queueSize('rx_queue_size', props.rx_queue_size, 1024),
    txQueueSize: queueSize('tx_queue_size', props.tx_queue_size, txCap),
    configSize: netConfigSize(features),
  };
}

/**
 * QEMU's virtio_net_get_config: the config bytes as the driver reads them now.
 * Speed and duplex read as unknown (-1, 0xff), MTU as 0 (vmig offers neither).
 */
export function buildNetConfig(out: Uint8Array, mac: Uint8Array, status: number, maxQueuePairs: number, hostFeatures: bigint): void {
  const full = new Uint8Array(VIRTIO_NET_CONFIG_MAX_SIZE);
  const v = new DataView(full.buffer);
  full.set(mac.subarray(0, 6), 0);
  v.setUint16(VIRTIO_NET_CFG_STATUS, status & 0xffff, true);
  v.setUint16(VIRTIO_NET_CFG_MAX_VIRTQUEUE_PAIRS, maxQueuePairs, true);
  v.setUint32(VIRTIO_NET_CFG_SPEED, 0xffffffff, true);
  full[VIRTIO_NET_CFG_DUPLEX] = 0xff;
  full[VIRTIO_NET_CFG_RSS_MAX_KEY_SIZE] = VIRTIO_NET_RSS_MAX_KEY_SIZE;
  v.setUint16(VIRTIO_NET_CFG_RSS_MAX_INDIRECTION_TABLE_LENGTH, hostFeatures & bit(VIRTIO_NET_F_RSS) ? VIRTIO_NET_RSS_MAX_TABLE_LEN : 1, true);
  v.setUint32(VIRTIO_NET_CFG_SUPPORTED_HASH_TYPES, VIRTIO_NET_RSS_SUPPORTED_HASHES, true);
  out.set(full.subarray(0, out.length));
}
