/** backends: the NetBackend interface a virtio-net device talks to, and the tap backend (vhost-user comes later). */
export { VNET_HDR_LEN, NET_BUFSIZE, NO_OFFLOADS } from './net-backend.js';
export type { NetBackend, NetBackendClient, NetOffloads, ExternalDatapath, ExternalRing } from './net-backend.js';
export { BackendError } from './backend-error.js';
export type { BackendErrorCode } from './backend-error.js';
export { TapBackend, tunOffloadFlags } from './tap/tap-backend.js';
export type { TapBackendOptions, TapBackendStats } from './tap/tap-backend.js';
export * as VhostUserProtocol from './vhost-user/protocol.js';
export { VhostUserError, MessageFramer, requestName } from './vhost-user/protocol.js';
export type { VhostUserMessage, VringAddr, VringState, MemoryRegion, LogArea, VhostUserErrorCode } from './vhost-user/protocol.js';
export { VhostUserConnection } from './vhost-user/connection.js';
export type { ConnectionHandlers } from './vhost-user/connection.js';
export { VhostUserFrontend, VHOST_USER_REPLY_TIMEOUT_MS } from './vhost-user/frontend.js';
export { VhostUserBackend, VHOST_USER_RAM_UADDR } from './vhost-user/vhost-user-backend.js';
