/**
 * host, narrow entry: the calling thread's scheduling priority, for vCPU
 * worker threads (which must not load the rest of src/host). Every export
 * here is also exported by index.ts.
 */
export { lowerThreadPriority } from './thread-priority.js';
