/**
 * The virtio-pci BAR layout vmig's transport decodes (offsets as QEMU's
 * modern layout uses them; see pci-transport.ts for the register map). Both
 * sides use it: the transport (VMM) and the guest's driver. Constants only,
 * so the guest kernel can import them without the transport and the saved
 * state (virtio/index.constants.ts).
 */

export const VIRTIO_PCI_COMMON_CFG = 0x0000;
export const VIRTIO_PCI_ISR = 0x1000;
export const VIRTIO_PCI_DEVICE_CFG = 0x2000;
export const VIRTIO_PCI_NOTIFY = 0x3000;
export const VIRTIO_PCI_NOTIFY_OFF_MULTIPLIER = 4;
export const VIRTIO_PCI_MSIX_TABLE = 0x10000;
export const VIRTIO_PCI_MSIX_PBA = 0x11000;

/** ISR bits. */
export const VIRTIO_PCI_ISR_QUEUE = 1;
export const VIRTIO_PCI_ISR_CONFIG = 2;
