/**
 * The `tap` NetBackend (DESIGN §4; QEMU's -netdev tap with vhost=off): one
 * TAP queue (one fd, IFF_MULTI_QUEUE) per virtio-net queue pair, vnet headers
 * on (IFF_VNET_HDR, TUNSETVNETHDRSZ 12), the VMM moving frames itself.
 *
 *   attach ─▶ one FdPoller per queue fd, started paused (events 0)
 *   resume(q) / pause(q) ─▶ POLL_READABLE on / off for queue q
 *   fd readable ─▶ client.rxReady(q) ─▶ receive(q, buf) = read(2) of one frame
 *   send(q, pieces) ─▶ write(2) or writev(2) straight from guest RAM;
 *     EAGAIN ─▶ false, POLL_WRITABLE on ─▶ fd writable ─▶ client.txReady(q)
 *   setQueueEnabled(q) ─▶ poller stopped, TUNSETQUEUE, poller restarted
 *
 * Offloads map to TUNSETOFFLOAD as QEMU's tap_fd_set_offload does
 * (`tunOffloadFlags`), retrying without UFO when the kernel refuses it.
 */

import {
  FdPoller,
  IoVec,
  IOV_MAX,
  POLL_READABLE,
  POLL_WRITABLE,
  TapDevice,
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
  TUN_F_TSO_ECN,
  TUN_F_UFO,
} from '../../host/index.vmm.js';
import { BackendError, checkQueue } from '../backend-error.js';
import { VNET_HDR_LEN } from '../net-backend.js';
import type { NetBackend, NetBackendClient, NetOffloads } from '../net-backend.js';

/** TUN_F_* bits for the offloads a guest accepts, exactly as QEMU's tap_fd_set_offload builds them. */
export function tunOffloadFlags(o: NetOffloads): number {
  let flags = 0;
  // Every segmentation offload needs partial checksums; without CSUM nothing else is offered.
  if (o.csum) {
    flags |= TUN_F_CSUM;
    if (o.tso4) flags |= TUN_F_TSO4;
    if (o.tso6) flags |= TUN_F_TSO6;
    if ((o.tso4 || o.tso6) && o.ecn) flags |= TUN_F_TSO_ECN;
    if (o.ufo) flags |= TUN_F_UFO;
  }
  return flags;
}

export interface TapBackendOptions {
  /** Interface name or pattern ("vm%d"); default: the kernel picks tapN. */
  ifname?: string;
  /** Queue pairs (TAP queues), 1..256; default 1. */
  queues?: number;
}

/** Counters of what the backend dropped or failed, per queue. */
export interface TapBackendStats {
  txDropped: number[];
  rxErrors: number[];
}

export class TapBackend implements NetBackend {
  readonly kind = 'tap';
  readonly device: TapDevice;
  readonly queuePairs: number;
  readonly hasVnetHdr: boolean;
  readonly hasUfo: boolean;
  readonly stats: TapBackendStats;
  #client: NetBackendClient | undefined;
  readonly #pollers: (FdPoller | undefined)[];
  readonly #reading: boolean[];
  readonly #wantWritable: boolean[];
  readonly #iov: IoVec;
  /** One whole-buffer view per backing buffer, so an IoVec sees the same view for every piece of guest RAM. */
  readonly #wholeViews = new WeakMap<ArrayBufferLike, Uint8Array>();
  #linkUp = true;
  #closed = false;

  /**
   * Open (or attach to) a multi-queue TAP with vnet headers and wrap it.
   * @throws VmigError ERR_HOST_* from TapDevice.open (EPERM without CAP_NET_ADMIN, …)
   */
  static open(options: TapBackendOptions = {}): TapBackend {
    const device = TapDevice.open({ ifname: options.ifname ?? '', queues: options.queues ?? 1, vnetHdr: true });
    try {
      return new TapBackend(device);
    } catch (err) {
      device.close();
      throw err;
    }
  }

  /**
   * Wrap an open TAP (for instance one whose fds came over SCM_RIGHTS). Sets
   * the vnet header size to 12 and probes UFO as QEMU's tap_probe_has_ufo does.
   */
  constructor(device: TapDevice) {
    this.device = device;
    this.queuePairs = device.queues.length;
    this.hasVnetHdr = device.vnetHdr;
    if (device.vnetHdr) device.setVnetHdrSize(VNET_HDR_LEN);
    this.hasUfo = device.vnetHdr && probeUfo(device);
    this.#pollers = Array.from({ length: this.queuePairs }, () => undefined);
    this.#reading = Array.from({ length: this.queuePairs }, () => false);
    this.#wantWritable = Array.from({ length: this.queuePairs }, () => false);
    this.#iov = new IoVec(IOV_MAX);
    this.stats = { txDropped: new Array<number>(this.queuePairs).fill(0), rxErrors: new Array<number>(this.queuePairs).fill(0) };
  }

