/**
 * The control virtqueue (virtio 1.2 §5.1.6.5) with QEMU's semantics
 * (hw/net/virtio-net.c virtio_net_handle_ctrl_iov and its handlers).
 *
 * One command = one descriptor chain:
 *
 *   device-readable:  u8 class · u8 command · command-specific data
 *   device-writable:  u8 ack (VIRTIO_NET_OK 0 / VIRTIO_NET_ERR 1)
 *
 *   class      command                data (little-endian)
 *   RX 0       PROMISC … NOBCAST 0..5 u8 on
 *   MAC 1      TABLE_SET 0            le32 n · n×mac (unicast) · le32 m · m×mac (multicast)
 *              ADDR_SET 1             mac[6]
 *   VLAN 2     ADD 0 / DEL 1          le16 vid
 *   ANNOUNCE 3 ACK 0                  —
 *   MQ 4       VQ_PAIRS_SET 0         le16 pairs
 *              RSS_CONFIG 1           le32 hash_types · le16 table_mask · le16 unclassified
 *                                     · le16 table[mask+1] · le16 max_tx_vq · u8 key_len · key
 *              HASH_CONFIG 2          (needs HASH_REPORT: never offered here)
 *   GUEST_OFFLOADS 5  SET 0           le64 offloads
 *
 * A chain without a readable header or a writable ack byte is a guest error
 * (virtio_error → DEVICE_NEEDS_RESET); every malformed command otherwise is
 * VIRTIO_NET_ERR, leaving the state as it was — except where QEMU itself
 * changes state on a failing command, which is kept and commented (MQ
 * commands disable RSS first; a short RSS key overwrites its prefix).
 */

import type { NetOffloads } from '../../backends/index.js';
import type { DescriptorChain } from '../../virtio/index.js';
import type { NetState } from './net-state.js';
import {
  MAC_TABLE_ENTRIES,
  MAX_VLAN,
  VIRTIO_NET_CTRL_ANNOUNCE,
  VIRTIO_NET_CTRL_ANNOUNCE_ACK,
  VIRTIO_NET_CTRL_GUEST_OFFLOADS,
  VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET,
  VIRTIO_NET_CTRL_MAC,
  VIRTIO_NET_CTRL_MAC_ADDR_SET,
  VIRTIO_NET_CTRL_MAC_TABLE_SET,
  VIRTIO_NET_CTRL_MQ,
  VIRTIO_NET_CTRL_MQ_HASH_CONFIG,
  VIRTIO_NET_CTRL_MQ_RSS_CONFIG,
  VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX,
  VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN,
  VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
  VIRTIO_NET_CTRL_RX,
  VIRTIO_NET_CTRL_RX_ALLMULTI,
  VIRTIO_NET_CTRL_RX_ALLUNI,
  VIRTIO_NET_CTRL_RX_NOBCAST,
  VIRTIO_NET_CTRL_RX_NOMULTI,
  VIRTIO_NET_CTRL_RX_NOUNI,
  VIRTIO_NET_CTRL_RX_PROMISC,
  VIRTIO_NET_CTRL_VLAN,
  VIRTIO_NET_CTRL_VLAN_ADD,
  VIRTIO_NET_CTRL_VLAN_DEL,
  VIRTIO_NET_ERR,
  VIRTIO_NET_F_CTRL_GUEST_OFFLOADS,
  VIRTIO_NET_F_GUEST_CSUM,
  VIRTIO_NET_F_GUEST_ECN,
  VIRTIO_NET_F_GUEST_TSO4,
  VIRTIO_NET_F_GUEST_TSO6,
  VIRTIO_NET_F_GUEST_UFO,
  VIRTIO_NET_F_HASH_REPORT,
  VIRTIO_NET_F_MQ,
  VIRTIO_NET_F_RSS,
  VIRTIO_NET_OK,
  VIRTIO_NET_RSS_MAX_KEY_SIZE,
  VIRTIO_NET_RSS_MAX_TABLE_LEN,
  VIRTIO_NET_S_ANNOUNCE,
} from './spec-constants.js';

/** VIRTIO_NET_F_RSC_EXT: QEMU strips it from GUEST_OFFLOADS_SET before validating. */
const VIRTIO_NET_F_RSC_EXT = 61n;

const bit = (n: number): bigint => 1n << BigInt(n);

