/**
 * One frontend's session with `vmig vhost-user-net`: the vhost-user messages
 * (vhost-user.rst, backend side) and the datapath between the guest's
 * virtqueues, mapped from the frontend's memfd, and the TAP queues.
 *
 *   frontend ──SET_MEM_TABLE (memfd)──▶ map guest RAM
 *            ──SET_LOG_BASE (memfd)───▶ map the dirty log: every write into guest RAM marks it
 *            ──SET_VRING_NUM/BASE/ADDR/KICK/CALL──▶ start ring i
 *            ──SET_VRING_ENABLE 1─────▶ ring i moves frames
 *   guest kick (eventfd) ─▶ TX ring 2p+1: flushTx ─▶ TAP queue p ─▶ call eventfd
 *   TAP queue p readable ─▶ RX ring 2p: copyToRxQueue (the device's own datapath code) ─▶ call eventfd
 *            ◀─GET_VRING_BASE─────────  stop ring i, reply with its next avail index
 *
 * Untrusted input: every message is checked (payload size, ring index, region
 * layout) before anything changes; a bad one is answered with a failure ack
 * when the frontend asked for one, logged, and ends the session (as DPDK
 * does), never the process. Guest errors (a broken ring) stop that ring only.
 * RX filtering and RSS are the frontend device's business in QEMU's model
 * too (vhost backends do neither): the TAP's kernel steering picks the queue.
 */

import { closeFds, MemfdRegion } from '../host/index.vmm.js';
import { GuestMemory, GUEST_PAGE_SIZE } from '../memory/index.js';
import { VNET_HDR_LEN, NET_BUFSIZE, VhostUserConnection, VhostUserError, VhostUserProtocol as P, requestName } from '../backends/index.js';
import type { NetBackend, VhostUserMessage, MemoryRegion, LogArea } from '../backends/index.js';
import { buildRarpFrame, copyToRxQueue, flushTx, netOffloadsOf, VIRTIO_NET_F_MRG_RXBUF } from '../devices/net/index.js';
import { Vring } from './vring.js';

/** Chains moved per ring per event-loop turn before yielding (QEMU's tx burst). */
const BURST = 256;

export interface SessionOptions {
  tap: NetBackend;
  /** Virtio features the backend offers (backend-features.ts). */
  features: bigint;
  log: (line: string) => void;
  /** The session ended (the frontend hung up or sent a bad message). */
  ended: (session: BackendSession) => void;
}

export class BackendSession {
  readonly #conn: VhostUserConnection;
  readonly #opts: SessionOptions;
  readonly #rings: Vring[];
  #acked = 0n;
  #protocol = 0n;
  #region: MemfdRegion | undefined;
  #table: MemoryRegion | undefined;
  #log: MemfdRegion | undefined;
  #memory: GuestMemory | undefined;
  readonly #held: (Uint8Array | undefined)[];
  readonly #rxBuf = new Uint8Array(NET_BUFSIZE);
  #txScheduled: boolean[];
  #ended = false;

