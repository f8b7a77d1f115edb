/**
 * QueuePairs: the running side of virtio-net's queue pairs — when to move
 * frames, not how (datapath.ts copies them). QEMU's per-queue machinery
 * (hw/net/virtio-net.c) with the same decisions:
 *
 *   TX kick ─▶ tx_waiting = 1, kicks off, bottom half scheduled (virtio_net_handle_tx_bh)
 *   bottom half ─▶ flush ≤ burst chains ─▶ burst used up? reschedule : kicks on, flush once more
 *   backend full ─▶ chain given back, pair waits for txReady (QEMU's async_tx)
 *   rxReady(q) ─▶ read frames from backend queue q ─▶ RSS picks the pair ─▶ buffers?
 *       no buffers ─▶ hold the frame, pause backend queue q, ask the guest for a kick
 *       guest posts buffers (rx kick) ─▶ retry held frames, resume reading (qemu_flush_queued_packets)
 *
 * Reading from the backend is on exactly for the queues that can receive
 * (DRIVER_OK, running, active pair, rx ring set up) and hold nothing
 * (`updateReading`), so a stopped device reads nothing and loses nothing.
 */

import { NET_BUFSIZE } from '../../backends/index.js';
import { trace } from '../../core/index.js';
import type { NetBackend } from '../../backends/index.js';
import type { SplitQueue } from '../../virtio/index.js';
import { copyToRxQueue, flushTx } from './datapath.js';
import type { NetState } from './net-state.js';
import { FILTER_DROP } from './net-stats.js';
import type { NetQueueStats, RxDropReason } from './net-stats.js';
import { rssSelectQueue } from './rss.js';
import { rxFilter } from './rx-filter.js';
import { VIRTIO_NET_HDR_V1_SIZE, VIRTIO_NET_S_LINK_UP } from './spec-constants.js';

/** What the queue pairs need from their device. */
export interface PairHost {
  readonly net: NetState;
  readonly backend: NetBackend;
  readonly stats: readonly NetQueueStats[];
  readonly maxQueuePairs: number;
  readonly txBurst: number;
  readonly rxBurst: number;
  readonly driverOk: boolean;
  readonly quiesced: boolean;
  readonly broken: boolean;
  schedule(fn: () => void): void;
  queue(index: number): SplitQueue | undefined;
  notifyQueue(index: number): void;
  guestError(err: unknown): void;
  backendCall<T>(fn: () => T): T | undefined;
  /** Run a deferred step with the device's error handling. */
  guard(fn: () => void): void;
}

export class QueuePairs {
  readonly #h: PairHost;
  /** Bumped by reset/load/close: bottom halves scheduled before it do nothing. */
  #epoch = 0;
  readonly #txScheduled: boolean[];
  /** The backend refused a frame of this pair; waiting for txReady (QEMU async_tx). */
  readonly #txBusy: boolean[];
  /** Per backend queue: a frame read but not placed yet (the guest had no buffers). */
  readonly #held: (Uint8Array | undefined)[];
  readonly #scratch: (Uint8Array | undefined)[];
  /** What the backend was last told per queue (resume = true). */
  readonly #reading: boolean[];
  /** Trace the first frame each way after an unquiesce (armFirstTrace). */
  #firstRx = false;
  #firstTx = false;
  #firstRead = false;

  constructor(host: PairHost) {
    this.#h = host;
    const n = host.maxQueuePairs;
    this.#txScheduled = new Array<boolean>(n).fill(false);
    this.#txBusy = new Array<boolean>(n).fill(false);
    this.#held = new Array<Uint8Array | undefined>(n).fill(undefined);
    this.#scratch = new Array<Uint8Array | undefined>(n).fill(undefined);
    this.#reading = new Array<boolean>(n).fill(false);
  }

  /** Forget runtime state (device reset, load, close); scheduled work is void. */
  reset(): void {
    this.#epoch++;
    this.#held.fill(undefined);
    this.#txBusy.fill(false);
    this.#txScheduled.fill(false);
  }

  /** Pair `p` left the queue layout (QEMU virtio_net_del_queue purges its packets). */
  removePair(p: number): void {
    this.#held[p] = undefined;
    this.#txBusy[p] = false;
  }

  get #linkUp(): boolean {
    return (this.#h.net.status & VIRTIO_NET_S_LINK_UP) !== 0;
  }

