/**
 * A CPU wake-up latency request (Linux PM QoS, /dev/cpu_dma_latency): while
 * one of 0 µs is held, an idle CPU polls instead of halting.
 *
 * Why: every step of a switchover is a wake-up on another CPU — the vCPUs
 * parking, the destination reading the final pages, the destination's vCPUs
 * resuming, the source reading SHUT. A halted CPU takes tens to hundreds of
 * microseconds to come back, more under a hypervisor (a virtual CPU's halt
 * is an exit to its host, its wake-up an interrupt the host delivers).
 * Interleaved A/Bs on this project's machine (docs/BENCHMARKS.md, session 8)
 * put the median downtime at 3.0–3.3 ms with the request held against
 * 4.1–4.2 ms without, every phase shorter. It is the setting of tuned's
 * latency-performance profile, held only while a migration runs.
 *
 * Held for the whole migration, not from the stop: made at the stop, the
 * request's own wake-up of every idle CPU fell inside the downtime and the
 * destination's first read of the final pages still met a halted CPU (the
 * same A/B: 4.5 ms).
 *
 * A request lives as long as its file descriptor: a process that dies drops
 * it. The device is root's (mode 0600): elsewhere no request is made and
 * CPUs halt as before.
 */

import { closeSync, openSync, writeSync } from 'node:fs';

export const CPU_LATENCY_DEVICE = '/dev/cpu_dma_latency';
/** The largest request PM QoS takes (µs): its default, "no constraint". */
export const CPU_LATENCY_MAX_US = 2_000_000_000;

export class CpuLatencyRequest {
  readonly #fd: number;
  #closed = false;

  private constructor(fd: number) {
    this.#fd = fd;
  }

  /**
   * Ask that CPUs wake within `maxUs` µs (0: idle CPUs poll). Undefined when
   * no request could be made (not root, no PM QoS): nothing changed.
   * @throws RangeError for a value PM QoS does not take
   */
  static hold(maxUs: number, device = CPU_LATENCY_DEVICE): CpuLatencyRequest | undefined {
    if (!Number.isInteger(maxUs) || maxUs < 0 || maxUs > CPU_LATENCY_MAX_US) throw new RangeError(`CPU latency ${maxUs} µs is not an integer in 0..${CPU_LATENCY_MAX_US}`);
    let fd: number;
    try {
      fd = openSync(device, 'w');
    } catch {
      return undefined;
    }
    // The kernel reads one native-endian s32 (x86 and arm64: little-endian).
    const value = Buffer.alloc(4);
    value.writeInt32LE(maxUs, 0);
    try {
      if (writeSync(fd, value) === 4) return new CpuLatencyRequest(fd);
    } catch {
      // Refused: no request without its value.
    }
    closeSync(fd);
    return undefined;
  }

  get held(): boolean {
    return !this.#closed;
  }

  /** Drop the request (once). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      closeSync(this.#fd);
    } catch {
      // Nothing to undo: the request went with the fd.
    }
  }
}
