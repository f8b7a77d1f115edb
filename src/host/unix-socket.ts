/**
 * AF_UNIX stream sockets that carry fds (SCM_RIGHTS), which node:net cannot
 * do. vhost-user needs exactly this: the frontend connects to the backend's
 * socket path and sends messages that carry the guest RAM memfds
 * (SET_MEM_TABLE) and the kick/call eventfds (SET_VRING_KICK/CALL); replies
 * come back on the same socket.
 *
 * Non-blocking throughout, driven by an FdPoller on `fd`: `send` returns -1
 * and `recv` null when they would block, and `accept` null when no client is
 * waiting. Every fd is close-on-exec, received ones included.
 *
 * Stream semantics apply: one `recv` may return part of a message, or the end
 * of one and the start of the next; fds arrive with the bytes they were sent
 * with. Framing (vhost-user's 12-byte header and size) is the caller's job.
 */

import { lstatSync, unlinkSync } from 'node:fs';

import { fdClosedError, withContext } from './host-errors.js';
import { native } from './native.js';

/** The most fds one message carries (the kernel's SCM_MAX_FD). */
export const SCM_MAX_FD = 253;

/** One `recv`: bytes and the fds that came with them. */
export interface UnixMessage {
  /** A fresh copy; empty means the peer closed the connection. */
  bytes: Uint8Array;
  /** New fds (O_CLOEXEC), in the order sent; the receiver owns them and must close them. */
  fds: number[];
  /** The peer attached more fds than `maxFds`; the kernel closed the extra ones. */
  fdsTruncated: boolean;
}

/**
 * Close fds this process received and will not use (idempotent per fd only in
 * the sense that a failing close is ignored: the kernel frees the number
 * either way, and a teardown must close the rest).
 */
export function closeFds(fds: readonly number[]): void {
  for (const fd of fds) {
    try {
      native().closeFd(fd);
    } catch {
      // already closed elsewhere: nothing left to free
    }
  }
}

export class UnixSocket {
  #fd: number;

  private constructor(fd: number) {
    this.#fd = fd;
  }

  /** Two connected sockets (socketpair). */
  static pair(): [UnixSocket, UnixSocket] {
    const [a, b] = native().unixSocketPair();
    return [new UnixSocket(a), new UnixSocket(b)];
  }

  /**
   * Connects to the stream socket at `path` (at most 107 bytes). A unix
   * connect completes at once or fails; EAGAIN means the listener's backlog is
   * full (try again shortly), ENOENT or ECONNREFUSED that nobody listens.
   * @throws VmigError ERR_HOST_SYSCALL_FAILED (details.path), ERR_HOST_OUT_OF_RANGE (path too long)
   */
  static connect(path: string): UnixSocket {
    try {
      return new UnixSocket(native().unixConnect(path));
    } catch (err) {
      throw withContext(err, `cannot connect to unix socket ${path}`, { path });
    }
  }

  /** @internal wraps a connection accepted by UnixListener */
  static fromAccepted(fd: number): UnixSocket {
    return new UnixSocket(fd);
  }

  /** For an FdPoller. Valid until `close()`. */
  get fd(): number {
    return this.#checkOpen();
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /**
   * Sends `data` with `fds` attached (duplicated into the peer; this process
   * keeps and still owns its own). Returns the bytes sent, possibly fewer than
   * `data.byteLength` (the fds went with them: send the rest without fds), or
   * -1 when the socket buffer is full and nothing was sent.
   * @throws VmigError ERR_HOST_OUT_OF_RANGE (more than SCM_MAX_FD fds, or fds with no byte to carry them),
   *   ERR_HOST_SYSCALL_FAILED (EPIPE: the peer is gone)
   */
  send(data: ArrayBufferView, fds: readonly number[] = []): number {
    return native().sendWithFds(this.#checkOpen(), data, fds);
  }

  /**
   * Receives up to `maxBytes` bytes and up to `maxFds` fds; null when nothing
   * is pending. Fds beyond `maxFds` are closed by the kernel and flagged with
   * `fdsTruncated`, so pass the most the protocol allows.
   */
  recv(maxBytes = 4096, maxFds = 0): UnixMessage | null {
    return native().recvWithFds(this.#checkOpen(), maxBytes, maxFds);
  }

  /** Idempotent. Stop any FdPoller on it first. */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    native().closeFd(fd);
  }

  #checkOpen(): number {
    if (this.#fd < 0) throw fdClosedError('the unix socket');
    return this.#fd;
  }
}

export interface UnixListenOptions {
  /** Pending connections the kernel queues (default 16). */
  backlog?: number;
}

/**
 * A listening socket at a path. It never removes a file it did not create:
 * if `path` exists, `listen` fails with EADDRINUSE. `close()` removes the
 * socket file, if it is still the one this listener made.
 */
export class UnixListener {
  readonly path: string;
  #fd: number;
  readonly #inode: { dev: number; ino: number } | undefined;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
    try {
      const stat = lstatSync(path);
      this.#inode = { dev: stat.dev, ino: stat.ino };
    } catch {
      this.#inode = undefined; // already gone: nothing to remove on close
    }
  }

  /** @throws VmigError ERR_HOST_SYSCALL_FAILED (EADDRINUSE, EACCES, ENOENT; details.path) */
  static listen(path: string, options: UnixListenOptions = {}): UnixListener {
    const { backlog = 16 } = options;
    try {
      return new UnixListener(path, native().unixListen(path, backlog));
    } catch (err) {
      throw withContext(err, `cannot listen on unix socket ${path}`, { path });
    }
  }

  /** For an FdPoller: readable when a client is waiting. */
  get fd(): number {
    return this.#checkOpen();
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /** The next pending connection, or null when there is none. */
  accept(): UnixSocket | null {
    const fd = native().unixAccept(this.#checkOpen());
    return fd < 0 ? null : UnixSocket.fromAccepted(fd);
  }

  /** Stops listening and removes the socket file if it is still ours. Idempotent. */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    try {
      const stat = lstatSync(this.path);
      if (this.#inode !== undefined && stat.isSocket() && stat.dev === this.#inode.dev && stat.ino === this.#inode.ino) {
        unlinkSync(this.path);
      }
    } catch {
      // Already removed (or the directory is gone): nothing to clean up.
    }
    native().closeFd(fd);
  }

  #checkOpen(): number {
    if (this.#fd < 0) throw fdClosedError(`the unix listener at ${this.path}`, { path: this.path });
    return this.#fd;
  }
}