/** The offloads a guest may switch on, from its negotiated features (QEMU's virtio_net_guest_offloads_by_features). */
/**
 * What a backend is told the guest accepts on receive (QEMU's
 * qemu_set_offload arguments), from guest-offload bits, which are the
 * GUEST_* feature bits: a device's curr_guest_offloads, or a vhost-user
 * backend's acked features.
 */
export function netOffloadsOf(guestOffloads: bigint): NetOffloads {
  const has = (b: number): boolean => (guestOffloads & bit(b)) !== 0n;
  return { csum: has(VIRTIO_NET_F_GUEST_CSUM), tso4: has(VIRTIO_NET_F_GUEST_TSO4), tso6: has(VIRTIO_NET_F_GUEST_TSO6), ecn: has(VIRTIO_NET_F_GUEST_ECN), ufo: has(VIRTIO_NET_F_GUEST_UFO) };
}

export function guestOffloadsByFeatures(features: bigint): bigint {
  const mask = bit(VIRTIO_NET_F_GUEST_CSUM) | bit(VIRTIO_NET_F_GUEST_TSO4) | bit(VIRTIO_NET_F_GUEST_TSO6) | bit(VIRTIO_NET_F_GUEST_ECN) | bit(VIRTIO_NET_F_GUEST_UFO);
  return features & mask;
}

/** Command data after the 2-byte header, read like QEMU's iov_to_buf: what exists, up to `len`. */
export interface CtrlPayload {
  readonly size: number;
  /** Up to `len` bytes from `offset`; fewer when the data ends (the caller compares lengths). */
  read(offset: number, len: number): Uint8Array;
}

/** Payload of a descriptor chain, read lazily (a hostile chain may claim gigabytes; only what a command needs is copied). */
export function chainPayload(chain: DescriptorChain, headerLen: number): CtrlPayload {
  const size = Math.max(0, chain.readableLength - headerLen);
  return {
    size,
    read(offset: number, len: number): Uint8Array {
      const n = Math.max(0, Math.min(len, size - offset));
      const out = new Uint8Array(n);
      if (n > 0) chain.copyReadableInto(out, headerLen + offset);
      return out;
    },
  };
}

export function bytesPayload(bytes: Uint8Array): CtrlPayload {
  return {
    size: bytes.length,
    read: (offset, len) => bytes.slice(Math.min(offset, bytes.length), Math.min(offset + len, bytes.length)),
  };
}

/** What a command may do beyond changing NetState. */
export interface CtrlContext {
  readonly state: NetState;
  /** Negotiated features. */
  readonly features: bigint;
  readonly hasVnetHdr: boolean;
  /** QEMU's rxfilter_notify (NIC_RX_FILTER_CHANGED, once until query-rx-filter). */
  rxFilterChanged(): void;
  /** curr_guest_offloads changed: program the backend. */
  offloadsChanged(): void;
  /** curr_queue_pairs changed: stop/start queues, attach/detach backend queues. */
  queuePairsChanged(): void;
  /** The guest acknowledged an announce: next round of the announce timer, if any. */
  announceAcked(): void;
}

const le16 = (b: Uint8Array, at = 0): number => b[at]! | (b[at + 1]! << 8);
const le32 = (b: Uint8Array, at = 0): number => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

/** Execute one command; returns the ack byte. Never throws for guest input. */
export function handleCtrlCommand(ctx: CtrlContext, cls: number, cmd: number, data: CtrlPayload): number {
  switch (cls) {
    case VIRTIO_NET_CTRL_RX:
      return rxMode(ctx, cmd, data);
    case VIRTIO_NET_CTRL_MAC:
      return mac(ctx, cmd, data);
    case VIRTIO_NET_CTRL_VLAN:
      return vlan(ctx, cmd, data);
    case VIRTIO_NET_CTRL_ANNOUNCE:
      return announce(ctx, cmd);
    case VIRTIO_NET_CTRL_MQ:
      return mq(ctx, cmd, data);
    case VIRTIO_NET_CTRL_GUEST_OFFLOADS:
      return offloads(ctx, cmd, data);
    default:
      return VIRTIO_NET_ERR;
  }
}

