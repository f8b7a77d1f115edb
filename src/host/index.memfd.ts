/**
 * host, narrow entry: memfd regions (guest RAM shared with other processes)
 * and the native scans of the dirty bitmap, nothing else. src/memory builds
 * guest RAM and its dirty bitmap on them, and a vCPU worker
 * loads src/memory, so this keeps TAP, eventfds, sockets, file input (zlib)
 * and node:net out of every worker's start-up. Every export here is also
 * exported by index.ts.
 */
export { MemfdRegion, MEMFD_REGION_MAX_BYTES, hostPageSize } from './memfd-region.js';
export { bitIndices, harvestBits } from './bit-words.js';
