/**
 * vhost-user-net: vmig's vhost-user net backend (`vmig vhost-user-net`, DESIGN
 * §4): the datapath in its own process, serving a TAP. It sits above
 * devices/net, whose datapath code (copyToRxQueue, flushTx) it reuses.
 */
export { VhostUserNetServer } from './server.js';
export { backendFeatures } from './backend-features.js';
export { rehearseVhostUser } from './rehearsal.js';
export type { VhostUserNetOptions } from './server.js';
export { BACKEND_PROTOCOL_FEATURES } from './session.js';
