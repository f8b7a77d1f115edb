/**
 * The vhost-user protocol's messages (QEMU docs/interop/vhost-user.rst):
 * constants with the spec's names, and a bounds-checked codec shared by the
 * frontend (the VMM) and the backend (`vmig vhost-user-net`).
 *
 *   ┌───────────┬──────────┬──────────┬───────────────────────┐
 *   │ request   │ flags    │ size     │ payload (size bytes)  │   native order (little-endian here)
 *   │ u32       │ u32      │ u32      │                       │   fds: SCM_RIGHTS on the same sendmsg
 *   └───────────┴──────────┴──────────┴───────────────────────┘
 *   flags: bits 0–1 version (1), bit 2 REPLY, bit 3 NEED_REPLY
 *
 * Every message from the peer is untrusted: `MessageFramer` refuses a size
 * over VHOST_USER_MAX_PAYLOAD or a wrong version, and each payload decoder
 * checks the length it needs, so a hostile peer gets a typed error and
 * nothing is half-applied.
 */

import { VmigError } from '../../core/index.js';

export const VHOST_USER_HDR_SIZE = 12;
export const VHOST_USER_VERSION = 0x1;
export const VHOST_USER_VERSION_MASK = 0x3;
export const VHOST_USER_REPLY_MASK = 0x1 << 2;
export const VHOST_USER_NEED_REPLY_MASK = 0x1 << 3;
/** Larger than any message vmig exchanges (the memory table is 8 + 8·32 bytes). */
export const VHOST_USER_MAX_PAYLOAD = 4096;
/** Regions of a SET_MEM_TABLE (VHOST_MEMORY_BASELINE_NREGIONS). */
export const VHOST_MEMORY_BASELINE_NREGIONS = 8;
/** SET_VRING_KICK/CALL/ERR payload: bits 0–7 the ring, bit 8 "no fd" (polling). */
export const VHOST_USER_VRING_IDX_MASK = 0xff;
export const VHOST_USER_VRING_NOFD_MASK = 0x1 << 8;
/** vring addr flags: log used-ring writes at log_guest_addr. */
export const VHOST_VRING_F_LOG = 0;
/** The dirty log's granularity (one bit per 4 KiB of guest-physical memory). */
export const VHOST_LOG_PAGE = 0x1000;

/** Virtio feature bits with a vhost meaning. */
export const VHOST_F_LOG_ALL = 26;
export const VHOST_USER_F_PROTOCOL_FEATURES = 30;

/** Protocol feature bits. */
export const VHOST_USER_PROTOCOL_F_MQ = 0;
export const VHOST_USER_PROTOCOL_F_LOG_SHMFD = 1;
export const VHOST_USER_PROTOCOL_F_RARP = 2;
export const VHOST_USER_PROTOCOL_F_REPLY_ACK = 3;

/** Frontend → backend requests (the ones vmig speaks; others are refused by number). */
export const VHOST_USER_GET_FEATURES = 1;
export const VHOST_USER_SET_FEATURES = 2;
export const VHOST_USER_SET_OWNER = 3;
export const VHOST_USER_RESET_OWNER = 4;
export const VHOST_USER_SET_MEM_TABLE = 5;
export const VHOST_USER_SET_LOG_BASE = 6;
export const VHOST_USER_SET_LOG_FD = 7;
export const VHOST_USER_SET_VRING_NUM = 8;
export const VHOST_USER_SET_VRING_ADDR = 9;
export const VHOST_USER_SET_VRING_BASE = 10;
export const VHOST_USER_GET_VRING_BASE = 11;
export const VHOST_USER_SET_VRING_KICK = 12;
export const VHOST_USER_SET_VRING_CALL = 13;
export const VHOST_USER_SET_VRING_ERR = 14;
export const VHOST_USER_GET_PROTOCOL_FEATURES = 15;
export const VHOST_USER_SET_PROTOCOL_FEATURES = 16;
export const VHOST_USER_GET_QUEUE_NUM = 17;
export const VHOST_USER_SET_VRING_ENABLE = 18;
export const VHOST_USER_SEND_RARP = 19;

const REQUEST_NAMES: Record<number, string> = {
  1: 'GET_FEATURES',
  2: 'SET_FEATURES',
  3: 'SET_OWNER',
  4: 'RESET_OWNER',
  5: 'SET_MEM_TABLE',
  6: 'SET_LOG_BASE',
  7: 'SET_LOG_FD',
  8: 'SET_VRING_NUM',
  9: 'SET_VRING_ADDR',
  10: 'SET_VRING_BASE',
  11: 'GET_VRING_BASE',
  12: 'SET_VRING_KICK',
  13: 'SET_VRING_CALL',
  14: 'SET_VRING_ERR',
  15: 'GET_PROTOCOL_FEATURES',
  16: 'SET_PROTOCOL_FEATURES',
  17: 'GET_QUEUE_NUM',
  18: 'SET_VRING_ENABLE',
  19: 'SEND_RARP',
};

