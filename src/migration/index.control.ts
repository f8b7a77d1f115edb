/**
 * migration, narrow entry: what the VMM's QMP surface needs before any
 * migration runs — URI parsing, QEMU's capability and parameter tables,
 * announce-self — without the engine (incoming/outgoing, the stream codec,
 * early migration), which `vmig run` loads on first use or in the background
 * (a few dozen modules off the VM's start-up). Every export here is also
 * exported by index.ts.
 */
export { parseMigrationUri, formatMigrationUri } from './uri.js';
export type { MigrationUri } from './uri.js';
export { announceSelf } from './self-announce.js';
export type { SelfAnnounce } from './self-announce.js';
export { DEFAULT_PARAMETERS, MIGRATION_CAPABILITIES, SUPPORTED_CAPABILITIES } from './migration-types.js';
export type { MigratableVm, MigrationStatus, MigrationCapability, MigrationParameters } from './migration-types.js';
