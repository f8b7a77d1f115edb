/**
 * A Linux TAP device opened multi-queue: the `tap` net backend (DESIGN §4,
 * QEMU's vhost=off datapath). Each virtio-net queue pair gets its own
 * /dev/net/tun fd (IFF_MULTI_QUEUE), so the kernel spreads the device's
 * traffic over them and each queue's RX/TX never contend with another's.
 * With IFF_VNET_HDR every frame starts with a virtio_net_hdr, the same bytes
 * the guest's driver reads and writes, so frames move between a TAP queue and
 * guest RAM with no translation; 12 bytes (with num_buffers) for a VERSION_1
 * or MRG_RXBUF guest, set with `setVnetHdrSize(12)`.
 *
 * Everything is non-blocking: `read`/`write` return -1 when the queue is
 * empty or full; wait with an FdPoller on `queue.fd`. Reading straight into
 * guest RAM: pass a view of the guest RAM SharedArrayBuffer, or an IoVec of
 * the pieces of a descriptor chain to `readv`/`writev`.
 *
 * The device is not persistent: it disappears when `close()` closes its last
 * fd. Moving it to another network namespace (`ip link set NAME netns NS`)
 * leaves the fds working.
 */

import { VmigError } from '../core/index.js';
import { fdClosedError, withContext } from './host-errors.js';
import type { IoVec } from './io-vec.js';
import { native } from './native.js';
import type { NativeAddon } from './native.js';

// TUNSETOFFLOAD bits (linux/if_tun.h): what the reader of the TAP accepts, i.e.
// which offloads the kernel may leave for the vnet header to describe.
/** Partially checksummed packets (VIRTIO_NET_HDR_F_NEEDS_CSUM). Required by every other bit. */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
/** TSO with ECN; only together with TSO4 or TSO6. */
export const TUN_F_TSO_ECN = 0x08;
export const TUN_F_UFO = 0x10;
/** UDP segmentation offload (kernel 6.2+). */
export const TUN_F_USO4 = 0x20;
export const TUN_F_USO6 = 0x40;

const TUN_F_ALL = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_UFO | TUN_F_USO4 | TUN_F_USO6;

// TUNSETIFF flags, as TUNGETIFF reports them.
export const IFF_TAP = 0x0002;
export const IFF_NO_PI = 0x1000;
export const IFF_VNET_HDR = 0x4000;
export const IFF_MULTI_QUEUE = 0x0100;

/** The kernel's limit on queues per TAP device (MAX_TAP_QUEUES). */
export const TAP_MAX_QUEUES = 256;
/** Longest interface name (IFNAMSIZ - 1 bytes). */
export const IFNAME_MAX = 15;
/** struct virtio_net_hdr: the kernel's default vnet header size. */
export const VIRTIO_NET_HDR_SIZE = 10;
/** struct virtio_net_hdr_mrg_rxbuf: with num_buffers, for VERSION_1 or MRG_RXBUF guests. */
export const VIRTIO_NET_HDR_MRG_RXBUF_SIZE = 12;

export interface TapOpenOptions {
  /** Device name, or a pattern like "vm%d"; default "" (the kernel picks tapN). At most 15 bytes. */
  ifname?: string;
  /** Number of queues (one per virtio-net queue pair), 1 to 256; default 1. */
  queues?: number;
  /** IFF_VNET_HDR: frames carry a virtio_net_hdr; default true. */
  vnetHdr?: boolean;
}

export class TapDevice {
  /** The device's actual name (the kernel fills in a pattern). */
  readonly ifname: string;
  readonly vnetHdr: boolean;
  /** One per queue pair, in order; all enabled after open. */
  readonly queues: readonly TapQueue[];
  #closed = false;

  private constructor(ifname: string, vnetHdr: boolean, fds: readonly number[], addon: NativeAddon) {
    this.ifname = ifname;
    this.vnetHdr = vnetHdr;
    this.queues = Object.freeze(fds.map((fd, index) => new TapQueue(this, index, fd, addon)));
  }

