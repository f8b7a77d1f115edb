/**
 * Runs a callback when an fd becomes readable or writable, on the event loop
 * of the thread that started it (main or a worker), through libuv (a
 * uv_poll_t in the addon) rather than a thread of its own.
 *
 * This is how the VMM drives every non-blocking fd node:net cannot handle: TAP
 * queues (read frames when readable; when a write hit EAGAIN, wait for
 * writable), eventfds (doorbells and interrupts from vhost-user backends) and
 * fd-passing unix sockets. The API is callbacks, not Promises: a frame path
 * wakes thousands of times a second and must not allocate per wakeup.
 *
 * Semantics:
 * - `stop()` is idempotent, safe inside the callback, and final: no callback
 *   runs after it, and a stopped poller keeps nothing alive.
 * - An active poller keeps the process (or worker) running, like a socket;
 *   `unref()` lets it exit anyway.
 * - An exception thrown by the callback is an uncaught exception, as from any
 *   other event: 'uncaughtException' handlers run, and without one the process
 *   (or the worker) dies with its stack. The poller stays active.
 * - If the kernel reports an error condition on the fd (POLLERR, e.g. a
 *   socket reset by its peer), libuv stops watching; the poller stops itself
 *   and the callback gets (0, error).
 * - Level-triggered: the callback runs again while the fd stays ready, so it
 *   should drain (read until -1) or `update()` its interest.
 * - One poller per fd per thread (a second fails with EEXIST). Stop it before
 *   closing the fd: the kernel forgets a closed fd, but libuv would still
 *   believe it watches that number. libuv also sets the fd O_NONBLOCK.
 */

import { VmigError } from '../core/index.js';
import { fromNativeError, native } from './native.js';
import type { NativePollHandle } from './native.js';

/** The fd is readable (data, EOF, or a pending connection). libuv's UV_READABLE. */
export const POLL_READABLE = 1;
/** The fd is writable (room in the queue). UV_WRITABLE. */
export const POLL_WRITABLE = 2;
/** The peer closed its end (EPOLLRDHUP). UV_DISCONNECT. */
export const POLL_DISCONNECT = 4;
/** Urgent data (EPOLLPRI). UV_PRIORITIZED. */
export const POLL_PRIORITIZED = 8;

const ALL_EVENTS = POLL_READABLE | POLL_WRITABLE | POLL_DISCONNECT | POLL_PRIORITIZED;

/**
 * `events`: the POLL_* bits that are ready. `error`: set (with events 0) when
 * polling failed; the poller has then stopped.
 */
export type FdPollCallback = (events: number, error: VmigError | undefined) => void;

export class FdPoller {
  readonly fd: number;
  #events: number;
  #handle: NativePollHandle | undefined;

  private constructor(fd: number, events: number) {
    this.fd = fd;
    this.#events = events;
  }

  /**
   * Starts watching `fd` for `events` (POLL_* bits; 0 starts it paused).
   * @throws VmigError ERR_HOST_INVALID_ARG_TYPE / ERR_HOST_OUT_OF_RANGE, or
   *   ERR_HOST_SYSCALL_FAILED (`uv_poll_init`: EEXIST when this thread already
   *   polls the fd, EPERM for a regular file)
   */
  static start(fd: number, events: number, callback: FdPollCallback): FdPoller {
    if (typeof callback !== 'function') {
      throw new VmigError('ERR_HOST_INVALID_ARG_TYPE', `a poller callback must be a function, got ${typeof callback}`);
    }
    checkEvents(events);
    const poller = new FdPoller(fd, events);
    poller.#handle = native().pollStart(fd, events, (ready, error) => {
      if (error === undefined) {
        callback(ready, undefined);
        return;
      }
      poller.stop();
      callback(0, fromNativeError(error) as VmigError);
    });
    return poller;
  }

  /** The POLL_* bits watched (0: paused). */
  get events(): number {
    return this.#events;
  }

  /** False once stopped (by `stop()` or by an error). */
  get active(): boolean {
    return this.#handle !== undefined;
  }

  /**
   * Watches `events` from now on (0 pauses: then the poller keeps nothing alive).
   * @throws VmigError ERR_HOST_POLLER_STOPPED after stop()
   */
  update(events: number): void {
    checkEvents(events);
    if (this.#handle === undefined) {
      throw new VmigError('ERR_HOST_POLLER_STOPPED', `the poller of fd ${this.fd} was stopped; start a new one`, {
        details: { fd: this.fd },
      });
    }
    native().pollUpdate(this.#handle, events);
    this.#events = events;
  }

  /** Keeps the process alive while active (the default). */
  ref(): this {
    if (this.#handle !== undefined) native().pollSetRef(this.#handle, true);
    return this;
  }

  /** Lets the process exit even though this poller is active. */
  unref(): this {
    if (this.#handle !== undefined) native().pollSetRef(this.#handle, false);
    return this;
  }

  /** Stops for good; idempotent, and allowed inside the callback. Does not close the fd. */
  stop(): void {
    const handle = this.#handle;
    if (handle === undefined) return;
    this.#handle = undefined;
    native().pollStop(handle);
  }
}

function checkEvents(events: number): void {
  if (typeof events !== 'number') {
    throw new VmigError('ERR_HOST_INVALID_ARG_TYPE', `poll events must be a number of POLL_* bits, got ${typeof events}`);
  }
  if (!Number.isInteger(events) || events < 0 || (events & ~ALL_EVENTS) !== 0) {
    throw new VmigError('ERR_HOST_OUT_OF_RANGE', `poll events must be a combination of the POLL_* bits, got ${events}`, {
      details: { events },
    });
  }
}