function rxMode(ctx: CtrlContext, cmd: number, data: CtrlPayload): number {
  const b = data.read(0, 1);
  if (b.length !== 1) return VIRTIO_NET_ERR;
  const on = b[0]!; // stored raw, as QEMU's u8 fields
  const s = ctx.state;
  switch (cmd) {
    case VIRTIO_NET_CTRL_RX_PROMISC:
      s.promisc = on;
      break;
    case VIRTIO_NET_CTRL_RX_ALLMULTI:
      s.allmulti = on;
      break;
    case VIRTIO_NET_CTRL_RX_ALLUNI:
      s.alluni = on;
      break;
    case VIRTIO_NET_CTRL_RX_NOMULTI:
      s.nomulti = on;
      break;
    case VIRTIO_NET_CTRL_RX_NOUNI:
      s.nouni = on;
      break;
    case VIRTIO_NET_CTRL_RX_NOBCAST:
      s.nobcast = on;
      break;
    default:
      return VIRTIO_NET_ERR;
  }
  s.changed();
  ctx.rxFilterChanged();
  return VIRTIO_NET_OK;
}

function mac(ctx: CtrlContext, cmd: number, data: CtrlPayload): number {
  const s = ctx.state;
  if (cmd === VIRTIO_NET_CTRL_MAC_ADDR_SET) {
    if (data.size !== 6) return VIRTIO_NET_ERR;
    s.mac = data.read(0, 6);
    s.changed();
    ctx.rxFilterChanged();
    return VIRTIO_NET_OK;
  }
  if (cmd !== VIRTIO_NET_CTRL_MAC_TABLE_SET) return VIRTIO_NET_ERR;
  // `entries * ETH_ALEN` is uint32 arithmetic in QEMU: it wraps, and a hostile
  // count can make it small. Reproduced so the same command has the same effect.
  const times6 = (n: number): number => (n * 6) % 2 ** 32;
  const macs = new Uint8Array(MAC_TABLE_ENTRIES * 6);
  let inUse = 0;
  let uniOverflow = 0;
  let multiOverflow = 0;
  let off = 0;
  let b = data.read(off, 4);
  if (b.length !== 4) return VIRTIO_NET_ERR;
  let entries = le32(b);
  off += 4;
  if (times6(entries) > data.size - off) return VIRTIO_NET_ERR;
  if (entries <= MAC_TABLE_ENTRIES) {
    const t = data.read(off, entries * 6);
    if (t.length !== entries * 6) return VIRTIO_NET_ERR;
    macs.set(t, 0);
    inUse += entries;
  } else {
    uniOverflow = 1;
  }
  off += times6(entries);
  const firstMulti = inUse;
  b = data.read(off, 4);
  if (b.length !== 4) return VIRTIO_NET_ERR;
  entries = le32(b);
  off += 4;
  if (times6(entries) !== data.size - off) return VIRTIO_NET_ERR;
  if (entries <= MAC_TABLE_ENTRIES - inUse) {
    const t = data.read(off, entries * 6);
    if (t.length !== entries * 6) return VIRTIO_NET_ERR;
    macs.set(t, inUse * 6);
    inUse += entries;
  } else {
    multiOverflow = 1;
  }
  s.macs.set(macs);
  s.inUse = inUse;
  s.firstMulti = firstMulti;
  s.uniOverflow = uniOverflow;
  s.multiOverflow = multiOverflow;
  s.changed();
  ctx.rxFilterChanged();
  return VIRTIO_NET_OK;
}

function vlan(ctx: CtrlContext, cmd: number, data: CtrlPayload): number {
  const b = data.read(0, 2);
  if (b.length !== 2) return VIRTIO_NET_ERR;
  const vid = le16(b);
  if (vid >= MAX_VLAN) return VIRTIO_NET_ERR;
  if (cmd === VIRTIO_NET_CTRL_VLAN_ADD) ctx.state.setVlan(vid, true);
  else if (cmd === VIRTIO_NET_CTRL_VLAN_DEL) ctx.state.setVlan(vid, false);
  else return VIRTIO_NET_ERR;
  ctx.rxFilterChanged();
  return VIRTIO_NET_OK;
}

function announce(ctx: CtrlContext, cmd: number): number {
  const s = ctx.state;
  // An ACK with nothing to acknowledge is an error (QEMU virtio_net_handle_announce).
  if (cmd !== VIRTIO_NET_CTRL_ANNOUNCE_ACK || !(s.status & VIRTIO_NET_S_ANNOUNCE)) return VIRTIO_NET_ERR;
  s.status &= ~VIRTIO_NET_S_ANNOUNCE;
  ctx.announceAcked();
  return VIRTIO_NET_OK;
}

