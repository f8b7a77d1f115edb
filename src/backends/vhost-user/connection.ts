/**
 * One vhost-user connection: an AF_UNIX stream socket with fds riding on it,
 * cut into messages by MessageFramer, driven by an FdPoller. Both ends use it
 * (the VMM's frontend and `vmig vhost-user-net`).
 *
 * Sending never blocks and never reorders: a message the socket cannot take
 * whole waits in a queue (its fds go with its first byte) and is finished
 * when the socket becomes writable. A peer's bad message or a hang-up ends the
 * connection through `closed(error)`, once; after that nothing is delivered.
 */

import { FdPoller, POLL_DISCONNECT, POLL_READABLE, POLL_WRITABLE, UnixSocket, closeFds } from '../../host/index.vmm.js';
import { MessageFramer, VhostUserError, encodeMessage, requestName, VHOST_USER_VERSION } from './protocol.js';
import type { VhostUserMessage } from './protocol.js';

export interface ConnectionHandlers {
  message(msg: VhostUserMessage): void;
  /** The connection ended: `error` undefined for an orderly close by the peer. */
  closed(error: VhostUserError | undefined): void;
}

/** Fds one message may carry (SET_MEM_TABLE: one per region). */
const MAX_FDS_PER_RECV = 8;
/** Messages waiting to be written before the peer is judged not to read (far above any batch vmig sends: 8 + 6 per ring). */
const MAX_QUEUED_MESSAGES = 4096;

export class VhostUserConnection {
  readonly #socket: UnixSocket;
  readonly #handlers: ConnectionHandlers;
  readonly #framer = new MessageFramer();
  readonly #poller: FdPoller;
  readonly #outgoing: { bytes: Uint8Array; fds: readonly number[] }[] = [];
  #closed = false;

  constructor(socket: UnixSocket, handlers: ConnectionHandlers) {
    this.#socket = socket;
    this.#handlers = handlers;
    this.#poller = FdPoller.start(socket.fd, POLL_READABLE | POLL_DISCONNECT, (events, error) => this.#ready(events, error));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Queue one message (fds are duplicated into the peer; the caller keeps its own). */
  send(request: number, payload?: Uint8Array, fds: readonly number[] = [], flags = VHOST_USER_VERSION): void {
    if (this.#closed) throw new VhostUserError('ERR_BACKEND_VHOST_USER_DISCONNECTED', `vhost-user: cannot send ${requestName(request)}: the connection is closed`, { request });
    if (this.#outgoing.length >= MAX_QUEUED_MESSAGES) {
      // A peer that asks and never reads its replies: end it rather than grow without bound.
      this.#fail(new VhostUserError('ERR_BACKEND_VHOST_USER_PROTOCOL', `vhost-user: the peer does not read its replies (${MAX_QUEUED_MESSAGES} messages queued)`));
      return;
    }
    this.#outgoing.push({ bytes: encodeMessage(request, payload, flags), fds });
    if (this.#outgoing.length === 1) this.#flush();
  }

  /** Close the socket (idempotent); `closed` is not called for a close made here. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#poller.stop();
    this.#socket.close();
    closeFds(this.#framer.takeStrayFds());
  }

  #flush(): void {
    try {
      while (this.#outgoing.length > 0) {
        const head = this.#outgoing[0]!;
        const sent = this.#socket.send(head.bytes, head.fds);
        if (sent < 0) break;
        if (sent < head.bytes.length) {
          this.#outgoing[0] = { bytes: head.bytes.subarray(sent), fds: [] };
          break;
        }
        this.#outgoing.shift();
      }
    } catch (err) {
      this.#fail(new VhostUserError('ERR_BACKEND_VHOST_USER_DISCONNECTED', 'vhost-user: the peer is gone (send failed)', {}, err));
      return;
    }
    if (!this.#closed) this.#poller.update(POLL_READABLE | POLL_DISCONNECT | (this.#outgoing.length > 0 ? POLL_WRITABLE : 0));
  }

  #ready(events: number, error: unknown): void {
    if (this.#closed) return;
    if (error !== undefined) {
      this.#fail(new VhostUserError('ERR_BACKEND_VHOST_USER_DISCONNECTED', 'vhost-user: the connection failed', {}, error));
      return;
    }
    if (events & POLL_WRITABLE) this.#flush();
    if (events & (POLL_READABLE | POLL_DISCONNECT)) this.#drain();
  }

  #drain(): void {
    while (!this.#closed) {
      let got;
      try {
        got = this.#socket.recv(this.#framer.need(), MAX_FDS_PER_RECV);
      } catch (err) {
        this.#fail(new VhostUserError('ERR_BACKEND_VHOST_USER_DISCONNECTED', 'vhost-user: receive failed', {}, err));
        return;
      }
      if (got === null) return;
      if (got.bytes.length === 0) {
        closeFds(got.fds);
        this.#fail(this.#framer.buffered > 0 ? new VhostUserError('ERR_BACKEND_VHOST_USER_DISCONNECTED', `vhost-user: the peer hung up inside a message (${this.#framer.buffered} bytes of it)`) : undefined);
        return;
      }
      if (got.fdsTruncated) {
        closeFds(got.fds);
        this.#fail(new VhostUserError('ERR_BACKEND_VHOST_USER_BAD_MESSAGE', `vhost-user: the peer sent more than ${MAX_FDS_PER_RECV} fds with one message`));
        return;
      }
      let messages: VhostUserMessage[];
      try {
        messages = this.#framer.push(got.bytes, got.fds);
      } catch (err) {
        // The framer holds the fds now: close() closes them with its strays.
        this.#fail(err as VhostUserError);
        return;
      }
      for (const msg of messages) {
        if (this.#closed) {
          closeFds(msg.fds);
          continue;
        }
        this.#handlers.message(msg);
      }
    }
  }

  #fail(error: VhostUserError | undefined): void {
    if (this.#closed) return;
    this.close();
    this.#handlers.closed(error);
  }
}
