/** The tests' network namespace is the product's (src/host/netns.ts). */
export { NetworkNamespace as TestNetns, ip, netnsUnavailableReason } from '../../src/host/index.js';
