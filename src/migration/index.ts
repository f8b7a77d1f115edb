/** migration: QEMU-style live migration of a vmig VM — source, destination, return path, channels' URIs. */
export { OutgoingMigration, SECTION_ID } from './outgoing.js';
export type { OutgoingOptions } from './outgoing.js';
export { IncomingMigration } from './incoming.js';
export type { IncomingOptions } from './incoming.js';
export { parseMigrationUri, formatMigrationUri } from './uri.js';
export type { MigrationUri } from './uri.js';
export { ReturnPathDecoder, encodeReturnPath, MIG_RP_MSG_SHUT, MIG_RP_MSG_PONG, MIG_RP_MSG_SWITCHOVER_ACK, MIG_RP_MSG_X_VMIG_REPORT } from './return-path.js';
export type { ReturnPathMessage, DestinationReport } from './return-path.js';
export { announceSelf } from './self-announce.js';
export type { SelfAnnounce } from './self-announce.js';
export { GUEST_SECTION_IDSTR, VCPU_SECTION_IDSTR, RAM_BLOCK_NAME, guestSectionVmsd, vcpuSectionVmsd, guestMismatch } from './vmig-sections.js';
export type { GuestSectionState, VcpuSectionState } from './vmig-sections.js';
export { PageScanner, allPages, pagesOf } from './ram-pages.js';
export { DEFAULT_PARAMETERS, MIGRATION_CAPABILITIES, SUPPORTED_CAPABILITIES, ramStatsJson, phasesJson } from './migration-types.js';
export type { MigratableVm, MigrationStatus, MigrationCapability, MigrationParameters, DowntimePhases, RamStats } from './migration-types.js';
export { warmUpNetPaths, WARM_UP_RUNS } from './warm-up.js';
export { EARLY_CATEGORIES, changedCategories, needsFullReload, buildDelta, applyDelta, netDeltaVmsd, sameValue } from './early-net.js';
export type { EarlyPolicy, EarlyCategory, NetDelta } from './early-net.js';
