/**
 * eventfd: a 64-bit counter behind an fd, the kernel's doorbell. A vhost-user
 * frontend gives its backend one per virtqueue as the kick line (guest to
 * backend) and the call line (backend to guest interrupt) over SCM_RIGHTS,
 * which is how QEMU's ioeventfd/irqfd work when the datapath is another
 * process; inside one process it wakes a thread's event loop from another.
 *
 * Always non-blocking and close-on-exec: `read()` of an unsignalled eventfd
 * returns 0n instead of stalling the event loop (a real count is never 0);
 * wait for readability with FdPoller.
 */

import { readlinkSync } from 'node:fs';

import { VmigError } from '../core/index.js';
import { fdClosedError } from './host-errors.js';
import { native } from './native.js';

/** Each read takes 1 instead of the whole count (eventfd(2)). */
export const EFD_SEMAPHORE = 0o1;
export const EFD_NONBLOCK = 0o4000;
export const EFD_CLOEXEC = 0o2000000;

/** The largest value the counter holds; a write that would pass it fails (returns false). */
export const EVENTFD_MAX = 0xffff_ffff_ffff_fffen;

export interface EventFdOptions {
  /** Initial count, 0 to 2^32-1 (default 0). */
  initval?: number;
  /** EFD_SEMAPHORE: each read takes 1 (default false: a read takes the whole count). */
  semaphore?: boolean;
}

export class EventFd {
  #fd: number;

  private constructor(fd: number) {
    this.#fd = fd;
  }

  static create(options: EventFdOptions = {}): EventFd {
    const { initval = 0, semaphore = false } = options;
    if (typeof semaphore !== 'boolean') {
      throw new VmigError('ERR_HOST_INVALID_ARG_TYPE', `semaphore must be a boolean, got ${typeof semaphore}`);
    }
    const flags = EFD_CLOEXEC | EFD_NONBLOCK | (semaphore ? EFD_SEMAPHORE : 0);
    return new EventFd(native().eventfdCreate(initval, flags));
  }

  /**
   * Takes ownership of an eventfd made elsewhere (typically received over
   * SCM_RIGHTS) and makes it non-blocking.
   * @throws VmigError ERR_HOST_WRONG_FD_TYPE when `fd` is not an eventfd
   */
  static adopt(fd: number): EventFd {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch (cause) {
      throw new VmigError('ERR_HOST_WRONG_FD_TYPE', `fd ${fd} is not an open eventfd`, { cause, details: { fd } });
    }
    if (target !== 'anon_inode:[eventfd]') {
      throw new VmigError('ERR_HOST_WRONG_FD_TYPE', `fd ${fd} is ${target}, not an eventfd`, { details: { fd, target } });
    }
    native().fdSetNonBlocking(fd, true);
    return new EventFd(fd);
  }

  /** Valid until `close()`; send it (SCM_RIGHTS) to share the counter. */
  get fd(): number {
    return this.#checkOpen();
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Takes the count (or 1 in semaphore mode); 0n when it is 0. */
  read(): bigint {
    const value = native().eventfdRead(this.#checkOpen());
    return value === -1 ? 0n : value;
  }

  /**
   * Adds `value` (default 1n). False when the counter would pass EVENTFD_MAX
   * (the reader is far behind); the count is then unchanged.
   * @throws VmigError ERR_HOST_OUT_OF_RANGE for a value outside [0, EVENTFD_MAX]
   */
  write(value = 1n): boolean {
    return native().eventfdWrite(this.#checkOpen(), value);
  }

  /** Idempotent. Stop any FdPoller on it first. */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    native().closeFd(fd);
  }

  #checkOpen(): number {
    if (this.#fd < 0) throw fdClosedError('the eventfd');
    return this.#fd;
  }
}
