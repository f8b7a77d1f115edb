/**
 * virtio-net constants (virtio 1.2 §5.1; QEMU hw/net/virtio-net.c). Names are the spec's.
 */

/** Feature bits. */
export const VIRTIO_NET_F_CSUM = 0;
export const VIRTIO_NET_F_GUEST_CSUM = 1;
export const VIRTIO_NET_F_CTRL_GUEST_OFFLOADS = 2;
export const VIRTIO_NET_F_MTU = 3;
export const VIRTIO_NET_F_MAC = 5;
export const VIRTIO_NET_F_GUEST_TSO4 = 7;
export const VIRTIO_NET_F_GUEST_TSO6 = 8;
export const VIRTIO_NET_F_GUEST_ECN = 9;
export const VIRTIO_NET_F_GUEST_UFO = 10;
export const VIRTIO_NET_F_HOST_TSO4 = 11;
export const VIRTIO_NET_F_HOST_TSO6 = 12;
export const VIRTIO_NET_F_HOST_ECN = 13;
export const VIRTIO_NET_F_HOST_UFO = 14;
export const VIRTIO_NET_F_MRG_RXBUF = 15;
export const VIRTIO_NET_F_STATUS = 16;
export const VIRTIO_NET_F_CTRL_VQ = 17;
export const VIRTIO_NET_F_CTRL_RX = 18;
export const VIRTIO_NET_F_CTRL_VLAN = 19;
export const VIRTIO_NET_F_CTRL_RX_EXTRA = 20;
export const VIRTIO_NET_F_GUEST_ANNOUNCE = 21;
export const VIRTIO_NET_F_MQ = 22;
export const VIRTIO_NET_F_CTRL_MAC_ADDR = 23;
export const VIRTIO_NET_F_HASH_REPORT = 57;
export const VIRTIO_NET_F_RSS = 60;

/** Status bits (config space `status`). */
export const VIRTIO_NET_S_LINK_UP = 1;
export const VIRTIO_NET_S_ANNOUNCE = 2;

/** QEMU: MAC filter table entries and VLAN ids. */
export const MAC_TABLE_ENTRIES = 64;
export const MAX_VLAN = 4096;
/** QEMU VIRTIO_NET_VM_VERSION: the section and device-description version. */
export const VIRTIO_NET_VM_VERSION = 11;
/** RSS key size QEMU saves (VIRTIO_NET_RSS_MAX_KEY_SIZE). */
export const VIRTIO_NET_RSS_MAX_KEY_SIZE = 40;
/** RSS indirection table limit (VIRTIO_NET_RSS_MAX_TABLE_LEN). */
export const VIRTIO_NET_RSS_MAX_TABLE_LEN = 128;
/** QEMU VIRTIO_NET_RSS_SUPPORTED_HASHES: what a v1 RSS subsection implies. */
export const VIRTIO_NET_RSS_SUPPORTED_HASHES = 0x1ff;
/** QEMU VIRTIO_NET_MAX_QUEUES-ish bound on queue pairs a stream may claim. */
export const VIRTIO_NET_MAX_QUEUE_PAIRS = 1024;
