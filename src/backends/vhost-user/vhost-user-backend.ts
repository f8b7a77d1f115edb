/**
 * The `vhost-user` NetBackend (QEMU's -netdev vhost-user): the datapath is a
 * vhost-user backend in another process (`vmig vhost-user-net`, DPDK's
 * net_vhost, …) that maps guest RAM and moves frames between the rings and
 * its own ports. The VMM keeps the control queue, relays doorbells into the
 * kick eventfds, turns call eventfds into interrupts, and starts and stops
 * the rings (ExternalDatapath, net-backend.ts).
 *
 *   prepare: SET_FEATURES (acked | PROTOCOL_FEATURES | LOG_ALL) ─ SET_MEM_TABLE (RAM memfd)
 *            ─ SET_LOG_BASE (the dirty bitmap's memfd) ─ per ring NUM, ADDR (LOG flag), KICK, CALL
 *   commit:  per ring SET_VRING_BASE ─ SET_VRING_ENABLE for the active pairs
 *   stop:    per ring GET_VRING_BASE
 *
 * Each batch is pipelined (vhost-user-frontend.ts) and awaited on the
 * backend's acks. Dirty logging is always on: vmig tracks dirty pages from
 * boot (the vCPUs mark them too), and the log *is* the VMM's dirty bitmap
 * (dirty-bitmap.ts), so the backend's writes need no sync step.
 *
 * Frames the VMM itself would send (the host-side RARP of an announce) go as
 * SEND_RARP, as QEMU's vhost_user_receive does for a 60-byte RARP; any other
 * frame is dropped (a vhost-user netdev has no path for them).
 */

import { monotonicMs, trace } from '../../core/index.js';
import { EventFd, FdPoller, POLL_READABLE, UnixSocket } from '../../host/index.vmm.js';
import type { GuestMemory } from '../../memory/index.js';
import { BackendError, checkQueue } from '../backend-error.js';
import type { ExternalDatapath, ExternalRing, NetBackend, NetBackendClient, NetOffloads } from '../net-backend.js';
import { VNET_HDR_LEN } from '../net-backend.js';
import { VhostUserFrontend } from './frontend.js';
import * as P from './protocol.js';

/**
 * The frontend's user address of guest-physical 0. Not a real mapping: a
 * backend only uses it to translate SET_VRING_ADDR's addresses (vmig's own
 * and DPDK's alike), so any stable value works.
 */
export const VHOST_USER_RAM_UADDR = 0x7f00_0000_0000n;

const ETH_P_RARP = 0x8035;

type BatchMessage = { request: number; payload?: Uint8Array; fds?: readonly number[] };
const RARP_FRAME_LEN = 60;

export class VhostUserBackend implements NetBackend, ExternalDatapath {
  readonly kind = 'vhost-user';
  readonly queuePairs: number;
  readonly hasVnetHdr = true;
  readonly hasUfo: boolean;
  readonly external: ExternalDatapath = this;
  readonly features: bigint;
  readonly #fe: VhostUserFrontend;
  readonly #memory: GuestMemory;
  readonly #kicks: EventFd[];
  readonly #calls: EventFd[];
  readonly #callPollers: FdPoller[];
  readonly #pairEnabled: boolean[];
  /** What the last SET_VRING_ENABLE written for each ring said. */
  readonly #sentEnabled: boolean[] = [];
  #client: NetBackendClient | undefined;
  #onCall: (index: number) => void = () => undefined;
  #prepared: { features: bigint; rings: readonly ExternalRing[] } | undefined;
  #running = false;
  #closed = false;
  /** The tail of the start/prepare/commit/stop sequence (#inOrder). */
  #steps: Promise<unknown> = Promise.resolve();
  /** Record trace events (not for a rehearsal's instance: its steps are not the VM's). */
  readonly #traced: boolean;

  /**
   * Connect to the backend at `path` (QEMU: -chardev socket,path=…,
   * -netdev vhost-user,queues=N) for `memory`'s RAM.
   * @throws VmigError (connect), VhostUserError, BackendError ERR_BACKEND_BAD_OPTION (the backend has fewer queues)
   */
  static connect(path: string, memory: GuestMemory, queues: number): Promise<VhostUserBackend> {
    return VhostUserBackend.over(UnixSocket.connect(path), path, memory, queues);
  }

