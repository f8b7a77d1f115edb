/**
 * host, narrow entry: memfd regions (guest RAM shared with other processes)
 * and nothing else. src/memory builds guest RAM on it, and a vCPU worker
 * loads src/memory, so this keeps TAP, eventfds, sockets, file input (zlib)
 * and node:net out of every worker's start-up. Every export here is also
 * exported by index.ts.
 */
export { MemfdRegion, MEMFD_REGION_MAX_BYTES, hostPageSize } from './memfd-region.js';
