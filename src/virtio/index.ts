/** virtio: spec constants and the virtio-pci saved-state layout (queues and transport come in later issues). */
export * from './spec-constants.js';
export { vmstateVirtio, virtioSaveCodec, virtioDeviceSectionVmsd, savedGuestFeatures, findPciCapability } from './virtio-vmstate.js';
export type { VirtioSavedState, VirtioQueueSaved, VirtioPciModernState, VirtioTransportContext } from './virtio-vmstate.js';