  /** The same over a socket already connected (`path` labels it in messages). */
  static async over(socket: UnixSocket, path: string, memory: GuestMemory, queues: number, options: { traced?: boolean } = {}): Promise<VhostUserBackend> {
    if (!memory.region || !memory.dirtyLogRegion) {
      socket.close();
      throw new BackendError('ERR_BACKEND_BAD_OPTION', 'a vhost-user backend needs guest RAM in a memfd (GuestMemory.create)');
    }
    const fe = await VhostUserFrontend.over(socket, path);
    try {
      if (fe.queueNum !== undefined && fe.queueNum < queues) throw new BackendError('ERR_BACKEND_BAD_OPTION', `the vhost-user backend at ${path} serves ${fe.queueNum} queue pairs, the netdev asks for ${queues}`, { queues, backend: fe.queueNum });
      if (fe.queueNum === undefined && queues > 1) throw new BackendError('ERR_BACKEND_BAD_OPTION', `the vhost-user backend at ${path} has no multiqueue (PROTOCOL_F_MQ); the netdev asks for ${queues} queue pairs`, { queues });
      return new VhostUserBackend(fe, memory, queues, options.traced ?? true);
    } catch (err) {
      fe.close();
      throw err;
    }
  }

  private constructor(fe: VhostUserFrontend, memory: GuestMemory, queues: number, traced: boolean) {
    this.#fe = fe;
    this.#traced = traced;
    this.#memory = memory;
    this.queuePairs = queues;
    this.features = fe.features;
    this.hasUfo = (fe.features & (1n << 10n)) !== 0n; // VIRTIO_NET_F_GUEST_UFO
    const rings = 2 * queues;
    this.#kicks = Array.from({ length: rings }, () => EventFd.create());
    this.#calls = Array.from({ length: rings }, () => EventFd.create());
    this.#callPollers = this.#calls.map((call, i) =>
      FdPoller.start(call.fd, POLL_READABLE, () => {
        call.read();
        this.#onCall(i);
      }),
    );
    this.#pairEnabled = new Array<boolean>(queues).fill(true);
    fe.onClosed((error) => this.#client?.backendError(undefined, error));
  }

  get prepared(): { features: bigint; rings: readonly ExternalRing[] } | undefined {
    return this.#prepared;
  }