  constructor(connection: (handlers: ConstructorParameters<typeof VhostUserConnection>[1]) => VhostUserConnection, options: SessionOptions) {
    this.#opts = options;
    const pairs = options.tap.queuePairs;
    this.#rings = Array.from({ length: 2 * pairs }, (_, i) => new Vring(i));
    this.#held = new Array<Uint8Array | undefined>(pairs).fill(undefined);
    this.#txScheduled = new Array<boolean>(pairs).fill(false);
    this.#conn = connection({
      message: (msg) => this.#message(msg),
      closed: (error) => this.#end(error === undefined ? 'the frontend hung up' : error.message),
    });
  }

  /** The TAP has frames for pair `queue` (forwarded by the server). */
  rxReady(queue: number): void {
    this.#receive(queue);
  }

  txReady(queue: number): void {
    this.#transmit(queue);
  }

  close(): void {
    this.#end(undefined);
  }

  // ------------------------------------------------------------ messages

  #message(msg: VhostUserMessage): void {
    if (this.#ended) {
      closeFds(msg.fds);
      return;
    }
    let reply: bigint | undefined;
    let failed: unknown;
    try {
      reply = this.#handle(msg);
    } catch (err) {
      failed = err;
    }
    const wantAck = (msg.flags & P.VHOST_USER_NEED_REPLY_MASK) !== 0 && (this.#protocol & (1n << BigInt(P.VHOST_USER_PROTOCOL_F_REPLY_ACK))) !== 0n;
    if (reply !== undefined && failed === undefined) return;
    if (wantAck) this.#reply(msg.request, P.u64Payload(failed === undefined ? 0n : 1n));
    if (failed !== undefined) {
      this.#opts.log(`vhost-user-net: ${requestName(msg.request)} refused: ${failed instanceof Error ? failed.message : String(failed)}`);
      this.#end(`a bad ${requestName(msg.request)}`);
    }
  }

  /** Apply one message; returns a value when a reply carrying it was sent (no ack then). */
  #handle(msg: VhostUserMessage): bigint | undefined {
    const fds = msg.fds;
    const noFds = (): void => {
      if (fds.length > 0) {
        closeFds(fds);
        throw new VhostUserError('ERR_BACKEND_VHOST_USER_BAD_MESSAGE', `${requestName(msg.request)} carries no fds, got ${fds.length}`);
      }
    };
    switch (msg.request) {
      case P.VHOST_USER_GET_FEATURES:
        noFds();
        this.#reply(msg.request, P.u64Payload(this.#opts.features));
        return this.#opts.features;
      case P.VHOST_USER_SET_FEATURES: {
        noFds();
        const features = P.decodeU64(msg);
        const unknown = features & ~this.#opts.features;
        if (unknown !== 0n) throw new VhostUserError('ERR_BACKEND_VHOST_USER_PROTOCOL', `SET_FEATURES acks features the backend did not offer (0x${unknown.toString(16)})`, { features: `0x${features.toString(16)}` });
        this.#acked = features;
        this.#applyOffloads();
        // Without PROTOCOL_FEATURES, rings are enabled as they start (vhost-user.rst).
        if ((features & (1n << BigInt(P.VHOST_USER_F_PROTOCOL_FEATURES))) === 0n) for (const r of this.#rings) r.enabled = true;
        return undefined;
      }
      case P.VHOST_USER_GET_PROTOCOL_FEATURES:
        noFds();
        this.#reply(msg.request, P.u64Payload(BACKEND_PROTOCOL_FEATURES));
        return BACKEND_PROTOCOL_FEATURES;
      case P.VHOST_USER_SET_PROTOCOL_FEATURES: {
        noFds();
        const wanted = P.decodeU64(msg);
        if ((wanted & ~BACKEND_PROTOCOL_FEATURES) !== 0n) throw new VhostUserError('ERR_BACKEND_VHOST_USER_PROTOCOL', `SET_PROTOCOL_FEATURES asks for features the backend did not offer (0x${wanted.toString(16)})`);
        this.#protocol = wanted;
        return undefined;
      }
      case P.VHOST_USER_GET_QUEUE_NUM:
        noFds();
        this.#reply(msg.request, P.u64Payload(BigInt(this.#opts.tap.queuePairs)));
        return BigInt(this.#opts.tap.queuePairs);
      case P.VHOST_USER_SET_OWNER:
      case P.VHOST_USER_RESET_OWNER:
        noFds();
        return undefined;
      case P.VHOST_USER_SET_MEM_TABLE:
        this.#setMemTable(msg);
        return undefined;
      case P.VHOST_USER_SET_LOG_BASE:
        this.#setLogBase(msg);
        // SET_LOG_BASE is answered with a u64 (vhost-user.rst), whatever REPLY_ACK says.
        this.#reply(msg.request, P.u64Payload(0n));
        return 0n;
      case P.VHOST_USER_SET_VRING_NUM: {
        noFds();
        const s = P.decodeVringState(msg);
        const ring = this.#ring(s.index, msg);
        if (s.num === 0 || s.num > 32768 || (s.num & (s.num - 1)) !== 0) throw new VhostUserError('ERR_BACKEND_VHOST_USER_BAD_MESSAGE', `SET_VRING_NUM ${s.num} for ring ${s.index}: a size is a power of two up to 32768`);
        ring.num = s.num;
        return undefined;
      }
      case P.VHOST_USER_SET_VRING_BASE: {
        noFds();
        const s = P.decodeVringState(msg);
        if (s.num > 0xffff) throw new VhostUserError('ERR_BACKEND_VHOST_USER_BAD_MESSAGE', `SET_VRING_BASE ${s.num} for ring ${s.index} is not a u16`);
        const ring = this.#ring(s.index, msg);
        // A started ring not yet enabled takes its base now (early migration's
        // frontend starts rings in the setup phase and sends the bases at the
        // switchover); a ring moving frames must be stopped first.
        if (ring.started && ring.enabled) throw new VhostUserError('ERR_BACKEND_VHOST_USER_PROTOCOL', `SET_VRING_BASE for ring ${s.index} while it runs (stop it with GET_VRING_BASE first)`);
        ring.setBase(s.num);
        return undefined;
      }
      case P.VHOST_USER_SET_VRING_ADDR: {
        noFds();
        const a = P.decodeVringAddr(msg);
        this.#ring(a.index, msg).addr = a;
        return undefined;
      }
      case P.VHOST_USER_SET_VRING_KICK:
        this.#setKick(msg);
        return undefined;
      case P.VHOST_USER_SET_VRING_CALL: {
        const { ring, fd } = this.#ringFd(msg);
        try {
          ring.setCall(fd);
        } catch (err) {
          // Not an eventfd: ours to close, the ring is left without one.
          if (fd !== undefined) closeFds([fd]);
          throw err;
        }
        return undefined;
      }
      case P.VHOST_USER_SET_VRING_ERR: {
        const { fd } = this.#ringFd(msg);
        // Errors are logged here, not signalled: the fd is not kept.
        if (fd !== undefined) closeFds([fd]);
        return undefined;
      }
      case P.VHOST_USER_SET_VRING_ENABLE: {
        noFds();
        const s = P.decodeVringState(msg);
        const ring = this.#ring(s.index, msg);
        if (s.num > 1) throw new VhostUserError('ERR_BACKEND_VHOST_USER_BAD_MESSAGE', `SET_VRING_ENABLE ${s.num} for ring ${s.index}: 0 or 1`);
        ring.enabled = s.num === 1;
        this.#ringChanged(ring);
        return undefined;
      }
      case P.VHOST_USER_GET_VRING_BASE: {
        noFds();
        const s = P.decodeVringState(msg);
        const ring = this.#ring(s.index, msg);
        const base = ring.stop();
        // With PROTOCOL_FEATURES a ring starts disabled (vhost-user.rst); a
        // restart re-enables it after its base (QEMU disables before it stops).
        if (this.#acked & (1n << BigInt(P.VHOST_USER_F_PROTOCOL_FEATURES))) ring.enabled = false;
        this.#ringChanged(ring);
        this.#reply(msg.request, P.vringStatePayload({ index: s.index, num: base }));
        return BigInt(base);
      }
      case P.VHOST_USER_SEND_RARP: {
        noFds();
        const mac = msg.payload.subarray(0, 6);
        if (mac.length < 6) throw new VhostUserError('ERR_BACKEND_VHOST_USER_BAD_MESSAGE', 'SEND_RARP carries a 6-byte MAC');
        this.#opts.tap.send(0, [new Uint8Array(VNET_HDR_LEN), buildRarpFrame(mac)]);
        return undefined;
      }
      default:
        closeFds(fds);
        throw new VhostUserError('ERR_BACKEND_VHOST_USER_PROTOCOL', `${requestName(msg.request)} is not supported by vmig vhost-user-net`, { request: msg.request });
    }
  }

  #reply(request: number, payload: Uint8Array): void {
    this.#conn.send(request, payload, [], P.VHOST_USER_VERSION | P.VHOST_USER_REPLY_MASK);
  }

  #ring(index: number, msg: VhostUserMessage): Vring {
    const ring = this.#rings[index];
    if (ring === undefined) throw new VhostUserError('ERR_BACKEND_VHOST_USER_BAD_MESSAGE', `${requestName(msg.request)}: ring ${index}, the backend has ${this.#rings.length}`, { index });
    return ring;
  }

  /** A KICK/CALL/ERR payload: the ring, and its fd unless the NOFD bit says polling. */
  #ringFd(msg: VhostUserMessage): { ring: Vring; fd: number | undefined } {
    let value: bigint;
    try {
      value = P.decodeU64(msg);
    } catch (err) {
      closeFds(msg.fds);
      throw err;
    }
    const index = Number(value & BigInt(P.VHOST_USER_VRING_IDX_MASK));
    const nofd = (value & BigInt(P.VHOST_USER_VRING_NOFD_MASK)) !== 0n;
    if (this.#rings[index] === undefined || (nofd ? msg.fds.length !== 0 : msg.fds.length !== 1)) {
      closeFds(msg.fds);
      throw new VhostUserError('ERR_BACKEND_VHOST_USER_BAD_MESSAGE', `${requestName(msg.request)}: ring ${index} with ${msg.fds.length} fds (nofd ${nofd})`, { index });
    }
    return { ring: this.#rings[index]!, fd: nofd ? undefined : msg.fds[0] };
  }

  #setKick(msg: VhostUserMessage): void {
    const { ring, fd } = this.#ringFd(msg);
    if (fd === undefined) throw new VhostUserError('ERR_BACKEND_VHOST_USER_PROTOCOL', `SET_VRING_KICK ring ${ring.index}: polling mode (no fd) is not supported`);
    const memory = this.#memory;
    const addr = ring.addr;
    if (memory === undefined || addr === undefined || ring.num === 0) {
      closeFds([fd]);
      throw new VhostUserError('ERR_BACKEND_VHOST_USER_PROTOCOL', `SET_VRING_KICK ring ${ring.index} before the memory table, its size and its addresses`);
    }
    let gpa: { desc: number; avail: number; used: number };
    try {
      gpa = { desc: this.#toGpa(addr.desc), avail: this.#toGpa(addr.avail), used: this.#toGpa(addr.used) };
      ring.setKick(fd, () => this.#kicked(ring));
    } catch (err) {
      closeFds([fd]);
      throw err;
    }
    ring.start(memory, gpa);
    this.#ringChanged(ring);
  }

  /** A frontend user address → guest-physical, inside the one mapped region. */
  #toGpa(uaddr: bigint): number {
    const r = this.#table!;
    if (uaddr < r.userspaceAddr || uaddr >= r.userspaceAddr + r.memorySize) {
      throw new VhostUserError('ERR_BACKEND_VHOST_USER_BAD_MESSAGE', `ring address 0x${uaddr.toString(16)} is outside the memory table`, { uaddr: `0x${uaddr.toString(16)}` });
    }
    return Number(uaddr - r.userspaceAddr + r.guestPhysAddr);
  }

  #setMemTable(msg: VhostUserMessage): void {
    let regions: MemoryRegion[];
    try {
      regions = P.decodeMemTable(msg);
      const r = regions[0];
      // vmig's RAM is one region at gpa 0 over one memfd (guest-memory.ts).
      if (regions.length !== 1 || msg.fds.length !== 1 || r === undefined || r.guestPhysAddr !== 0n || r.mmapOffset !== 0n) {
        throw new VhostUserError('ERR_BACKEND_VHOST_USER_PROTOCOL', `SET_MEM_TABLE: vmig vhost-user-net maps one region at guest-physical 0 and mmap offset 0 (got ${regions.length} regions, ${msg.fds.length} fds)`, { regions: regions.length });
      }
      if (r.memorySize === 0n || r.memorySize % BigInt(GUEST_PAGE_SIZE) !== 0n || r.memorySize > 0xffff_f000n) {
        throw new VhostUserError('ERR_BACKEND_VHOST_USER_BAD_MESSAGE', `SET_MEM_TABLE: a region of ${r.memorySize} bytes (whole 4 KiB pages, below 4 GiB)`);
      }
    } catch (err) {
      closeFds(msg.fds);
      throw err;
    }
    const region = MemfdRegion.adopt('vhost-user-guest-ram', msg.fds[0]!, Number(regions[0]!.memorySize));
    for (const ring of this.#rings) {
      ring.stop();
      this.#ringChanged(ring);
    }
    this.#region?.close();
    this.#region = region;
    this.#table = regions[0];
    this.#log?.close();
    this.#log = undefined;
    this.#memory = GuestMemory.fromShared({ ram: region.buffer, dirty: new SharedArrayBuffer(Math.ceil(region.byteLength / GUEST_PAGE_SIZE / 32) * 4) });
  }

  #setLogBase(msg: VhostUserMessage): void {
    const memory = this.#memory;
    let area: LogArea;
    try {
      area = P.decodeLogArea(msg);
      if (msg.fds.length !== 1) throw new VhostUserError('ERR_BACKEND_VHOST_USER_BAD_MESSAGE', `SET_LOG_BASE carries one fd, got ${msg.fds.length}`);
      if (memory === undefined) throw new VhostUserError('ERR_BACKEND_VHOST_USER_PROTOCOL', 'SET_LOG_BASE before SET_MEM_TABLE');
      const needed = BigInt(Math.ceil(memory.pageCount / 8));
      if (area.mmapOffset !== 0n || area.mmapSize < needed || area.mmapSize > 1n << 30n) {
        throw new VhostUserError('ERR_BACKEND_VHOST_USER_BAD_MESSAGE', `SET_LOG_BASE: a log of ${area.mmapSize} bytes at offset ${area.mmapOffset}; ${needed} bytes at offset 0 cover the memory`);
      }
    } catch (err) {
      closeFds(msg.fds);
      throw err;
    }
    const log = MemfdRegion.adopt('vhost-user-dirty-log', msg.fds[0]!, Number(area.mmapSize));
    this.#log?.close();
    this.#log = log;
    // From here every write into guest RAM marks the frontend's log (dirty-bitmap.ts: same layout).
    this.#memory = GuestMemory.fromShared({ ram: this.#region!.buffer, dirty: log.buffer });
    for (const ring of this.#rings) ring.remap(this.#memory);
  }

  #applyOffloads(): void {
    this.#opts.tap.setOffloads(netOffloadsOf(this.#acked));
  }

  // ------------------------------------------------------------ datapath

  #ringChanged(ring: Vring): void {
    const pair = ring.index >> 1;
    if (ring.index % 2 === 1) {
      if (ring.ready) this.#transmit(pair);
      return;
    }
    if (ring.ready) {
      this.#opts.tap.resume(pair);
    } else {
      this.#opts.tap.pause(pair);
      this.#held[pair] = undefined;
    }
  }

  #kicked(ring: Vring): void {
    const pair = ring.index >> 1;
    if (ring.index % 2 === 1) this.#transmit(pair);
    else if (ring.ready) {
      // The guest posted receive buffers: deliver what waited, read again.
      this.#opts.tap.resume(pair);
      this.#receive(pair);
    }
  }

  #transmit(pair: number): void {
    const ring = this.#rings[2 * pair + 1]!;
    if (!ring.ready || this.#ended) return;
    const tap = this.#opts.tap;
    try {
      const r = flushTx(ring.queue!, (pieces) => tap.send(pair, pieces), BURST);
      if (r.completed > 0 && ring.queue!.needsNotification()) ring.signal();
      if (!r.busy && r.completed === BURST && !this.#txScheduled[pair]) {
        this.#txScheduled[pair] = true;
        setImmediate(() => {
          this.#txScheduled[pair] = false;
          this.#transmit(pair);
        });
      }
    } catch (err) {
      this.#guestError(ring, err);
    }
  }

  #receive(pair: number): void {
    const ring = this.#rings[2 * pair]!;
    if (!ring.ready || this.#ended) return;
    const tap = this.#opts.tap;
    const mergeable = (this.#acked & (1n << BigInt(VIRTIO_NET_F_MRG_RXBUF))) !== 0n;
    let delivered = 0;
    try {
      for (let i = 0; i < BURST; i++) {
        let frame = this.#held[pair];
        if (frame === undefined) {
          const n = tap.receive(pair, this.#rxBuf);
          if (n < 0) break;
          frame = this.#rxBuf.subarray(0, n);
        }
        const r = copyToRxQueue(ring.queue!, frame, mergeable);
        if (r.kind === 'no-buffers') {
          // Hold it until the guest refills (its kick resumes reading).
          this.#held[pair] = frame === this.#held[pair] ? frame : frame.slice();
          tap.pause(pair);
          break;
        }
        this.#held[pair] = undefined;
        if (r.kind === 'delivered') delivered++;
      }
    } catch (err) {
      this.#guestError(ring, err);
    }
    if (delivered > 0 && ring.queue?.needsNotification()) ring.signal();
  }

  #guestError(ring: Vring, err: unknown): void {
    ring.broken = true;
    this.#ringChanged(ring);
    this.#opts.log(`vhost-user-net: ring ${ring.index} stopped: ${err instanceof Error ? err.message : String(err)}`);
  }

  #end(reason: string | undefined): void {
    if (this.#ended) return;
    this.#ended = true;
    if (reason !== undefined) this.#opts.log(`vhost-user-net: session ended: ${reason}`);
    this.#conn.close();
    for (let p = 0; p < this.#opts.tap.queuePairs; p++) this.#opts.tap.pause(p);
    for (const ring of this.#rings) ring.close();
    this.#region?.close();
    this.#log?.close();
    this.#opts.ended(this);
  }
}

/** What this backend speaks beyond the base protocol. */
export const BACKEND_PROTOCOL_FEATURES =
  (1n << BigInt(P.VHOST_USER_PROTOCOL_F_MQ)) |
  (1n << BigInt(P.VHOST_USER_PROTOCOL_F_LOG_SHMFD)) |
  (1n << BigInt(P.VHOST_USER_PROTOCOL_F_RARP)) |
  (1n << BigInt(P.VHOST_USER_PROTOCOL_F_REPLY_ACK));

