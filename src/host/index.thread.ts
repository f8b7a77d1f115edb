/**
 * host, narrowest entry: what a vCPU worker thread needs of the host layer
 * (its own thread id), without loading the rest. Every export here is also
 * exported by index.ts.
 */
export { currentThreadId } from './thread-id.js';
