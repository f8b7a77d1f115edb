/**
 * host: the only layer that touches the OS. Everything here goes through the
 * native addon (native/vmig_native.cc), which only ./native.ts loads, or
 * through node's own OS modules. See docs/host.md.
 */
// Everything a running VMM needs (the narrow entry), then the migration channels and test/bench helpers.
export * from './index.vmm.js';
export { connectMigration, listenMigration, openMigrationFileSink, readMigrationFile } from './migration-socket.js';
export type { MigrationEndpoint, MigrationLink, MigrationLinkHandlers, MigrationListener } from './migration-socket.js';
export { NetworkNamespace, ip, netnsUnavailableReason } from './netns.js';
export { UdpProbe } from './udp-probe.js';
export type { ProbeWindow } from './udp-probe.js';
export { SchedTrace, parseSchedTrace, schedTraceUnavailableReason } from './sched-trace.js';
export type { SchedRecord, SchedSwitch, SchedWakeup } from './sched-trace.js';
