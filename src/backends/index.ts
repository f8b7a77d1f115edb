/** backends: the NetBackend interface a virtio-net device talks to, and the tap backend (vhost-user comes later). */
export { VNET_HDR_LEN, NET_BUFSIZE, NO_OFFLOADS } from './net-backend.js';
export type { NetBackend, NetBackendClient, NetOffloads } from './net-backend.js';
export { BackendError } from './backend-error.js';
export type { BackendErrorCode } from './backend-error.js';
export { TapBackend, tunOffloadFlags } from './tap/tap-backend.js';
export type { TapBackendOptions, TapBackendStats } from './tap/tap-backend.js';