  get migrationBlocker(): string | undefined {
    // Pre-copy must see every page the backend writes (QEMU: "vhost lacks VHOST_F_LOG_ALL feature").
    if ((this.features & (1n << BigInt(P.VHOST_F_LOG_ALL))) === 0n) return `Migration disabled: the vhost-user backend at ${this.#fe.path} lacks VHOST_F_LOG_ALL`;
    if (!this.#fe.hasProtocolFeature(P.VHOST_USER_PROTOCOL_F_LOG_SHMFD)) return `Migration disabled: the vhost-user backend at ${this.#fe.path} lacks VHOST_USER_PROTOCOL_F_LOG_SHMFD (no shared dirty log)`;
    return undefined;
  }

  get running(): boolean {
    return this.#running;
  }

  // ------------------------------------------------------------ ExternalDatapath

  /**
   * The setup phase's part: awaited until the backend applied all of it, so
   * none of its work is left for the downtime.
   */
  prepare(features: bigint, rings: readonly ExternalRing[]): Promise<void> {
    return this.#inOrder(async () => {
      const batch = this.#prepareMessages(features, rings);
      const t0 = monotonicMs();
      await this.#fe.batch(batch).applied;
      this.#prepared = { features, rings: rings.map((r) => ({ ...r })) };
      this.#trace('vhost_user_prepared', monotonicMs() - t0);
    });
  }

  /**
   * The ring bases and enables, written and not waited for, as QEMU writes
   * SET_VRING_BASE and SET_VRING_ENABLE: a guest that runs before the backend
   * has read them finds its kicks waiting in the eventfds. The batch's ack is
   * checked after; a refusal reaches the device as a backend error.
   */
  commit(bases: readonly { index: number; base: number }[]): Promise<void> {
    return this.#inOrder(async () => {
      this.#checkOpen();
      const prepared = this.#prepared;
      if (!prepared) throw new BackendError('ERR_BACKEND_BAD_OPTION', 'vhost-user: commit() without prepare()');
      const t0 = monotonicMs();
      this.#started(this.#fe.batch(this.#commitMessages(prepared.rings, bases)), t0);
    });
  }

  /**
   * prepare and commit as one batch (a classic start, QEMU's
   * vhost_dev_start): awaited where QEMU waits (the memory table's ack, the
   * dirty log's reply), the rest written.
   */
  start(features: bigint, rings: readonly ExternalRing[], bases: readonly { index: number; base: number }[]): Promise<void> {
    return this.#inOrder(async () => {
      const batch = this.#prepareMessages(features, rings);
      const t0 = monotonicMs();
      const sent = this.#fe.batch([...batch, ...this.#commitMessages(rings, bases)]);
      await sent.written;
      this.#prepared = { features, rings: rings.map((r) => ({ ...r })) };
      this.#trace('vhost_user_prepared', monotonicMs() - t0);
      this.#started(sent, t0);
    });
  }

  /** The rings run from the backend's point of view once it reads what was written; enables that changed meanwhile follow. */
  #started(sent: { applied: Promise<void> }, t0: number): void {
    this.#running = true;
    this.#sendEnables();
    this.#trace('vhost_user_committed', monotonicMs() - t0);
    sent.applied.then(
      () => this.#trace('vhost_user_applied', monotonicMs() - t0),
      (err: unknown) => this.#client?.backendError(undefined, err),
    );
  }

  /** Everything but the ring bases: features, memory table, dirty log, ring sizes, addresses, kick and call fds. */
  #prepareMessages(features: bigint, rings: readonly ExternalRing[]): BatchMessage[] {
    this.#checkOpen();
    if (this.#running) throw new BackendError('ERR_BACKEND_BAD_OPTION', 'vhost-user: a start while the rings run; stop() first');
    for (const r of rings) checkQueue(this.kind, r.index, 2 * this.queuePairs);
    this.#prepared = undefined;
    const fe = this.#fe;
    const acked = (features & this.features) | (this.features & ((1n << BigInt(P.VHOST_USER_F_PROTOCOL_FEATURES)) | (1n << BigInt(P.VHOST_F_LOG_ALL))));
    const ram = this.#memory.region!;
    const log = this.#memory.dirtyLogRegion!;
    const logging = fe.hasProtocolFeature(P.VHOST_USER_PROTOCOL_F_LOG_SHMFD) && (acked & (1n << BigInt(P.VHOST_F_LOG_ALL))) !== 0n;
    const batch: BatchMessage[] = [
      { request: P.VHOST_USER_SET_FEATURES, payload: P.u64Payload(acked) },
      { request: P.VHOST_USER_SET_MEM_TABLE, payload: P.memTablePayload([{ guestPhysAddr: 0n, memorySize: BigInt(ram.byteLength), userspaceAddr: VHOST_USER_RAM_UADDR, mmapOffset: 0n }]), fds: [ram.fd] },
    ];
    if (logging) batch.push({ request: P.VHOST_USER_SET_LOG_BASE, payload: P.logAreaPayload({ mmapSize: BigInt(log.byteLength), mmapOffset: 0n }), fds: [log.fd] });
    const u = (gpa: number): bigint => VHOST_USER_RAM_UADDR + BigInt(gpa);
    for (const r of rings) {
      batch.push(
        { request: P.VHOST_USER_SET_VRING_NUM, payload: P.vringStatePayload({ index: r.index, num: r.size }) },
        { request: P.VHOST_USER_SET_VRING_ADDR, payload: P.vringAddrPayload({ index: r.index, flags: logging ? 1 << P.VHOST_VRING_F_LOG : 0, desc: u(r.desc), used: u(r.used), avail: u(r.avail), log: BigInt(r.used) }) },
        { request: P.VHOST_USER_SET_VRING_KICK, payload: P.u64Payload(BigInt(r.index)), fds: [this.#kicks[r.index]!.fd] },
        { request: P.VHOST_USER_SET_VRING_CALL, payload: P.u64Payload(BigInt(r.index)), fds: [this.#calls[r.index]!.fd] },
      );
    }
    return batch;
  }

  /** The ring bases, then the enables of the active pairs' rings. */
  #commitMessages(rings: readonly ExternalRing[], bases: readonly { index: number; base: number }[]): BatchMessage[] {
    return [
      ...bases.map((b) => ({ request: P.VHOST_USER_SET_VRING_BASE, payload: P.vringStatePayload({ index: b.index, num: b.base }) })),
      ...rings.map((r) => {
        const on = this.#pairEnabled[r.index >> 1] ?? false;
        this.#sentEnabled[r.index] = on;
        return { request: P.VHOST_USER_SET_VRING_ENABLE, payload: P.vringStatePayload({ index: r.index, num: on ? 1 : 0 }) };
      }),
    ];
  }

  stop(): Promise<{ running: boolean; bases: Map<number, number> }> {
    return this.#inOrder(async () => {
      this.#checkOpen();
      const prepared = this.#prepared;
      const running = this.#running;
      const bases = new Map<number, number>();
      this.#running = false;
      this.#prepared = undefined;
      if (!prepared) return { running, bases };
      const t0 = monotonicMs();
      const got = await Promise.all(prepared.rings.map((r) => this.#fe.getVringBase(r.index)));
      prepared.rings.forEach((r, i) => bases.set(r.index, got[i]!));
      this.#trace('vhost_user_stopped', monotonicMs() - t0);
      return { running, bases };
    });
  }

  /**
   * Starts, prepares, commits and stops run one after the other: a stop asked
   * while a start is on its way (a guest reset right after DRIVER_OK) then
   * stops what that start set up, instead of finding nothing to stop.
   */
  #inOrder<T>(step: () => Promise<T>): Promise<T> {
    const run = this.#steps.then(step, step);
    this.#steps = run.catch(() => undefined);
    return run;
  }

  kick(index: number): void {
    this.#kicks[index]?.write();
  }

  onCall(handler: (index: number) => void): void {
    this.#onCall = handler;
  }

  // ------------------------------------------------------------ NetBackend

  attach(client: NetBackendClient): void {
    if (this.#closed) throw new BackendError('ERR_BACKEND_CLOSED', 'the vhost-user backend is closed');
    if (this.#client) throw new BackendError('ERR_BACKEND_ATTACHED', 'the vhost-user backend already has a device');
    this.#client = client;
  }

  receive(queue: number): number {
    checkQueue(this.kind, queue, this.queuePairs);
    return -1;
  }

  send(queue: number, pieces: readonly Uint8Array[]): boolean {
    checkQueue(this.kind, queue, this.queuePairs);
    const frame = pieces.length === 2 && pieces[0]!.length === VNET_HDR_LEN ? pieces[1]! : undefined;
    if (frame && frame.length === RARP_FRAME_LEN && ((frame[12]! << 8) | frame[13]!) === ETH_P_RARP && this.#fe.hasProtocolFeature(P.VHOST_USER_PROTOCOL_F_RARP) && !this.#closed) {
      const mac = new Uint8Array(8);
      mac.set(frame.subarray(6, 12));
      this.#fe.set(P.VHOST_USER_SEND_RARP, mac).catch((err: unknown) => this.#client?.backendError(queue, err));
    }
    return true;
  }

  pause(queue: number): void {
    checkQueue(this.kind, queue, this.queuePairs);
  }

  resume(queue: number): void {
    checkQueue(this.kind, queue, this.queuePairs);
  }

  /** The offloads follow the acked features (SET_FEATURES); nothing to set apart. */
  setOffloads(_offloads: NetOffloads): void {}

  setVnetHdrLen(_len: number): void {}

  setQueueEnabled(queue: number, enabled: boolean): void {
    checkQueue(this.kind, queue, this.queuePairs);
    if (this.#pairEnabled[queue] === enabled) return;
    this.#pairEnabled[queue] = enabled;
    // While a commit is on its way its enables are already written: it
    // reconciles when it lands (the guest's VQ_PAIRS_SET often comes then).
    if (this.#running && !this.#closed) this.#sendEnables();
  }

  setLinkUp(_up: boolean): void {}

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#running = false;
    this.#prepared = undefined;
    this.#fe.close();
    for (const p of this.#callPollers) p.stop();
    for (const e of [...this.#kicks, ...this.#calls]) e.close();
  }

  /** SET_VRING_ENABLE for every prepared ring whose pair changed since its last enable was written. */
  #sendEnables(): void {
    for (const r of this.#prepared?.rings ?? []) {
      const on = this.#pairEnabled[r.index >> 1] ?? false;
      if (this.#sentEnabled[r.index] === on) continue;
      this.#sentEnabled[r.index] = on;
      this.#fe.set(P.VHOST_USER_SET_VRING_ENABLE, P.vringStatePayload({ index: r.index, num: on ? 1 : 0 })).catch((err: unknown) => this.#client?.backendError(r.index >> 1, err));
    }
  }

  #trace(name: 'vhost_user_prepared' | 'vhost_user_committed' | 'vhost_user_applied' | 'vhost_user_stopped', ms: number): void {
    if (this.#traced) trace(name, ms);
  }

  #checkOpen(): void {
    if (this.#closed) throw new BackendError('ERR_BACKEND_CLOSED', 'the vhost-user backend is closed');
  }
}