  /**
   * Creates the device (or attaches to an existing multi-queue one of that
   * name) with `queues` queues, IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE
   * (+ IFF_VNET_HDR). Needs CAP_NET_ADMIN.
   * @throws VmigError ERR_HOST_INVALID_ARG_TYPE / ERR_HOST_OUT_OF_RANGE for bad
   *   options, ERR_HOST_SYSCALL_FAILED when the kernel refuses (EPERM: not
   *   privileged; EBUSY or EINVAL: the name is taken by a device with other flags)
   */
  static open(options: TapOpenOptions = {}): TapDevice {
    const { ifname = '', queues = 1, vnetHdr = true } = options;
    const addon = native();
    let opened: { ifname: string; fds: number[] };
    try {
      opened = addon.tapOpen(ifname, queues, vnetHdr);
    } catch (err) {
      throw withContext(err, `cannot open TAP "${ifname}" with ${queues} queue(s)`, { ifname, queues });
    }
    return new TapDevice(opened.ifname, vnetHdr, opened.fds, addon);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * TUNSETOFFLOAD: which offloads the reader (the guest) accepts; a
   * combination of TUN_F_* bits, 0 for none. TSO/UFO/USO need TUN_F_CSUM (the
   * kernel refuses otherwise). Needs vnet headers: without them an offloaded
   * frame would arrive with nothing describing it.
   * @throws VmigError ERR_HOST_TAP_NO_VNET_HDR, ERR_HOST_OUT_OF_RANGE, ERR_HOST_SYSCALL_FAILED (EINVAL)
   */
  setOffload(flags: number): void {
    if (typeof flags !== 'number') {
      throw new VmigError('ERR_HOST_INVALID_ARG_TYPE', `offload flags must be a number of TUN_F_* bits, got ${typeof flags}`);
    }
    if (!Number.isInteger(flags) || flags < 0 || (flags & ~TUN_F_ALL) !== 0) {
      throw new VmigError('ERR_HOST_OUT_OF_RANGE', `offload flags must be a combination of the TUN_F_* bits, got ${flags}`, {
        details: { flags },
      });
    }
    if (flags !== 0 && !this.vnetHdr) {
      throw new VmigError(
        'ERR_HOST_TAP_NO_VNET_HDR',
        `TAP ${this.ifname} was opened without vnet headers, so it cannot take offloads; open it with vnetHdr: true`,
        { details: { ifname: this.ifname, flags } },
      );
    }
    this.#control((addon, fd) => addon.tapSetOffload(fd, flags), 'set offloads on');
  }

  /**
   * TUNSETVNETHDRSZ: 10 (virtio_net_hdr) or 12 (virtio_net_hdr_mrg_rxbuf,
   * what a VERSION_1 or MRG_RXBUF guest uses). For the whole device.
   */
  setVnetHdrSize(size: number): void {
    if (size !== VIRTIO_NET_HDR_SIZE && size !== VIRTIO_NET_HDR_MRG_RXBUF_SIZE) {
      throw new VmigError(
        'ERR_HOST_OUT_OF_RANGE',
        `a vnet header is ${VIRTIO_NET_HDR_SIZE} or ${VIRTIO_NET_HDR_MRG_RXBUF_SIZE} bytes, got ${String(size)}`,
        { details: { size } },
      );
    }
    this.#control((addon, fd) => addon.tapSetVnetHdrSize(fd, size), 'set the vnet header size of');
  }

  /** TUNGETVNETHDRSZ: the current vnet header size (the kernel's default is 10). */
  get vnetHdrSize(): number {
    return this.#control((addon, fd) => addon.tapGetVnetHdrSize(fd), 'get the vnet header size of');
  }

  /** TUNGETIFF flags (IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE | IFF_VNET_HDR ...). */
  get flags(): number {
    return this.#control((addon, fd) => addon.tapGetIff(fd).flags, 'get the flags of');
  }

  /**
   * Closes every queue's fd; the device disappears with the last one.
   * Idempotent. Stop the queues' pollers first.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    let failure: unknown;
    for (const queue of this.queues) {
      try {
        queue.closeFd();
      } catch (err) {
        failure ??= err;
      }
    }
    if (failure !== undefined) throw failure;
  }

  // Device-wide ioctls go through an attached queue when there is one: older
  // kernels refuse them on a detached queue (EBADFD); current ones do not.
  #control<T>(call: (addon: NativeAddon, fd: number) => T, what: string): T {
    if (this.#closed) throw closedError(this.ifname);
    const queue = this.queues.find((q) => q.enabled) ?? this.queues[0]!;
    try {
      return call(queue.addon, queue.fd);
    } catch (err) {
      throw withContext(err, `cannot ${what} TAP ${this.ifname}`, { ifname: this.ifname });
    }
  }
}

/**
 * One queue (one fd) of a TapDevice. `read`/`write` move one whole frame per
 * call, vnet header first when the device has them.
 */
export class TapQueue {
  readonly device: TapDevice;
  readonly index: number;
  /** @internal the addon, cached: the frame path should not even look it up. */
  readonly addon: NativeAddon;
  #fd: number;
  #enabled = true;

  /** @internal made by TapDevice.open */
  constructor(device: TapDevice, index: number, fd: number, addon: NativeAddon) {
    this.device = device;
    this.index = index;
    this.#fd = fd;
    this.addon = addon;
  }

  /** The queue's fd, for an FdPoller. Valid until the device is closed. */
  get fd(): number {
    if (this.#fd < 0) throw closedError(this.device.ifname);
    return this.#fd;
  }

  /** Attached (TUNSETQUEUE): gets traffic, and read/write work. */
  get enabled(): boolean {
    return this.#enabled;
  }

  /**
   * Reads one frame into bytes [offset, offset + length) of `view`: its
   * length, or -1 when the queue is empty. A frame longer than `length` is
   * truncated (the rest is dropped), so offer room for the largest one.
   */
  read(view: ArrayBufferView, offset = 0, length = view.byteLength - offset): number {
    return this.addon.fdRead(this.fd, view, offset, length);
  }

  /** Writes one frame; its length, or -1 when the device's queue is full. */
  write(view: ArrayBufferView, offset = 0, length = view.byteLength - offset): number {
    return this.addon.fdWrite(this.fd, view, offset, length);
  }

  /** Reads one frame scattered over `iov` (a descriptor chain); its length, or -1. */
  readv(iov: IoVec): number {
    return this.addon.fdReadv(this.fd, iov.views, iov.table, iov.count);
  }

  /** Writes one frame gathered from `iov`; its length, or -1. */
  writev(iov: IoVec): number {
    return this.addon.fdWritev(this.fd, iov.views, iov.table, iov.count);
  }

  /** Re-attaches the queue (IFF_ATTACH_QUEUE). Idempotent. */
  enable(): void {
    this.#setEnabled(true);
  }

  /**
   * Detaches the queue (IFF_DETACH_QUEUE): the kernel stops steering traffic
   * to it and drops what was queued on it; the fd stays open for `enable()`.
   * Idempotent. (Older kernels also fail read/write on a detached queue with
   * EBADFD, and report POLLERR to its poller, so stop the poller first.)
   */
  disable(): void {
    this.#setEnabled(false);
  }

  /** @internal used by TapDevice.close */
  closeFd(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    this.addon.closeFd(fd);
  }

  #setEnabled(enabled: boolean): void {
    if (this.#enabled === enabled) return;
    try {
      this.addon.tapSetQueueEnabled(this.fd, enabled);
    } catch (err) {
      throw withContext(err, `cannot ${enabled ? 'enable' : 'disable'} queue ${this.index} of TAP ${this.device.ifname}`, {
        ifname: this.device.ifname,
        queue: this.index,
      });
    }
    this.#enabled = enabled;
  }
}

function closedError(ifname: string): VmigError {
  return fdClosedError(`TAP ${ifname}`, { ifname });
}
