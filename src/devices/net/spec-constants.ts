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

/** Legacy GSO feature (QEMU offers it to legacy drivers only). */
export const VIRTIO_NET_F_GSO = 6;

/** Control virtqueue (virtio 1.2 §5.1.6.5): ack values and command classes/commands. */
export const VIRTIO_NET_OK = 0;
export const VIRTIO_NET_ERR = 1;
export const VIRTIO_NET_CTRL_RX = 0;
export const VIRTIO_NET_CTRL_RX_PROMISC = 0;
export const VIRTIO_NET_CTRL_RX_ALLMULTI = 1;
export const VIRTIO_NET_CTRL_RX_ALLUNI = 2;
export const VIRTIO_NET_CTRL_RX_NOMULTI = 3;
export const VIRTIO_NET_CTRL_RX_NOUNI = 4;
export const VIRTIO_NET_CTRL_RX_NOBCAST = 5;
export const VIRTIO_NET_CTRL_MAC = 1;
export const VIRTIO_NET_CTRL_MAC_TABLE_SET = 0;
export const VIRTIO_NET_CTRL_MAC_ADDR_SET = 1;
export const VIRTIO_NET_CTRL_VLAN = 2;
export const VIRTIO_NET_CTRL_VLAN_ADD = 0;
export const VIRTIO_NET_CTRL_VLAN_DEL = 1;
export const VIRTIO_NET_CTRL_ANNOUNCE = 3;
export const VIRTIO_NET_CTRL_ANNOUNCE_ACK = 0;
export const VIRTIO_NET_CTRL_MQ = 4;
export const VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET = 0;
export const VIRTIO_NET_CTRL_MQ_RSS_CONFIG = 1;
export const VIRTIO_NET_CTRL_MQ_HASH_CONFIG = 2;
export const VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN = 1;
export const VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX = 0x8000;
export const VIRTIO_NET_CTRL_GUEST_OFFLOADS = 5;
export const VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET = 0;

/** virtio_net_hdr_v1 (virtio 1.2 §5.1.6): 12 bytes, num_buffers (le16) at offset 10. */
export const VIRTIO_NET_HDR_V1_SIZE = 12;
export const VIRTIO_NET_HDR_NUM_BUFFERS_OFFSET = 10;

/** struct virtio_net_config offsets (virtio 1.2 §5.1.4). */
export const VIRTIO_NET_CFG_MAC = 0;
export const VIRTIO_NET_CFG_STATUS = 6;
export const VIRTIO_NET_CFG_MAX_VIRTQUEUE_PAIRS = 8;
export const VIRTIO_NET_CFG_MTU = 10;
export const VIRTIO_NET_CFG_SPEED = 12;
export const VIRTIO_NET_CFG_DUPLEX = 16;
export const VIRTIO_NET_CFG_RSS_MAX_KEY_SIZE = 17;
export const VIRTIO_NET_CFG_RSS_MAX_INDIRECTION_TABLE_LENGTH = 18;
export const VIRTIO_NET_CFG_SUPPORTED_HASH_TYPES = 20;
/** sizeof(struct virtio_net_config). */
export const VIRTIO_NET_CONFIG_MAX_SIZE = 24;

/** virtio-pci ids (virtio 1.2 §4.1.2): modern virtio-net is 0x1040 + 1. */
export const PCI_VENDOR_ID_REDHAT_QUMRANET = 0x1af4;
export const PCI_DEVICE_ID_VIRTIO_NET_MODERN = 0x1041;
export const PCI_SUBSYSTEM_ID_QEMU = 0x1100;
export const PCI_CLASS_NETWORK_ETHERNET = 0x0200;
/** QEMU's default rx/tx queue size and its control queue size. */
export const VIRTIO_NET_QUEUE_DEFAULT_SIZE = 256;
export const VIRTIO_NET_CTRL_QUEUE_SIZE = 64;
/** QEMU TX_BURST: chains one TX flush takes before yielding. */
export const VIRTIO_NET_TX_BURST = 256;