/** "SET_VRING_ADDR (9)", for messages and traces. */
export function requestName(request: number): string {
  return `${REQUEST_NAMES[request] ?? 'unknown request'} (${request})`;
}

export type VhostUserErrorCode = 'ERR_BACKEND_VHOST_USER_BAD_MESSAGE' | 'ERR_BACKEND_VHOST_USER_PROTOCOL' | 'ERR_BACKEND_VHOST_USER_DISCONNECTED' | 'ERR_BACKEND_VHOST_USER_TIMEOUT' | 'ERR_BACKEND_VHOST_USER_BACKEND_FAILED';

export class VhostUserError extends VmigError {
  declare readonly code: VhostUserErrorCode;

  constructor(code: VhostUserErrorCode, message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(code, message, { details, cause });
  }
}

export interface VhostUserMessage {
  request: number;
  flags: number;
  payload: Uint8Array;
  /** Fds that came with it (SCM_RIGHTS); the receiver owns them. */
  fds: number[];
}

export interface VringState {
  index: number;
  num: number;
}

export interface VringAddr {
  index: number;
  flags: number;
  /** Frontend user addresses, translated through the memory table's userspace_addr. */
  desc: bigint;
  used: bigint;
  avail: bigint;
  /** Guest-physical address of the used ring, for the dirty log. */
  log: bigint;
}

export interface MemoryRegion {
  guestPhysAddr: bigint;
  memorySize: bigint;
  userspaceAddr: bigint;
  mmapOffset: bigint;
}

export interface LogArea {
  mmapSize: bigint;
  mmapOffset: bigint;
}

/** The 12-byte header and payload, ready for sendmsg. */
export function encodeMessage(request: number, payload: Uint8Array = new Uint8Array(0), flags = VHOST_USER_VERSION): Uint8Array {
  const bytes = new Uint8Array(VHOST_USER_HDR_SIZE + payload.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, request, true);
  view.setUint32(4, flags, true);
  view.setUint32(8, payload.length, true);
  bytes.set(payload, VHOST_USER_HDR_SIZE);
  return bytes;
}

export function u64Payload(value: bigint): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt.asUintN(64, value), true);
  return bytes;
}

export function vringStatePayload(state: VringState): Uint8Array {
  const bytes = new Uint8Array(8);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, state.index, true);
  view.setUint32(4, state.num, true);
  return bytes;
}

export function vringAddrPayload(addr: VringAddr): Uint8Array {
  const bytes = new Uint8Array(40);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, addr.index, true);
  view.setUint32(4, addr.flags, true);
  view.setBigUint64(8, addr.desc, true);
  view.setBigUint64(16, addr.used, true);
  view.setBigUint64(24, addr.avail, true);
  view.setBigUint64(32, addr.log, true);
  return bytes;
}

export function memTablePayload(regions: readonly MemoryRegion[]): Uint8Array {
  const bytes = new Uint8Array(8 + 32 * regions.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, regions.length, true);
  regions.forEach((r, i) => {
    const at = 8 + 32 * i;
    view.setBigUint64(at, r.guestPhysAddr, true);
    view.setBigUint64(at + 8, r.memorySize, true);
    view.setBigUint64(at + 16, r.userspaceAddr, true);
    view.setBigUint64(at + 24, r.mmapOffset, true);
  });
  return bytes;
}

export function logAreaPayload(log: LogArea): Uint8Array {
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, log.mmapSize, true);
  view.setBigUint64(8, log.mmapOffset, true);
  return bytes;
}

function payloadView(msg: VhostUserMessage, needed: number): DataView {
  if (msg.payload.length < needed) {
    throw new VhostUserError('ERR_BACKEND_VHOST_USER_BAD_MESSAGE', `vhost-user ${requestName(msg.request)}: payload of ${msg.payload.length} bytes, ${needed} needed`, {
      request: msg.request,
      size: msg.payload.length,
      needed,
    });
  }
  return new DataView(msg.payload.buffer, msg.payload.byteOffset, msg.payload.length);
}

export function decodeU64(msg: VhostUserMessage): bigint {
  return payloadView(msg, 8).getBigUint64(0, true);
}

export function decodeVringState(msg: VhostUserMessage): VringState {
  const view = payloadView(msg, 8);
  return { index: view.getUint32(0, true), num: view.getUint32(4, true) };
}

export function decodeVringAddr(msg: VhostUserMessage): VringAddr {
  const view = payloadView(msg, 40);
  return {
    index: view.getUint32(0, true),
    flags: view.getUint32(4, true),
    desc: view.getBigUint64(8, true),
    used: view.getBigUint64(16, true),
    avail: view.getBigUint64(24, true),
    log: view.getBigUint64(32, true),
  };
}

