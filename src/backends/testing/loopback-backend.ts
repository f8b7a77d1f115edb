/**
 * LoopbackBackend: an in-memory NetBackend for tests (not exported from
 * backends/index.ts). It behaves like the TAP backend as a device sees it —
 * level-triggered rxReady on a later event-loop turn while frames wait and
 * reading is resumed, send() returning false while a queue is "full" and
 * txReady once it drains — and it records everything the device asked of it
 * (offloads, vnet header length, queue enables, link, pause/resume) so tests
 * can assert on it.
 *
 *   test                     LoopbackBackend                device
 *   inject(q, frame) ──────▶ rx fifo[q] ──(setImmediate)──▶ rxReady(q) ─▶ receive(q, buf)
 *   sent[]           ◀────── send(q, pieces) copies ◀─────── TX
 *   setTxFull(q, true)       send → false … setTxFull(q, false) ─▶ txReady(q)
 *
 * With `echo`, every frame sent on queue q comes back on queue q's RX (a
 * wire looped back), which is what makes it a loopback.
 */

import { BackendError, checkQueue } from '../backend-error.js';
import { VNET_HDR_LEN } from '../net-backend.js';
import type { NetBackend, NetBackendClient, NetOffloads } from '../net-backend.js';

export interface LoopbackOptions {
  queuePairs?: number;
  hasVnetHdr?: boolean;
  hasUfo?: boolean;
  /** Frames sent on queue q are received on queue q. */
  echo?: boolean;
}

export interface SentFrame {
  queue: number;
  /** Header and frame, copied out of guest memory when sent. */
  bytes: Uint8Array;
}

export class LoopbackBackend implements NetBackend {
  readonly kind = 'loopback';
  readonly queuePairs: number;
  readonly hasVnetHdr: boolean;
  readonly hasUfo: boolean;
  readonly echo: boolean;
  /** Frames the device sent, in order. */
  readonly sent: SentFrame[] = [];
  /** Calls the device made that change backend state, as strings ("offloads csum,tso4", "queue 1 off", …). */
  readonly log: string[] = [];
  offloads: NetOffloads | undefined;
  vnetHdrLen = VNET_HDR_LEN;
  linkUp = true;
  readonly queueEnabled: boolean[];
  readonly reading: boolean[];
  client: NetBackendClient | undefined;
  closed = false;
  readonly #rx: Uint8Array[][];
  readonly #txFull: boolean[];
  readonly #txBlocked: boolean[];
  readonly #signalPending: boolean[];

  constructor(options: LoopbackOptions = {}) {
    const n = options.queuePairs ?? 1;
    if (!Number.isInteger(n) || n < 1 || n > 256) throw new BackendError('ERR_BACKEND_BAD_OPTION', `queuePairs must be 1..256, not ${n}`, { queuePairs: n });
    this.queuePairs = n;
    this.hasVnetHdr = options.hasVnetHdr ?? true;
    this.hasUfo = options.hasUfo ?? true;
    this.echo = options.echo ?? false;
    this.queueEnabled = new Array<boolean>(n).fill(true);
    this.reading = new Array<boolean>(n).fill(false);
    this.#rx = Array.from({ length: n }, () => []);
    this.#txFull = new Array<boolean>(n).fill(false);
    this.#txBlocked = new Array<boolean>(n).fill(false);
    this.#signalPending = new Array<boolean>(n).fill(false);
  }

  /** Frames waiting on queue `queue` (not yet read by the device). */
  pending(queue: number): number {
    return this.#rx[queue]?.length ?? 0;
  }

  /** A frame (vnet header first) arrives from the "wire" on queue `queue`. */
  inject(queue: number, frame: Uint8Array): void {
    checkQueue(this.kind, queue, this.queuePairs);
    this.#rx[queue]!.push(frame.slice());
    this.#signal(queue);
  }

  /** Make queue `queue` refuse sends (false) until cleared; clearing signals txReady if a send was refused. */
  setTxFull(queue: number, full: boolean): void {
    checkQueue(this.kind, queue, this.queuePairs);
    this.#txFull[queue] = full;
    if (!full && this.#txBlocked[queue]) {
      this.#txBlocked[queue] = false;
      setImmediate(() => {
        if (!this.closed) this.client?.txReady(queue);
      });
    }
  }

  attach(client: NetBackendClient): void {
    if (this.closed) throw new BackendError('ERR_BACKEND_CLOSED', 'the loopback backend is closed');
    if (this.client) throw new BackendError('ERR_BACKEND_ATTACHED', 'the loopback backend already serves a device');
    this.client = client;
  }

  receive(queue: number, target: Uint8Array): number {
    checkQueue(this.kind, queue, this.queuePairs);
    const frame = this.#rx[queue]!.shift();
    if (frame === undefined) return -1;
    const n = Math.min(frame.length, target.length);
    target.set(frame.subarray(0, n));
    return n;
  }

  send(queue: number, pieces: readonly Uint8Array[]): boolean {
    checkQueue(this.kind, queue, this.queuePairs);
    if (this.#txFull[queue]) {
      this.#txBlocked[queue] = true;
      return false;
    }
    let len = 0;
    for (const p of pieces) len += p.length;
    const bytes = new Uint8Array(len);
    let at = 0;
    for (const p of pieces) {
      bytes.set(p, at);
      at += p.length;
    }
    this.sent.push({ queue, bytes });
    if (this.echo) this.inject(queue, bytes);
    return true;
  }

  pause(queue: number): void {
    checkQueue(this.kind, queue, this.queuePairs);
    this.reading[queue] = false;
  }

  resume(queue: number): void {
    checkQueue(this.kind, queue, this.queuePairs);
    this.reading[queue] = true;
    this.#signal(queue);
  }

  setOffloads(offloads: NetOffloads): void {
    this.offloads = { ...offloads };
    const on = Object.entries(offloads).filter(([, v]) => v).map(([k]) => k);
    this.log.push(`offloads ${on.join(',') || 'none'}`);
  }

  setVnetHdrLen(len: number): void {
    this.vnetHdrLen = len;
    this.log.push(`vnet_hdr_len ${len}`);
  }

  setQueueEnabled(queue: number, enabled: boolean): void {
    checkQueue(this.kind, queue, this.queuePairs);
    if (this.queueEnabled[queue] !== enabled) this.log.push(`queue ${queue} ${enabled ? 'on' : 'off'}`);
    this.queueEnabled[queue] = enabled;
  }

  setLinkUp(up: boolean): void {
    this.linkUp = up;
    this.log.push(`link ${up ? 'up' : 'down'}`);
  }

  close(): void {
    this.closed = true;
    this.client = undefined;
  }

  /** Level-triggered readiness, always on a later turn (a backend never re-enters the device). */
  #signal(queue: number): void {
    if (this.#signalPending[queue]) return;
    this.#signalPending[queue] = true;
    setImmediate(() => {
      this.#signalPending[queue] = false;
      if (this.closed || !this.reading[queue] || this.#rx[queue]!.length === 0) return;
      this.client?.rxReady(queue);
      if (this.reading[queue] && this.#rx[queue]!.length > 0) this.#signal(queue);
    });
  }
}
