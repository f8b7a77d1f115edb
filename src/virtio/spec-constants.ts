/**
 * virtio constants used by the saved-state layout (virtio 1.2 spec §2.1, §6;
 * QEMU hw/virtio/virtio.c). Names are the spec's.
 */

/** Device status bits (virtio 1.2 §2.1). */
export const VIRTIO_CONFIG_S_ACKNOWLEDGE = 1;
export const VIRTIO_CONFIG_S_DRIVER = 2;
export const VIRTIO_CONFIG_S_DRIVER_OK = 4;
export const VIRTIO_CONFIG_S_FEATURES_OK = 8;
export const VIRTIO_CONFIG_S_NEEDS_RESET = 0x40;
export const VIRTIO_CONFIG_S_FAILED = 0x80;

/** Transport feature bits (virtio 1.2 §6). */
export const VIRTIO_F_INDIRECT_DESC = 28;
export const VIRTIO_F_EVENT_IDX = 29;
export const VIRTIO_F_VERSION_1 = 32;
export const VIRTIO_F_ACCESS_PLATFORM = 33;
export const VIRTIO_F_RING_PACKED = 34;
export const VIRTIO_F_RING_RESET = 40;

/** QEMU: the fixed size of per-device virtqueue arrays in the saved state. */
export const VIRTIO_QUEUE_MAX = 1024;
/** MSI-X "no vector". */
export const VIRTIO_NO_VECTOR = 0xffff;

/** QEMU VIRTIO_DEVICE_ENDIAN_*. */
export const VIRTIO_DEVICE_ENDIAN_UNKNOWN = 0;
export const VIRTIO_DEVICE_ENDIAN_LITTLE = 1;
export const VIRTIO_DEVICE_ENDIAN_BIG = 2;

/** PCI config space sizes and the capability ids the layout depends on. */
export const PCI_CONFIG_SPACE_SIZE = 256;
export const PCIE_CONFIG_SPACE_SIZE = 4096;
export const PCI_CAPABILITY_LIST = 0x34;
export const PCI_STATUS = 0x06;
export const PCI_STATUS_CAP_LIST = 0x10;
export const PCI_CAP_ID_MSIX = 0x11;
export const PCI_CAP_ID_EXP = 0x10;
export const PCI_MSIX_FLAGS_QSIZE = 0x07ff;
export const PCI_MSIX_ENTRY_SIZE = 16;
export const PCI_NUM_PINS = 4;

/** Split virtqueue descriptor flags (virtio 1.2 §2.7.5). */
export const VIRTQ_DESC_F_NEXT = 1;
export const VIRTQ_DESC_F_WRITE = 2;
export const VIRTQ_DESC_F_INDIRECT = 4;
/** Available ring flag: the driver needs no used buffer notification (virtio 1.2 §2.7.6, §2.7.7). */
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
/** Used ring flag: the device needs no available buffer notification (virtio 1.2 §2.7.8, §2.7.10). */
export const VIRTQ_USED_F_NO_NOTIFY = 1;
/** Largest split virtqueue size; sizes are powers of two (virtio 1.2 §2.7). */
export const VIRTQ_MAX_SIZE = 32768;
