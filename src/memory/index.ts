/** memory: guest RAM over a SharedArrayBuffer (memfd-backed in the VMM) and its dirty-page bitmap. */
export { GuestMemory, GUEST_PAGE_SIZE, GUEST_PAGE_SHIFT, GUEST_MEMORY_MAX_BYTES } from './guest-memory.js';
export type { GuestMemoryShared } from './guest-memory.js';
export { DirtyBitmap, DirtySnapshot } from './dirty-bitmap.js';
export { GuestMemoryError } from './errors.js';
export type { GuestMemoryErrorCode } from './errors.js';
