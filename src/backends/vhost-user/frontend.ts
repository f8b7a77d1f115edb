/**
 * The VMM's side of vhost-user (QEMU hw/virtio/vhost-user.c): requests go out
 * in order, replies are matched to them in order (the protocol has no ids:
 * a backend answers in the order it was asked).
 *
 * A start, prepare or commit is a batch (`batch`): its messages are written
 * at once, and the caller awaits either where QEMU would go on (`written`:
 * the SET_MEM_TABLE ack, the SET_LOG_BASE reply) or the backend's ack of
 * the whole batch (`applied`). N messages cost one round trip at most.
 *
 * A reply that does not match what was asked, a failure ack, a timeout or a
 * hang-up fail every waiting request with a VhostUserError and close the
 * connection; nothing is retried behind the caller's back.
 */

import { UnixSocket, closeFds } from '../../host/index.vmm.js';
import { VhostUserConnection } from './connection.js';
import * as P from './protocol.js';
import { VhostUserError, requestName } from './protocol.js';
import type { VhostUserMessage } from './protocol.js';

/** How long a reply may take (a backend that stops answering must not hang a migration). */
export const VHOST_USER_REPLY_TIMEOUT_MS = 5000;

/** Protocol features this frontend uses when the backend has them. */
export const FRONTEND_PROTOCOL_FEATURES =
  (1n << BigInt(P.VHOST_USER_PROTOCOL_F_MQ)) |
  (1n << BigInt(P.VHOST_USER_PROTOCOL_F_LOG_SHMFD)) |
  (1n << BigInt(P.VHOST_USER_PROTOCOL_F_RARP)) |
  (1n << BigInt(P.VHOST_USER_PROTOCOL_F_REPLY_ACK));

interface Waiter {
  request: number;
  resolve: (msg: VhostUserMessage) => void;
  reject: (err: VhostUserError) => void;
}

export class VhostUserFrontend {
  readonly path: string;
  readonly #conn: VhostUserConnection;
  readonly #waiting: Waiter[] = [];
  readonly #timeoutMs: number;
  #timer: NodeJS.Timeout | undefined;
  #error: VhostUserError | undefined;
  #onClosed: ((error: VhostUserError) => void) | undefined;
  /** GET_FEATURES at connect. */
  features = 0n;
  /** The protocol features both sides use. */
  protocolFeatures = 0n;
  /** GET_QUEUE_NUM (queue pairs the backend serves), or undefined without MQ. */
  queueNum: number | undefined;

