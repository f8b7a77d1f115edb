/**
 * The guest console: the kernel's log lines, for `-serial`. A line is written
 * into a buffer in guest RAM and handed to the VMM with one MMIO write to
 * CONSOLE_MMIO (value = gpa | length << 32), so a line costs one exit, not
 * one per byte as a UART would.
 */

import type { GuestMemory } from '../../memory/index.js';
import { encodeText } from '../../core/index.js';
import type { VcpuServices } from '../vcpu-services.js';

/** Platform MMIO address of the console doorbell (outside the NIC's BAR). */
export const CONSOLE_MMIO = 0x10_0000;
export const CONSOLE_LINE_MAX = 480;

export class GuestConsole {
  readonly #mem: GuestMemory;
  readonly #svc: VcpuServices;
  readonly #buf: number;

  constructor(mem: GuestMemory, services: VcpuServices, bufferGpa: number) {
    this.#mem = mem;
    this.#svc = services;
    this.#buf = bufferGpa;
  }

  log(line: string): void {
    if (this.#buf === 0) return;
    const bytes = encodeText(line).subarray(0, CONSOLE_LINE_MAX);
    this.#mem.write(this.#buf, bytes);
    this.#svc.mmioWrite(BigInt(CONSOLE_MMIO), 8, BigInt(this.#buf) | (BigInt(bytes.length) << 32n));
  }
}
