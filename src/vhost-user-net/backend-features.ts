/** The virtio features `vmig vhost-user-net`'s datapath implements (GET_FEATURES). */

import { VhostUserProtocol as P } from '../backends/index.js';
import type { NetBackend } from '../backends/index.js';
import { VIRTIO_F_VERSION_1 } from '../virtio/index.js';
import { VIRTIO_NET_F_GUEST_UFO, VIRTIO_NET_F_HOST_UFO, VIRTIO_NET_F_MRG_RXBUF, VNET_HDR_FEATURES } from '../devices/net/index.js';

/** Offloads only with vnet headers on the port, UFO only where the port takes it. */
export function backendFeatures(tap: Pick<NetBackend, 'hasVnetHdr' | 'hasUfo'>): bigint {
  const bits = [VIRTIO_F_VERSION_1, VIRTIO_NET_F_MRG_RXBUF, P.VHOST_F_LOG_ALL, P.VHOST_USER_F_PROTOCOL_FEATURES];
  if (tap.hasVnetHdr) {
    bits.push(...VNET_HDR_FEATURES);
    if (tap.hasUfo) bits.push(VIRTIO_NET_F_GUEST_UFO, VIRTIO_NET_F_HOST_UFO);
  }
  return bits.reduce((acc, b) => acc | (1n << BigInt(b)), 0n);
}

