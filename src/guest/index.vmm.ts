/**
 * guest, narrow entry: the VMM's side of the guest — vCPU threads and
 * handles, the admin channel's host end, the console MMIO contract, the
 * guest kernel's URL and boot data — without the guest's network stack, which
 * only the guest kernel (inside vCPU threads) runs. `vmig run` loads this
 * before anything else to start its vCPU threads, and the VM imports it so
 * the VMM thread does not load the guest network stack's modules at
 * start-up. Every export here is also exported by index.ts.
 */
export { Vcpu, VcpuThread } from './vcpu-handle.js';
export type { MmioHandler, VcpuAssignment, VcpuOptions } from './vcpu-handle.js';
export { GUEST_KERNEL_URL } from './guest-kernel.js';
export { AdminChannelHost, ADMIN_VECTOR, ADMIN_DOORBELL } from './kernel/admin-channel.js';
export type { AdminRequest, AdminResponse } from './kernel/admin-channel.js';
export type { KernelBootData } from './kernel/kernel.js';
export { CONSOLE_MMIO, CONSOLE_LINE_MAX } from './kernel/console.js';
export { GUEST_FIRMWARE_BUILD_ID, LAYOUT_VERSION as GUEST_RAM_LAYOUT_VERSION } from './kernel/ram-layout.js';
