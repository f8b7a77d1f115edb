/**
 * virtio, narrow entry: the spec constants and the virtio-pci BAR layout and
 * nothing else — what the guest's virtio-net driver needs. Importing
 * index.ts instead also loads the transport, split queues and the saved-state
 * layout (and with it the vmstate interpreter), which a vCPU worker never
 * uses; every export here is also exported by index.ts.
 */
export * from './spec-constants.js';
export * from './pci-layout.js';
