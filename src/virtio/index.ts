/** virtio: spec constants, split virtqueues over guest memory, the virtio-pci modern transport, the virtio-pci saved-state layout. */
export * from './spec-constants.js';
export { vmstateVirtio, virtioSaveCodec, virtioDeviceSectionVmsd, savedGuestFeatures, findPciCapability } from './virtio-vmstate.js';
export type { VirtioSavedState, VirtioQueueSaved, VirtioPciModernState, VirtioTransportContext } from './virtio-vmstate.js';
export { VirtioPciTransport, VIRTIO_PCI_COMMON_CFG, VIRTIO_PCI_ISR, VIRTIO_PCI_DEVICE_CFG, VIRTIO_PCI_NOTIFY, VIRTIO_PCI_NOTIFY_OFF_MULTIPLIER, VIRTIO_PCI_MSIX_TABLE, VIRTIO_PCI_MSIX_PBA, VIRTIO_PCI_ISR_QUEUE, VIRTIO_PCI_ISR_CONFIG } from './pci-transport.js';
export type { VirtioDeviceModel, TransportQueue, RaiseVector } from './pci-transport.js';
export { SplitQueue, splitQueueAreaSizes, vringNeedEvent, VIRTQ_DESC_SIZE, VIRTQ_RING_HEADER_SIZE, VIRTQ_AVAIL_ELEM_SIZE, VIRTQ_USED_ELEM_SIZE, VIRTQ_DESC_ALIGN, VIRTQ_AVAIL_ALIGN, VIRTQ_USED_ALIGN } from './split-queue.js';
export type { SplitQueueConfig, SplitQueueState, RawSplitQueueState } from './split-queue.js';
export { DescriptorChain } from './descriptor-chain.js';
export type { GuestBuffer } from './descriptor-chain.js';
export { VirtqueueError } from './virtqueue-error.js';
export type { VirtqueueErrorCode } from './virtqueue-error.js';