  private constructor(path: string, socket: UnixSocket, timeoutMs: number) {
    this.path = path;
    this.#timeoutMs = timeoutMs;
    this.#conn = new VhostUserConnection(socket, {
      message: (msg) => this.#reply(msg),
      closed: (error) => this.#fatal(error ?? new VhostUserError('ERR_BACKEND_VHOST_USER_DISCONNECTED', `vhost-user backend at ${path} hung up`)),
    });
  }

  /**
   * Connect and run QEMU's vhost_dev_init exchange: GET_FEATURES,
   * GET/SET_PROTOCOL_FEATURES, GET_QUEUE_NUM, SET_OWNER.
   * @throws VmigError from the connect (ENOENT, ECONNREFUSED: nobody listens at `path`); VhostUserError
   */
  static connect(path: string, options: { timeoutMs?: number } = {}): Promise<VhostUserFrontend> {
    return VhostUserFrontend.over(UnixSocket.connect(path), path, options);
  }

  /** The same exchange over a socket already connected (`name` labels it in messages). */
  static async over(socket: UnixSocket, name: string, options: { timeoutMs?: number } = {}): Promise<VhostUserFrontend> {
    const fe = new VhostUserFrontend(name, socket, options.timeoutMs ?? VHOST_USER_REPLY_TIMEOUT_MS);
    try {
      fe.features = await fe.getU64(P.VHOST_USER_GET_FEATURES);
      if (fe.features & (1n << BigInt(P.VHOST_USER_F_PROTOCOL_FEATURES))) {
        const offered = await fe.getU64(P.VHOST_USER_GET_PROTOCOL_FEATURES);
        const use = offered & FRONTEND_PROTOCOL_FEATURES;
        fe.#conn.send(P.VHOST_USER_SET_PROTOCOL_FEATURES, P.u64Payload(use));
        fe.protocolFeatures = use;
        if (use & (1n << BigInt(P.VHOST_USER_PROTOCOL_F_MQ))) fe.queueNum = Number(await fe.getU64(P.VHOST_USER_GET_QUEUE_NUM));
      }
      await fe.set(P.VHOST_USER_SET_OWNER);
      return fe;
    } catch (err) {
      fe.close();
      throw err;
    }
  }

  hasProtocolFeature(bit: number): boolean {
    return (this.protocolFeatures & (1n << BigInt(bit))) !== 0n;
  }

  /** Called once when the connection fails or the backend hangs up (not after close()). */
  onClosed(fn: (error: VhostUserError) => void): void {
    this.#onClosed = fn;
  }

  get closed(): boolean {
    return this.#conn.closed;
  }

  /** A GET_* whose reply is a u64. */
  async getU64(request: number): Promise<bigint> {
    return P.decodeU64(await this.#ask(request, undefined, [], P.VHOST_USER_VERSION));
  }

  /** GET_VRING_BASE: stops ring `index`; its next avail index. */
  async getVringBase(index: number): Promise<number> {
    const msg = await this.#ask(P.VHOST_USER_GET_VRING_BASE, P.vringStatePayload({ index, num: 0 }), [], P.VHOST_USER_VERSION);
    const s = P.decodeVringState(msg);
    if (s.index !== index || s.num > 0xffff) throw this.#protocolError(`GET_VRING_BASE for ring ${index} answered ring ${s.index}, base ${s.num}`);
    return s.num;
  }

  /**
   * A SET_* (fds duplicated into the backend). With REPLY_ACK and `wait`
   * (the default) it goes with NEED_REPLY and resolves on the backend's ack;
   * otherwise once queued (the backend says nothing). SET_LOG_BASE always
   * has a reply (vhost-user.rst).
   */
  async set(request: number, payload?: Uint8Array, fds: readonly number[] = [], options: { wait?: boolean } = {}): Promise<void> {
    if (request === P.VHOST_USER_SET_LOG_BASE) {
      await this.#ask(request, payload, fds, P.VHOST_USER_VERSION);
      return;
    }
    if (options.wait === false || !this.hasProtocolFeature(P.VHOST_USER_PROTOCOL_F_REPLY_ACK)) {
      this.#send(request, payload, fds, P.VHOST_USER_VERSION);
      return;
    }
    const ack = P.decodeU64(await this.#ask(request, payload, fds, P.VHOST_USER_VERSION | P.VHOST_USER_NEED_REPLY_MASK));
    if (ack !== 0n) throw new VhostUserError('ERR_BACKEND_VHOST_USER_BACKEND_FAILED', `vhost-user backend at ${this.path} refused ${requestName(request)} (ack ${ack})`, { request });
  }

  /**
   * Send a batch of SETs. `written` settles where QEMU would go on: on the
   * replies QEMU waits for (SET_MEM_TABLE's ack with REPLY_ACK, SET_LOG_BASE's
   * reply), the rest written. `applied` settles once the backend has applied
   * the whole batch: its last message also asks for an ack, and a backend
   * processes in order and ends the connection on a message it refuses
   * (vmig's and DPDK's do), so that ack vouches for the rest. Without
   * REPLY_ACK a GET_FEATURES round trip is that barrier.
   * @throws VhostUserError at once when the connection is already broken
   */
  batch(messages: readonly { request: number; payload?: Uint8Array; fds?: readonly number[] }[]): { written: Promise<void>; applied: Promise<void> } {
    if (this.#error) throw this.#error;
    const qemuWaits: Promise<void>[] = [];
    const all: Promise<void>[] = [];
    messages.forEach((m, i) => {
      const waitsHere = m.request === P.VHOST_USER_SET_MEM_TABLE || m.request === P.VHOST_USER_SET_LOG_BASE;
      const sent = this.set(m.request, m.payload, m.fds ?? [], { wait: waitsHere || i === messages.length - 1 });
      all.push(sent);
      if (waitsHere) qemuWaits.push(sent);
    });
    if (!this.hasProtocolFeature(P.VHOST_USER_PROTOCOL_F_REPLY_ACK)) all.push(this.getU64(P.VHOST_USER_GET_FEATURES).then(() => undefined));
    const applied = Promise.all(all).then(() => undefined);
    // Whoever awaits only `written` must not leave `applied` unhandled.
    applied.catch(() => undefined);
    return { written: Promise.all(qemuWaits).then(() => undefined), applied };
  }

  close(): void {
    this.#onClosed = undefined;
    this.#conn.close();
    this.#failAll(new VhostUserError('ERR_BACKEND_VHOST_USER_DISCONNECTED', `vhost-user connection to ${this.path} closed`));
  }

  #ask(request: number, payload: Uint8Array | undefined, fds: readonly number[], flags: number): Promise<VhostUserMessage> {
    return new Promise<VhostUserMessage>((resolve, reject) => {
      if (this.#error) {
        reject(this.#error);
        return;
      }
      this.#waiting.push({ request, resolve, reject });
      try {
        this.#send(request, payload, fds, flags);
      } catch (err) {
        this.#waiting.pop();
        reject(err);
        return;
      }
      this.#armTimer();
    });
  }

  #send(request: number, payload: Uint8Array | undefined, fds: readonly number[], flags: number): void {
    if (this.#error) throw this.#error;
    this.#conn.send(request, payload, fds, flags);
  }

  #armTimer(): void {
    if (this.#timer !== undefined || this.#waiting.length === 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const head = this.#waiting[0];
      if (head) this.#fatal(new VhostUserError('ERR_BACKEND_VHOST_USER_TIMEOUT', `vhost-user backend at ${this.path} did not answer ${requestName(head.request)} within ${this.#timeoutMs} ms`, { request: head.request }));
    }, this.#timeoutMs);
  }

  #reply(msg: VhostUserMessage): void {
    const head = this.#waiting[0];
    // No reply carries fds: any that came are closed, and the reply is refused below.
    closeFds(msg.fds);
    if (msg.fds.length > 0 || head === undefined || msg.request !== head.request || (msg.flags & P.VHOST_USER_REPLY_MASK) === 0) {
      this.#fatal(this.#protocolError(`unexpected ${requestName(msg.request)} (flags 0x${msg.flags.toString(16)}) while ${head ? `waiting for ${requestName(head.request)}` : 'nothing was asked'}`));
      return;
    }
    this.#waiting.shift();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armTimer();
    head.resolve(msg);
  }

  #protocolError(what: string): VhostUserError {
    return new VhostUserError('ERR_BACKEND_VHOST_USER_PROTOCOL', `vhost-user backend at ${this.path}: ${what}`);
  }

  #fatal(error: VhostUserError): void {
    const notify = this.#onClosed;
    this.#onClosed = undefined;
    this.#conn.close();
    this.#failAll(error);
    notify?.(error);
  }

  #failAll(error: VhostUserError): void {
    this.#error ??= error;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const w of this.#waiting.splice(0)) w.reject(this.#error);
  }
}
