/**
 * One vring as the vhost-user backend sees it (vhost-user.rst "Ring states"):
 *
 *   stopped ──(addr, kick fd; memory mapped)──▶ started ──SET_VRING_ENABLE 1──▶ started-enabled
 *      ▲                                           │                                 │
 *      └──────────────── GET_VRING_BASE (returns the next avail index) ◀─────────────┘
 *
 * A started ring owns a SplitQueue over the mapped guest RAM, built from the
 * translated ring addresses, with last_avail_idx from SET_VRING_BASE and the
 * used index read from the ring itself (the driver's view is the truth after
 * a migration). Only a started-enabled ring moves frames.
 */

import { EventFd, FdPoller, POLL_READABLE } from '../host/index.vmm.js';
import type { GuestMemory } from '../memory/index.js';
import { SplitQueue } from '../virtio/index.js';
import type { VringAddr } from '../backends/index.js';

export class Vring {
  readonly index: number;
  num = 0;
  base = 0;
  addr: VringAddr | undefined;
  enabled = false;
  /** A guest error stopped this ring until the frontend sets it up again. */
  broken = false;
  queue: SplitQueue | undefined;
  #kick: EventFd | undefined;
  #kickPoller: FdPoller | undefined;
  #call: EventFd | undefined;
  #baseSet = false;

  constructor(index: number) {
    this.index = index;
  }

  get started(): boolean {
    return this.queue !== undefined;
  }

  get ready(): boolean {
    return this.queue !== undefined && this.enabled && !this.broken;
  }

  /** Adopt the kick eventfd (closing any previous one); `onKick` runs on each doorbell. */
  setKick(fd: number, onKick: () => void): void {
    this.#stopKick();
    const kick = EventFd.adopt(fd);
    this.#kick = kick;
    this.#kickPoller = FdPoller.start(kick.fd, POLL_READABLE, () => {
      kick.read();
      onKick();
    });
  }

  /** Adopt the call eventfd (undefined: none); the previous one is closed once the new one is taken. */
  setCall(fd: number | undefined): void {
    const call = fd === undefined ? undefined : EventFd.adopt(fd);
    this.#call?.close();
    this.#call = call;
  }

  /** The guest's interrupt for this ring (irqfd-like: the frontend relays it). */
  signal(): void {
    this.#call?.write();
  }

  /**
   * Start the ring over `memory` at gpa addresses already translated.
   * @throws VirtqueueError for a layout the memory cannot hold
   */
  start(memory: GuestMemory, gpa: { desc: number; avail: number; used: number }): void {
    const queue = new SplitQueue(memory, { size: this.num, descAddr: gpa.desc, availAddr: gpa.avail, usedAddr: gpa.used, eventIdx: false });
    // Without a SET_VRING_BASE since the last stop, the ring starts where the
    // driver's used index is (DPDK does the same); a frontend that prepares
    // rings early sends the base later, before enabling them (setBase).
    queue.takeOver(this.#baseSet ? this.base : undefined);
    this.queue = queue;
    this.broken = false;
  }

  /**
   * SET_VRING_BASE: the next avail index. A started ring re-reads its used
   * index from the ring too: guest RAM may have changed since it started (a
   * migration's pages arrive after the setup phase started it).
   */
  setBase(base: number): void {
    this.base = base;
    this.#baseSet = true;
    this.queue?.takeOver(base);
  }

  /** Rebuild the queue over other memory (the dirty log arrived), same indices. */
  remap(memory: GuestMemory): void {
    if (this.queue) this.queue = SplitQueue.fromState(memory, this.queue.getState());
  }

  /** GET_VRING_BASE: stop and return the next avail index to process. */
  stop(): number {
    const base = this.queue?.lastAvailIdx ?? this.base;
    this.queue = undefined;
    this.base = base;
    this.#baseSet = false;
    this.#stopKick();
    return base;
  }

  close(): void {
    this.stop();
    this.setCall(undefined);
  }

  #stopKick(): void {
    this.#kickPoller?.stop();
    this.#kickPoller = undefined;
    this.#kick?.close();
    this.#kick = undefined;
  }
}