  attach(client: NetBackendClient): void {
    if (this.#closed) throw new BackendError('ERR_BACKEND_CLOSED', `TAP ${this.device.ifname} is closed`);
    if (this.#client) throw new BackendError('ERR_BACKEND_ATTACHED', `TAP ${this.device.ifname} already serves a device`);
    this.#client = client;
    for (let q = 0; q < this.queuePairs; q++) this.#startPoller(q);
  }

  receive(queue: number, target: Uint8Array): number {
    checkQueue(this.kind, queue, this.queuePairs);
    const tq = this.device.queues[queue]!;
    if (this.#closed || !tq.enabled) return -1;
    try {
      return tq.read(target);
    } catch (err) {
      // A queue that errors on read would make a level-triggered poller spin: stop reading it.
      this.stats.rxErrors[queue]!++;
      this.pause(queue);
      this.#report(queue, err);
      return -1;
    }
  }

  send(queue: number, pieces: readonly Uint8Array[]): boolean {
    checkQueue(this.kind, queue, this.queuePairs);
    const tq = this.device.queues[queue]!;
    if (this.#closed || !tq.enabled || !this.#linkUp || pieces.length === 0 || pieces.length > IOV_MAX) {
      this.stats.txDropped[queue]!++;
      return true;
    }
    let n: number;
    try {
      if (pieces.length === 1) {
        n = tq.write(pieces[0]!);
      } else {
        const iov = this.#iov.clear();
        for (const p of pieces) iov.add(this.#wholeView(p), p.byteOffset, p.byteLength);
        n = tq.writev(iov);
      }
    } catch (err) {
      // EIO (interface down), EINVAL (a malformed vnet header from the guest): the frame is lost, as on a NIC.
      this.stats.txDropped[queue]!++;
      this.#report(queue, err);
      return true;
    }
    if (n >= 0) return true;
    this.#wantWritable[queue] = true;
    this.#updatePoller(queue);
    return false;
  }

  pause(queue: number): void {
    checkQueue(this.kind, queue, this.queuePairs);
    if (!this.#reading[queue]) return;
    this.#reading[queue] = false;
    this.#updatePoller(queue);
  }

  resume(queue: number): void {
    checkQueue(this.kind, queue, this.queuePairs);
    if (this.#reading[queue]) return;
    this.#reading[queue] = true;
    if (this.#pollers[queue] === undefined) this.#startPoller(queue);
    else this.#updatePoller(queue);
  }

  setOffloads(offloads: NetOffloads): void {
    if (this.#closed || !this.hasVnetHdr) return;
    const flags = tunOffloadFlags(offloads);
    try {
      this.device.setOffload(flags);
    } catch (err) {
      // QEMU retries without UFO, which newer kernels may refuse.
      if (flags & TUN_F_UFO) {
        try {
          this.device.setOffload(flags & ~TUN_F_UFO);
          return;
        } catch {
          // report the first failure below
        }
      }
      this.#report(undefined, err);
    }
  }

  setVnetHdrLen(len: number): void {
    if (this.#closed || !this.hasVnetHdr) return;
    try {
      this.device.setVnetHdrSize(len);
    } catch (err) {
      this.#report(undefined, err);
    }
  }

  setQueueEnabled(queue: number, enabled: boolean): void {
    checkQueue(this.kind, queue, this.queuePairs);
    const tq = this.device.queues[queue]!;
    if (this.#closed || tq.enabled === enabled) return;
    // A poll on a detached queue reports an error: stop watching before detaching.
    this.#stopPoller(queue);
    try {
      if (enabled) tq.enable();
      else tq.disable();
    } catch (err) {
      this.#report(queue, err);
    }
    if (tq.enabled) this.#startPoller(queue);
  }

  setLinkUp(up: boolean): void {
    this.#linkUp = up;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (let q = 0; q < this.queuePairs; q++) this.#stopPoller(q);
    this.#client = undefined;
    this.device.close();
  }

  #events(queue: number): number {
    return (this.#reading[queue] ? POLL_READABLE : 0) | (this.#wantWritable[queue] ? POLL_WRITABLE : 0);
  }

  #startPoller(queue: number): void {
    if (this.#closed || this.#client === undefined || !this.device.queues[queue]!.enabled) return;
    try {
      this.#pollers[queue] = FdPoller.start(this.device.queues[queue]!.fd, this.#events(queue), (events, error) => this.#onPoll(queue, events, error));
    } catch (err) {
      this.#report(queue, err);
    }
  }

  #stopPoller(queue: number): void {
    this.#pollers[queue]?.stop();
    this.#pollers[queue] = undefined;
  }

  #updatePoller(queue: number): void {
    const poller = this.#pollers[queue];
    if (poller === undefined) return;
    try {
      poller.update(this.#events(queue));
    } catch (err) {
      this.#pollers[queue] = undefined;
      this.#report(queue, err);
    }
  }

  #onPoll(queue: number, events: number, error: unknown): void {
    const client = this.#client;
    if (client === undefined) return;
    if (error !== undefined) {
      // The poller stopped itself; resume() or setQueueEnabled() starts a new one.
      this.#pollers[queue] = undefined;
      this.#report(queue, error);
      return;
    }
    try {
      if (events & POLL_WRITABLE && this.#wantWritable[queue]) {
        this.#wantWritable[queue] = false;
        this.#updatePoller(queue);
        client.txReady(queue);
      }
      if (events & POLL_READABLE && this.#reading[queue]) client.rxReady(queue);
    } catch (err) {
      // A client that throws would otherwise be an uncaught exception of the event loop.
      this.#report(queue, err);
    }
  }

  #wholeView(piece: Uint8Array): Uint8Array {
    let whole = this.#wholeViews.get(piece.buffer);
    if (whole === undefined) {
      whole = new Uint8Array(piece.buffer);
      this.#wholeViews.set(piece.buffer, whole);
    }
    return whole;
  }

  #report(queue: number | undefined, err: unknown): void {
    try {
      this.#client?.backendError(queue, err);
    } catch {
      // nothing more to do: the client's own error path failed
    }
  }
}

/** QEMU's tap_probe_has_ufo: does TUNSETOFFLOAD accept CSUM|UFO? Leaves offloads off. */
function probeUfo(device: TapDevice): boolean {
  let ok: boolean;
  try {
    device.setOffload(TUN_F_CSUM | TUN_F_UFO);
    ok = true;
  } catch {
    ok = false;
  }
  try {
    device.setOffload(0);
  } catch {
    // offloads stay as they were; the device sets them at feature negotiation
  }
  return ok;
}
