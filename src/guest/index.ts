/**
 * guest: the guest OS that runs in vCPU workers (DESIGN §3). Its only public
 * surface for other layers. So far: the network stack (net/); the driver,
 * scheduler and applications will add their exports here.
 */
export * from './net/index.js';
// The VMM's side of the vCPU contract and the guest kernel's entry points.
export { Vcpu, VcpuThread } from './vcpu-handle.js';
export type { MmioHandler, VcpuOptions, VcpuAssignment } from './vcpu-handle.js';
export { RunState } from './vcpu-protocol.js';
export { AdminChannelHost, ADMIN_VECTOR, ADMIN_DOORBELL } from './kernel/admin-channel.js';
export type { AdminRequest, AdminResponse } from './kernel/admin-channel.js';
export type { KernelBootData, GuestConfig as GuestKernelConfig } from './kernel/kernel.js';
export { GUEST_FIRMWARE_BUILD_ID, LAYOUT_VERSION as GUEST_RAM_LAYOUT_VERSION } from './kernel/ram-layout.js';
export { GUEST_KERNEL_URL } from './guest-kernel.js';
export { CONSOLE_MMIO, CONSOLE_LINE_MAX } from './kernel/console.js';