export function decodeMemTable(msg: VhostUserMessage): MemoryRegion[] {
  const count = payloadView(msg, 8).getUint32(0, true);
  if (count > VHOST_MEMORY_BASELINE_NREGIONS) {
    throw new VhostUserError('ERR_BACKEND_VHOST_USER_BAD_MESSAGE', `vhost-user SET_MEM_TABLE: ${count} regions, at most ${VHOST_MEMORY_BASELINE_NREGIONS}`, { regions: count });
  }
  const view = payloadView(msg, 8 + 32 * count);
  const regions: MemoryRegion[] = [];
  for (let i = 0; i < count; i++) {
    const at = 8 + 32 * i;
    regions.push({
      guestPhysAddr: view.getBigUint64(at, true),
      memorySize: view.getBigUint64(at + 8, true),
      userspaceAddr: view.getBigUint64(at + 16, true),
      mmapOffset: view.getBigUint64(at + 24, true),
    });
  }
  return regions;
}

export function decodeLogArea(msg: VhostUserMessage): LogArea {
  const view = payloadView(msg, 16);
  return { mmapSize: view.getBigUint64(0, true), mmapOffset: view.getBigUint64(8, true) };
}

/**
 * Cuts a byte stream (and the fds that came with it) into messages. Fds ride
 * on the first byte of the sendmsg that carried them; read `need()` bytes at
 * a time and they belong to the message being assembled when they arrive.
 */
export class MessageFramer {
  #pending: Uint8Array = new Uint8Array(0);
  #fds: number[] = [];

  /** Bytes and fds that have not yet formed a whole message. */
  get buffered(): number {
    return this.#pending.length;
  }

  /**
   * Bytes that complete the message being assembled (its header first). A
   * reader that asks the socket for exactly this many never reads across a
   * message boundary, which is what ties fds to their message: the kernel
   * hands a sendmsg's fds to the first read of its bytes, and a read that
   * began in the message before would take them there (QEMU and DPDK read
   * the header, then the payload, for the same reason).
   */
  need(): number {
    const have = this.#pending.length;
    if (have < VHOST_USER_HDR_SIZE) return VHOST_USER_HDR_SIZE - have;
    const size = new DataView(this.#pending.buffer, this.#pending.byteOffset + 8, 4).getUint32(0, true);
    return Math.max(1, VHOST_USER_HDR_SIZE + Math.min(size, VHOST_USER_MAX_PAYLOAD + 1) - have);
  }

  /**
   * Add received bytes; returns every message now complete, in order.
   * @throws VhostUserError ERR_BACKEND_VHOST_USER_BAD_MESSAGE for a bad version, an oversized payload or
   *   more fds than a message carries (they stay held: takeStrayFds() hands them over for closing)
   *   (the stream cannot be resynchronised after that: close the connection)
   */
  push(bytes: Uint8Array, fds: readonly number[] = []): VhostUserMessage[] {
    this.#fds.push(...fds);
    if (this.#fds.length > VHOST_MEMORY_BASELINE_NREGIONS) {
      throw new VhostUserError('ERR_BACKEND_VHOST_USER_BAD_MESSAGE', `vhost-user: ${this.#fds.length} fds for one message, at most ${VHOST_MEMORY_BASELINE_NREGIONS}`, { fds: this.#fds.length });
    }
    const data = this.#pending.length === 0 ? bytes : concat(this.#pending, bytes);
    const out: VhostUserMessage[] = [];
    let at = 0;
    while (data.length - at >= VHOST_USER_HDR_SIZE) {
      const view = new DataView(data.buffer, data.byteOffset + at, VHOST_USER_HDR_SIZE);
      const request = view.getUint32(0, true);
      const flags = view.getUint32(4, true);
      const size = view.getUint32(8, true);
      if ((flags & VHOST_USER_VERSION_MASK) !== VHOST_USER_VERSION) {
        throw new VhostUserError('ERR_BACKEND_VHOST_USER_BAD_MESSAGE', `vhost-user ${requestName(request)}: version ${flags & VHOST_USER_VERSION_MASK}, only ${VHOST_USER_VERSION} is spoken`, { request, flags });
      }
      if (size > VHOST_USER_MAX_PAYLOAD) {
        throw new VhostUserError('ERR_BACKEND_VHOST_USER_BAD_MESSAGE', `vhost-user ${requestName(request)}: payload of ${size} bytes, at most ${VHOST_USER_MAX_PAYLOAD}`, { request, size });
      }
      if (data.length - at < VHOST_USER_HDR_SIZE + size) break;
      const payload = data.slice(at + VHOST_USER_HDR_SIZE, at + VHOST_USER_HDR_SIZE + size);
      out.push({ request, flags, payload, fds: this.#fds });
      this.#fds = [];
      at += VHOST_USER_HDR_SIZE + size;
    }
    this.#pending = data.slice(at);
    return out;
  }

  /** Fds received but not handed out with a message (the caller closes them on teardown). */
  takeStrayFds(): number[] {
    const fds = this.#fds;
    this.#fds = [];
    return fds;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
