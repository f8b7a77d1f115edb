/** devices/net: virtio-net (its saved state so far; the live device comes with the VMM). */
export * from './spec-constants.js';
export { netDeviceVmsd, netSectionVmsd } from './net-vmstate.js';
export type { NetSavedState, NetVmstateContext, QemuFlavor } from './net-vmstate.js';
export { summarizeNetSection, formatMac, hexBytes, vlanIds } from './net-summary.js';
export type { NetSectionSummary } from './net-summary.js';
export { rxFilter, vlanAllowed } from './rx-filter.js';
export type { RxFilterState, RxVerdict } from './rx-filter.js';
export { toeplitzHash, rssSelectQueue, VIRTIO_NET_RSS_HASH_TYPE_IPv4, VIRTIO_NET_RSS_HASH_TYPE_TCPv4, VIRTIO_NET_RSS_HASH_TYPE_UDPv4, VIRTIO_NET_RSS_HASH_TYPE_IPv6, VIRTIO_NET_RSS_HASH_TYPE_TCPv6, VIRTIO_NET_RSS_HASH_TYPE_UDPv6 } from './rss.js';
export type { RssConfig } from './rss.js';
