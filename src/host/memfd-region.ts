/**
 * A memfd and one shared mapping of it, exposed as a SharedArrayBuffer: the
 * backing of guest RAM (DESIGN.md §3). The fd is what other processes map (a
 * vhost-user backend receives it over SCM_RIGHTS); the buffer is what this
 * process and its worker threads read and write (post it to a worker and the
 * worker shares the same pages, zero-copy; Atomics work on it).
 *
 * Lifetime: `close()` closes the fd at once, but the mapping lives until the
 * last SharedArrayBuffer referring to it, in any thread, is garbage-collected.
 * Unmapping earlier would turn any later access through a view someone still
 * holds into a crash of the whole process rather than an error.
 *
 * Views: a single typed array can span at most 2^32 elements in Node 20, so a
 * region larger than 4 GiB is read through several views (byteOffset + length)
 * rather than one `new Uint8Array(buffer)`.
 */

import { VmigError } from '../core/index.js';
import { native } from './native.js';

/**
 * Largest region `MemfdRegion.create` accepts: 64 GiB. Not a kernel limit (the
 * memfd is sparse and its pages are allocated on first touch); it exists to
 * turn a mistaken unit (bytes vs KiB vs pages) into an error instead of a
 * silent multi-terabyte mapping.
 */
export const MEMFD_REGION_MAX_BYTES = 64 * 1024 ** 3;

/** The host's page size in bytes (sysconf(_SC_PAGESIZE)); region sizes are multiples of it. */
export function hostPageSize(): number {
  return native().pageSize();
}

export class MemfdRegion {
  readonly name: string;
  readonly byteLength: number;
  #fd: number;
  #buffer: SharedArrayBuffer | undefined;

  private constructor(name: string, fd: number, buffer: SharedArrayBuffer) {
    this.name = name;
    this.byteLength = buffer.byteLength;
    this.#fd = fd;
    this.#buffer = buffer;
  }

  /**
   * A zero-filled region of `byteLength` bytes. `name` only labels the memfd
   * (it shows as `memfd:<name>` in /proc/PID/maps and /proc/PID/fd; at most 249
   * UTF-8 bytes). `byteLength` must be a positive multiple of the host page
   * size, at most MEMFD_REGION_MAX_BYTES.
   */
  static create(name: string, byteLength: number): MemfdRegion {
    if (typeof name !== 'string') {
      throw new VmigError('ERR_HOST_INVALID_ARG_TYPE', `a region name must be a string, got ${typeof name}`);
    }
    if (typeof byteLength !== 'number') {
      throw new VmigError('ERR_HOST_INVALID_ARG_TYPE', `a region size must be a number of bytes, got ${typeof byteLength}`);
    }
    const pageSize = hostPageSize();
    if (
      !Number.isSafeInteger(byteLength) ||
      byteLength <= 0 ||
      byteLength % pageSize !== 0 ||
      byteLength > MEMFD_REGION_MAX_BYTES
    ) {
      throw new VmigError(
        'ERR_HOST_BAD_REGION_SIZE',
        `region "${name}" size must be a positive multiple of the page size (${pageSize}) ` +
          `no larger than ${MEMFD_REGION_MAX_BYTES} (64 GiB), got ${byteLength}; give it in bytes`,
        { details: { byteLength, pageSize, max: MEMFD_REGION_MAX_BYTES } },
      );
    }

    const addon = native();
    const fd = addon.memfdCreate(name, byteLength);
    let buffer: SharedArrayBuffer;
    try {
      buffer = addon.mapShared(fd, byteLength);
    } catch (err) {
      addon.closeFd(fd);
      throw err;
    }
    return new MemfdRegion(name, fd, buffer);
  }

  /**
   * Map `byteLength` bytes (from offset 0) of an fd another process sent
   * (vhost-user's SET_MEM_TABLE and SET_LOG_BASE). The region owns the fd from
   * here on, and closes it when mapping fails. The native side refuses a file
   * shorter than `byteLength` (touching past its end would raise SIGBUS).
   * @throws VmigError ERR_HOST_FD_TOO_SMALL, ERR_HOST_SYSCALL_FAILED (mmap), ERR_HOST_BAD_REGION_SIZE
   */
  static adopt(name: string, fd: number, byteLength: number): MemfdRegion {
    const addon = native();
    try {
      if (!Number.isSafeInteger(byteLength) || byteLength <= 0 || byteLength > MEMFD_REGION_MAX_BYTES) {
        throw new VmigError('ERR_HOST_BAD_REGION_SIZE', `region "${name}": cannot map ${byteLength} bytes (1..${MEMFD_REGION_MAX_BYTES})`, { details: { byteLength } });
      }
      return new MemfdRegion(name, fd, addon.mapShared(fd, byteLength));
    } catch (err) {
      addon.closeFd(fd);
      throw err;
    }
  }

  /** The memfd; valid until `close()`. Duplicate it (or send it) to keep it longer. */
  get fd(): number {
    if (this.#buffer === undefined) throw this.#closedError('fd');
    return this.#fd;
  }

  /** The whole region. Posting it to a worker shares it; it is never copied. */
  get buffer(): SharedArrayBuffer {
    if (this.#buffer === undefined) throw this.#closedError('buffer');
    return this.#buffer;
  }

  get closed(): boolean {
    return this.#buffer === undefined;
  }

  /**
   * Closes the fd and drops this object's reference to the buffer (see the
   * lifetime note at the top). Idempotent.
   */
  close(): void {
    if (this.#buffer === undefined) return;
    const fd = this.#fd;
    this.#buffer = undefined;
    this.#fd = -1;
    // Linux releases the fd even when close() fails, so the region is closed
    // either way; the error still surfaces because it means someone else
    // closed our fd (a double close elsewhere).
    native().closeFd(fd);
  }

  #closedError(what: string): VmigError {
    return new VmigError('ERR_HOST_REGION_CLOSED', `region "${this.name}" is closed; its ${what} can no longer be used`, {
      details: { name: this.name },
    });
  }
}
