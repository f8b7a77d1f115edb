/**
 * host: the only layer that touches the OS. Everything here goes through the
 * native addon (native/vmig_native.cc), which only ./native.ts loads.
 */
export { MemfdRegion, MEMFD_REGION_MAX_BYTES, hostPageSize } from './memfd-region.js';
export { readInputFile } from './files.js';
