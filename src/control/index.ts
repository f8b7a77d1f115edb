/**
 * control: the QMP monitor (server, sessions, command registry with argument
 * schemas) and a small client for tests and the bench. Knows nothing about
 * VMs: the layers above register their commands.
 */
export { JsonStreamSplitter, toStandardJson, QMP_MAX_MESSAGE_BYTES, QMP_MAX_NESTING } from './json-stream-splitter.js';
export type { JsonFrame, JsonStreamSplitterOptions } from './json-stream-splitter.js';
export { QmpError, toQmpErrorBody, badArgument } from './qmp-error.js';
export type { QmpErrorClass } from './qmp-error.js';
export { formatQmpJson, formatQmpLine, qmpTimestamp } from './qmp-json.js';
export type { QmpTimestamp } from './qmp-json.js';
export { validateArguments } from './qmp-schema.js';
export type { QmpArgType, QmpArgMembers } from './qmp-schema.js';
export { QmpCommandRegistry, RESERVED_COMMANDS } from './qmp-command-registry.js';
export type { QmpCommand, QmpCommandContext } from './qmp-command-registry.js';
export { QmpSession, VMIG_QMP_VERSION, QMP_REQUEST_QUEUE_MAX } from './qmp-session.js';
export type { QmpSessionOptions, QmpTransport, QmpVersionInfo, QmpEventMessage } from './qmp-session.js';
export { QmpServer } from './qmp-server.js';
export type { QmpServerOptions } from './qmp-server.js';
export { QmpClient } from './qmp-client.js';
export type { QmpClientOptions, QmpEvent, QmpGreeting } from './qmp-client.js';
