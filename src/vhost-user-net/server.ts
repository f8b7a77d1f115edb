/**
 * `vmig vhost-user-net`: a vhost-user net backend serving one TAP (one TAP
 * queue per queue pair), listening on a unix socket for its frontend (a vmig
 * VMM, or QEMU with -netdev vhost-user). One frontend at a time, as DPDK's
 * vhost PMD: a second connection while one is served is closed at once. When
 * the frontend hangs up (its VM quit or migrated away) the backend forgets
 * that session's memory and rings and waits for the next frontend.
 */

import { FdPoller, POLL_READABLE, UnixListener, UnixSocket } from '../host/index.vmm.js';
import { TapBackend, VhostUserConnection } from '../backends/index.js';
import type { NetBackend, NetBackendClient } from '../backends/index.js';
import { backendFeatures } from './backend-features.js';
import { BackendSession } from './session.js';

export interface VhostUserNetOptions {
  /** The socket path to listen on (the frontend's -chardev socket,path=...). */
  socketPath: string;
  /** The TAP interface to serve (created when missing, like -netdev tap,ifname=). */
  ifname: string;
  /** Queue pairs (TAP queues). */
  queues: number;
  log?: (line: string) => void;
}

export class VhostUserNetServer implements NetBackendClient {
  readonly tap: NetBackend;
  readonly #listener: UnixListener;
  readonly #poller: FdPoller;
  readonly #log: (line: string) => void;
  readonly #features: bigint;
  #session: BackendSession | undefined;
  #closed = false;
  /** Sessions served so far (for tests and the log). */
  sessions = 0;

  /** Opens the TAP and listens. @throws VmigError from the TAP or the socket */
  static open(options: VhostUserNetOptions): VhostUserNetServer {
    const tap = TapBackend.open({ ifname: options.ifname, queues: options.queues });
    try {
      return new VhostUserNetServer(tap, options.socketPath, options.log);
    } catch (err) {
      tap.close();
      throw err;
    }
  }

  /** Serve an already open backend (tests use a loopback). */
  constructor(tap: NetBackend, socketPath: string, log: (line: string) => void = () => undefined) {
    this.tap = tap;
    this.#log = log;
    this.#features = backendFeatures(tap);
    this.#listener = UnixListener.listen(socketPath);
    tap.attach(this);
    this.#poller = FdPoller.start(this.#listener.fd, POLL_READABLE, () => this.#accept());
  }

  get serving(): boolean {
    return this.#session !== undefined;
  }

  rxReady(queue: number): void {
    if (this.#session) this.#session.rxReady(queue);
    else this.tap.pause(queue);
  }

  txReady(queue: number): void {
    this.#session?.txReady(queue);
  }

  backendError(queue: number | undefined, error: unknown): void {
    this.#log(`vhost-user-net: TAP${queue === undefined ? '' : ` queue ${queue}`}: ${error instanceof Error ? error.message : String(error)}`);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#poller.stop();
    this.#listener.close();
    this.#session?.close();
    this.tap.close();
  }

  #accept(): void {
    for (;;) {
      let socket: UnixSocket | null;
      try {
        socket = this.#listener.accept();
      } catch (err) {
        this.#log(`vhost-user-net: accept failed: ${err instanceof Error ? err.message : String(err)}`);
        return;
      }
      if (socket === null) return;
      if (this.#session !== undefined) {
        this.#log('vhost-user-net: a second frontend connected while one is served; closed it');
        socket.close();
        continue;
      }
      const accepted = socket;
      this.sessions++;
      this.#session = new BackendSession((handlers) => new VhostUserConnection(accepted, handlers), {
        tap: this.tap,
        features: this.#features,
        log: this.#log,
        ended: (s) => {
          if (this.#session === s) this.#session = undefined;
        },
      });
    }
  }
}
