/**
 * The guest's network stack: pure packet code over Uint8Array spans (guest
 * RAM or not), plus the two structures it keeps in RAM (ARP cache, interface
 * configuration). Re-exported by src/guest/index.ts.
 */
export * from './drop-reason.js';
export * from './mac-address.js';
export * from './ipv4-address.js';
export * from './checksum.js';
export * from './ethernet.js';
export * from './arp.js';
export * from './arp-cache.js';
export * from './ipv4.js';
export * from './icmp.js';
export * from './udp.js';
export * from './virtio-net-header.js';
export * from './interface-config.js';
export * from './receive-classifier.js';
export * from './reply-frames.js';