  /** A pair moves traffic: DRIVER_OK, link up, running, active (QEMU virtio_net_started per queue). */
  #started(p: number): boolean {
    const h = this.#h;
    return h.driverOk && this.#linkUp && !h.quiesced && !h.broken && this.#active(p);
  }

  #active(p: number): boolean {
    return p < this.#h.net.currQueuePairs && (this.#h.net.multiqueue || p === 0);
  }

  /** QEMU virtio_net_set_status: restart what waited on started pairs; drop parked TX when the link went down. */
  setStatus(): void {
    const h = this.#h;
    for (let p = 0; p < h.maxQueuePairs; p++) {
      if (!h.net.txWaiting[p]) continue;
      if (this.#started(p)) {
        this.#scheduleTx(p);
      } else if (!this.#linkUp && h.driverOk && !h.quiesced && this.#active(p)) {
        h.net.txWaiting[p] = 0;
        h.queue(2 * p + 1)?.enableNotification();
        this.#dropTx(p);
      }
    }
    this.retryHeld();
  }

  // ------------------------------------------------------------ TX

  /** The guest kicked tx vq 2p+1 (QEMU virtio_net_handle_tx_bh). */
  txKick(p: number): void {
    const h = this.#h;
    if (!this.#linkUp) {
      if (!h.quiesced) this.#dropTx(p);
      return;
    }
    if (h.net.txWaiting[p]) return;
    h.net.txWaiting[p] = 1;
    if (h.quiesced) return; // parked: migrated as tx_waiting, resumed by setStatus()
    h.queue(2 * p + 1)?.disableNotification();
    this.#scheduleTx(p);
  }

  /** The backend can take frames of pair `p` again (QEMU virtio_net_tx_complete). */
  txReady(p: number): void {
    const h = this.#h;
    if (p >= h.maxQueuePairs || !this.#txBusy[p]) return;
    this.#txBusy[p] = false;
    if (h.quiesced) {
      h.net.txWaiting[p] = 1;
      return;
    }
    const vq = h.queue(2 * p + 1);
    vq?.enableNotification();
    const r = this.#flushTx(p);
    if (typeof r === 'number' && r >= h.txBurst) {
      vq?.disableNotification();
      h.net.txWaiting[p] = 1;
      this.#scheduleTx(p);
    }
  }

  #scheduleTx(p: number): void {
    if (this.#txScheduled[p]) return;
    this.#txScheduled[p] = true;
    const epoch = this.#epoch;
    this.#h.schedule(() => {
      if (epoch !== this.#epoch) return;
      this.#txScheduled[p] = false;
      this.#h.guard(() => this.#txBh(p));
    });
  }

  /** QEMU virtio_net_tx_bh. */
  #txBh(p: number): void {
    const h = this.#h;
    // Stopped VM, or a pair deactivated meanwhile (QEMU cancels the bh): tx_waiting stays set.
    if (!this.#started(p)) return;
    h.net.txWaiting[p] = 0;
    let r = this.#flushTx(p);
    if (typeof r !== 'number') return;
    if (r >= h.txBurst) {
      h.net.txWaiting[p] = 1;
      this.#scheduleTx(p);
      return;
    }
    // Less than a burst: kicks back on, then catch what came in meanwhile.
    const vq = h.queue(2 * p + 1);
    vq?.enableNotification();
    r = this.#flushTx(p);
    if (typeof r === 'number' && r > 0) {
      vq?.disableNotification();
      h.net.txWaiting[p] = 1;
      this.#scheduleTx(p);
    }
  }

  /** QEMU virtio_net_flush_tx: chains completed, or 'busy' (backend full) / 'error' (guest error). */
  #flushTx(p: number): number | 'busy' | 'error' {
    const h = this.#h;
    const vq = h.queue(2 * p + 1);
    if (!h.driverOk || !vq || h.broken) return 0;
    if (this.#txBusy[p]) {
      vq.disableNotification();
      return 'busy';
    }
    const send = this.#linkUp ? (pieces: Uint8Array[]) => h.backendCall(() => h.backend.send(p, pieces)) ?? true : undefined;
    let res;
    try {
      res = flushTx(vq, send, h.txBurst);
    } catch (err) {
      h.guestError(err);
      return 'error';
    }
    const st = h.stats[p]!;
    st.txPackets += res.completed - res.dropped;
    if (this.#firstTx && res.completed > res.dropped) {
      this.#firstTx = false;
      trace('net_first_tx', p);
    }
    st.txBytes += res.bytes;
    st.txDropped['link-down'] += res.dropped;
    if (res.completed > 0) h.notifyQueue(2 * p + 1);
    if (res.busy) {
      this.#txBusy[p] = true;
      vq.disableNotification();
      return 'busy';
    }
    return res.completed;
  }

  /** QEMU virtio_net_drop_tx_queue_data: complete every waiting TX chain unsent (link down). */
  #dropTx(p: number): void {
    const h = this.#h;
    const vq = h.queue(2 * p + 1);
    if (!vq || h.broken) return;
    try {
      const res = flushTx(vq, undefined, 0x10000);
      h.stats[p]!.txDropped['link-down'] += res.dropped;
      if (res.completed > 0) h.notifyQueue(2 * p + 1);
    } catch (err) {
      h.guestError(err);
    }
  }

  // ------------------------------------------------------------ RX

  /** QEMU virtio_net_can_receive for pair `p`. */
  #canReceive(p: number): boolean {
    const h = this.#h;
    return !h.quiesced && !h.broken && h.driverOk && p < h.net.currQueuePairs && h.queue(2 * p) !== undefined;
  }

  /** Tell the backend which queues to read: those that can receive and hold nothing. */
  /** The next frame each way is traced (net_first_rx / net_first_tx): the device runs again. */
  armFirstTrace(): void {
    this.#firstRx = true;
    this.#firstTx = true;
    this.#firstRead = true;
  }

  updateReading(): void {
    const h = this.#h;
    for (let q = 0; q < h.maxQueuePairs; q++) {
      const want = this.#canReceive(q) && this.#held[q] === undefined;
      if (want === this.#reading[q]) continue;
      this.#reading[q] = want;
      h.backendCall(() => (want ? h.backend.resume(q) : h.backend.pause(q)));
    }
  }

  /** Frames held for lack of buffers get another chance (QEMU qemu_flush_queued_packets). */
  retryHeld(): void {
    for (let q = 0; q < this.#h.maxQueuePairs; q++) if (this.#held[q] !== undefined) this.rxReady(q);
    this.updateReading();
  }

  /** Frames wait on backend queue `q`: take up to a burst of them. */
  rxReady(q: number): void {
    const h = this.#h;
    if (q >= h.maxQueuePairs) return;
    if (!this.#canReceive(q)) {
      this.updateReading();
      return;
    }
    const notify = new Set<number>();
    for (let n = 0; n < h.rxBurst && !h.broken && !h.quiesced; n++) {
      let frame = this.#held[q];
      if (frame === undefined) {
        const buf = (this.#scratch[q] ??= new Uint8Array(NET_BUFSIZE));
        const len = h.backendCall(() => h.backend.receive(q, buf)) ?? -1;
        if (len < 0) break;
        frame = buf.subarray(0, len);
        if (this.#firstRead) {
          this.#firstRead = false;
          trace('net_first_read', q);
        }
      }
      if (this.#deliver(q, frame, notify) === 'hold') {
        if (this.#held[q] === undefined) h.stats[q]!.rxHeld++;
        this.#held[q] = frame; // a view of scratch[q], which is not read into while it is held
        break;
      }
      this.#held[q] = undefined;
    }
    for (const index of notify) h.notifyQueue(index);
    this.updateReading();
  }

  /** QEMU virtio_net_receive_rcu for one frame read from backend queue `q`. */
  #deliver(q: number, frame: Uint8Array, notify: Set<number>): 'done' | 'hold' {
    const h = this.#h;
    const drop = (reason: RxDropReason): 'done' => {
      h.stats[q]!.rxDropped[reason]++;
      return 'done';
    };
    if (frame.length < VIRTIO_NET_HDR_V1_SIZE) return drop('runt');
    if (!this.#linkUp) return drop('link-down');
    let pair = q;
    const rss = h.net.rss;
    if (rss.enabled) {
      // Software RSS (QEMU's fallback without eBPF): the indirection table picks the pair.
      pair = rssSelectQueue({ hashTypes: rss.hashTypes, indirectionTable: rss.table, defaultQueue: rss.defaultQueue, key: rss.key }, frame, VIRTIO_NET_HDR_V1_SIZE).queue;
      if (pair !== q && (pair >= h.maxQueuePairs || !this.#canReceive(pair))) return drop('rss-queue');
    }
    const vq = h.queue(2 * pair)!;
    // QEMU looks for buffers before filtering: a frame waits for buffers even if it will be dropped.
    if (vq.availableCount() === 0 && !vq.enableNotification()) return 'hold';
    const verdict = rxFilter(h.net.filter, frame, VIRTIO_NET_HDR_V1_SIZE);
    if (verdict !== 'accept') return drop(FILTER_DROP[verdict]!);
    for (let attempt = 0; attempt < 2; attempt++) {
      let res;
      try {
        res = copyToRxQueue(vq, frame, h.net.mergeableRxBufs !== 0);
      } catch (err) {
        h.guestError(err);
        return drop('error');
      }
      if (res.kind === 'delivered') {
        const st = h.stats[pair]!;
        st.rxPackets++;
        if (this.#firstRx) {
          this.#firstRx = false;
          trace('net_first_rx', pair);
        }
        st.rxBytes += frame.length - VIRTIO_NET_HDR_V1_SIZE;
        notify.add(2 * pair);
        return 'done';
      }
      if (res.kind === 'too-big') return drop('too-big');
      // Not enough buffers: ask for a kick; if some arrived meanwhile, try once more.
      if (!vq.enableNotification()) return 'hold';
    }
    return 'hold';
  }
}