function mq(ctx: CtrlContext, cmd: number, data: CtrlPayload): number {
  const s = ctx.state;
  // QEMU disables RSS before looking at the command, whatever it is and
  // whether it succeeds: VQ_PAIRS_SET switches RSS off too.
  s.rss.enabled = false;
  let pairs: number;
  if (cmd === VIRTIO_NET_CTRL_MQ_HASH_CONFIG) {
    // Needs HASH_REPORT, which vmig never offers; parsed by the same code in QEMU.
    return rssConfig(ctx, data, false) === 0 ? VIRTIO_NET_ERR : VIRTIO_NET_OK;
  }
  if (cmd === VIRTIO_NET_CTRL_MQ_RSS_CONFIG) {
    pairs = rssConfig(ctx, data, true);
  } else if (cmd === VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET) {
    if (!(ctx.features & bit(VIRTIO_NET_F_MQ))) return VIRTIO_NET_ERR;
    const b = data.read(0, 2);
    if (b.length !== 2) return VIRTIO_NET_ERR;
    pairs = le16(b);
  } else {
    return VIRTIO_NET_ERR;
  }
  if (pairs < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN || pairs > VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX || pairs > s.maxQueuePairs || !s.multiqueue) return VIRTIO_NET_ERR;
  s.currQueuePairs = pairs;
  ctx.queuePairsChanged();
  return VIRTIO_NET_OK;
}

/**
 * QEMU's virtio_net_handle_rss: parse and commit an RSS configuration; the
 * queue pairs it asks for (max_tx_vq), or 0 on error (RSS then disabled).
 * Fields are committed only when everything parsed, except the key, which
 * QEMU copies in place (a short read leaves a partial key), kept for parity.
 */
function rssConfig(ctx: CtrlContext, data: CtrlPayload, doRss: boolean): number {
  const s = ctx.state;
  const rss = s.rss;
  if (doRss && !(ctx.features & bit(VIRTIO_NET_F_RSS))) return 0;
  if (!doRss && !(ctx.features & bit(VIRTIO_NET_F_HASH_REPORT))) return 0;
  const head = data.read(0, 8);
  if (head.length !== 8) return 0;
  const hashTypes = le32(head, 0);
  const len = doRss ? le16(head, 4) + 1 : 1;
  if ((len & (len - 1)) !== 0 || len > VIRTIO_NET_RSS_MAX_TABLE_LEN) return 0;
  const defaultQueue = doRss ? le16(head, 6) : 0;
  if (defaultQueue >= s.maxQueuePairs) return 0;
  let off = 8;
  const t = data.read(off, 2 * len);
  if (t.length !== 2 * len) return 0;
  const table = Array.from({ length: len }, (_, i) => le16(t, 2 * i));
  off += 2 * len;
  const tail = data.read(off, 3);
  if (tail.length !== 3) return 0;
  const pairs = doRss ? le16(tail, 0) : s.currQueuePairs;
  const keyLen = tail[2]!;
  if (pairs === 0 || pairs > s.maxQueuePairs) return 0;
  if (keyLen > VIRTIO_NET_RSS_MAX_KEY_SIZE) return 0;
  if (keyLen === 0 && hashTypes !== 0) return 0;
  off += 3;
  if (keyLen === 0) {
    // No hashing asked for: RSS stays off, the queue pairs still apply.
    return pairs;
  }
  const key = data.read(off, keyLen);
  rss.key.set(key);
  if (key.length !== keyLen) return 0;
  rss.hashTypes = hashTypes;
  rss.indirectionsLen = len;
  rss.defaultQueue = defaultQueue;
  rss.table = table;
  rss.enabled = true;
  return pairs;
}

function offloads(ctx: CtrlContext, cmd: number, data: CtrlPayload): number {
  if (!(ctx.features & bit(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS))) return VIRTIO_NET_ERR;
  const b = data.read(0, 8);
  if (b.length !== 8) return VIRTIO_NET_ERR;
  if (cmd !== VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET) return VIRTIO_NET_ERR;
  if (!ctx.hasVnetHdr) return VIRTIO_NET_ERR;
  let value = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
  value &= ~(1n << VIRTIO_NET_F_RSC_EXT);
  if (value & ~guestOffloadsByFeatures(ctx.features)) return VIRTIO_NET_ERR;
  ctx.state.currGuestOffloads = value;
  ctx.offloadsChanged();
  return VIRTIO_NET_OK;
}
