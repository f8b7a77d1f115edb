/** devices/net: virtio-net (its saved state so far; the live device comes with the VMM). */
export * from './spec-constants.js';
export { netDeviceVmsd, netSectionVmsd } from './net-vmstate.js';
export type { NetSavedState, NetVmstateContext, QemuFlavor } from './net-vmstate.js';
export { summarizeNetSection, formatMac, hexBytes, vlanIds } from './net-summary.js';
export type { NetSectionSummary } from './net-summary.js';
