/**
 * The sections vmig adds to QEMU's stream for what its own machine has and
 * QEMU's does not: the guest firmware that wrote RAM, and the state of a vmig
 * vCPU. They are ordinary vmstate sections, so they appear in the vmdesc and
 * `vmig analyze` (or QEMU's analyze-migration.py) can read them.
 *
 *   vmig-guest (FULL, setup phase, before RAM): checked by the destination
 *     before it touches anything — a guest written by other firmware, or a
 *     machine of another shape, is refused up front.
 *   vmig-vcpu  (FULL, one per vCPU, stop-and-copy): the frozen guest clock and
 *     the MSI-X vectors raised but not yet taken.
 */

import type { Vmsd } from '../vmstate/index.js';

export const RAM_BLOCK_NAME = 'pc.ram';
export const GUEST_SECTION_IDSTR = 'vmig-guest';
export const VCPU_SECTION_IDSTR = 'vmig-vcpu';

export interface GuestSectionState {
  firmwareBuildId: number;
  ramLayoutVersion: number;
  vcpuCount: number;
  ramBytes: bigint;
}

export interface VcpuSectionState {
  /** Guest time (ns) at which the vCPU was frozen. */
  guestClockNs: bigint;
  /** Pending MSI-X vectors, bit i = vector i. */
  irqPending: bigint;
}

export const guestSectionVmsd: Vmsd = {
  name: GUEST_SECTION_IDSTR,
  version: 1,
  minimumVersion: 1,
  fields: [
    { name: 'firmware_build_id', path: ['firmwareBuildId'], type: { kind: 'int', type: 'uint32' } },
    { name: 'ram_layout_version', path: ['ramLayoutVersion'], type: { kind: 'int', type: 'uint32' } },
    { name: 'vcpu_count', path: ['vcpuCount'], type: { kind: 'int', type: 'uint32' } },
    { name: 'ram_bytes', path: ['ramBytes'], type: { kind: 'int', type: 'uint64' } },
  ],
};

export const vcpuSectionVmsd: Vmsd = {
  name: VCPU_SECTION_IDSTR,
  version: 1,
  minimumVersion: 1,
  fields: [
    { name: 'guest_clock_ns', path: ['guestClockNs'], type: { kind: 'int', type: 'int64' } },
    { name: 'irq_pending', path: ['irqPending'], type: { kind: 'int', type: 'uint64' } },
  ],
};

/** The destination's verdict on a vmig-guest section: undefined when it may proceed. */
export function guestMismatch(sent: GuestSectionState, here: GuestSectionState): string | undefined {
  if (sent.firmwareBuildId !== here.firmwareBuildId) {
    return `the guest runs firmware build 0x${sent.firmwareBuildId.toString(16)}, this VMM carries 0x${here.firmwareBuildId.toString(16)}`;
  }
  if (sent.ramLayoutVersion !== here.ramLayoutVersion) return `guest RAM layout version ${sent.ramLayoutVersion} is not ${here.ramLayoutVersion}`;
  if (sent.vcpuCount !== here.vcpuCount) return `the source has ${sent.vcpuCount} vCPU(s), this VM ${here.vcpuCount} (-smp must match)`;
  if (sent.ramBytes !== here.ramBytes) return `the source has ${sent.ramBytes} bytes of RAM, this VM ${here.ramBytes} (-m must match)`;
  return undefined;
}
