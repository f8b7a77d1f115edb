/**
 * Why the receive path dropped a frame: one small integer per cause, so the
 * guest can keep a counter array in RAM indexed by reason (like Linux's
 * `enum skb_drop_reason` and the per-reason counters behind `nstat`).
 *
 * 0 is `None` ("not dropped"): a zeroed result or counter slot means nothing
 * happened, which is what a zeroed region of guest RAM should mean. Codes are
 * stable once released (counters in a migrated guest are indexed by them);
 * add new ones at the end.
 */

export const DropReason = {
  /** Not dropped. */
  None: 0,

  // virtio-net header (before the frame)
  /** The buffer is shorter than struct virtio_net_hdr_v1. */
  VirtioHeaderTruncated: 1,
  /** The device sent a GSO frame; the guest never negotiates GUEST_TSO/UFO/USO. */
  VirtioGsoUnsupported: 2,
  /** NEEDS_CSUM with csum_start/csum_offset outside the frame. */
  VirtioBadPartialChecksum: 3,

  // Ethernet / 802.1Q
  /** Shorter than an Ethernet II header (14 bytes). */
  FrameTooShort: 4,
  /** TPID 0x8100 present but the frame ends inside the tag or the inner ethertype. */
  VlanTruncated: 5,
  /** VID 4095 is reserved by 802.1Q. */
  VlanReservedId: 6,
  /** A second tag (QinQ, or an 802.1ad S-tag): not supported. */
  VlanStacked: 7,
  /** On a VLAN (or, for VID 0, the untagged link) none of our interfaces is on. */
  VlanUnknown: 8,
  /** Type/length field < 0x0600: an 802.3 length frame (LLC), not Ethernet II. */
  NotEthernetII: 9,
  /** Unicast to another MAC (the device was promiscuous). */
  NotOurMac: 10,
  /** Source MAC is multicast or broadcast: invalid on the wire. */
  SourceMacMulticast: 11,
  /** Source MAC is ours: our own frame looped back. */
  FromOurMac: 12,
  /** An ethertype the stack does not speak (IPv6, LLDP, …). */
  UnsupportedEtherType: 13,

  // ARP / RARP
  /** Shorter than an Ethernet/IPv4 ARP packet (28 bytes). */
  ArpTruncated: 14,
  /** Not hardware Ethernet (1) + protocol IPv4 (0x0800) with lengths 6 and 4. */
  ArpUnsupportedFormat: 15,
  /** An operation other than request (1) or reply (2) on ethertype ARP. */
  ArpUnsupportedOperation: 16,
  /** Sender MAC multicast, or sender/target IP multicast or limited broadcast. */
  ArpBadAddress: 17,
  /** Another MAC claims one of our IPs (an address conflict; we keep ours). */
  ArpAddressConflict: 18,
  /** Not for our addresses and nothing to learn (a probe from 0.0.0.0 for someone else). */
  ArpNotForUs: 19,
  /** RARP: we are not a RARP server (these are mostly other VMs' announces). */
  RarpIgnored: 20,

  // IPv4
  /** Shorter than a minimal IPv4 header (20 bytes). */
  Ipv4Truncated: 21,
  /** Version field is not 4. */
  Ipv4BadVersion: 22,
  /** IHL < 5, or the header (with options) runs past the frame. */
  Ipv4BadHeaderLength: 23,
  /** Total length smaller than the header or larger than the frame. */
  Ipv4BadTotalLength: 24,
  /** Header checksum does not verify. */
  Ipv4BadChecksum: 25,
  /** A fragment (MF set or offset ≠ 0): the stack does not reassemble. */
  Ipv4Fragment: 26,
  /** Source is multicast, limited broadcast or 0.0.0.0. */
  Ipv4BadSource: 27,
  /** Destination is not one of our addresses or a broadcast of our subnets. */
  Ipv4NotForUs: 28,
  /** A multicast destination while multicast reception is off. */
  Ipv4MulticastRefused: 29,
  /** IP unicast inside a link-layer broadcast/multicast (RFC 1122 §3.3.6: discard). */
  Ipv4UnicastInL2Multicast: 30,
  /** A protocol other than ICMP and UDP. */
  Ipv4UnsupportedProtocol: 31,

  // ICMP
  /** Shorter than an ICMP echo header (8 bytes). */
  IcmpTruncated: 32,
  /** ICMP checksum does not verify. */
  IcmpBadChecksum: 33,
  /** Any ICMP type but echo request. */
  IcmpUnsupportedType: 34,
  /** Echo request to a broadcast/multicast address (ignored, like Linux's default). */
  IcmpEchoToBroadcast: 35,

  // UDP
  /** Shorter than a UDP header (8 bytes). */
  UdpTruncated: 36,
  /** UDP length < 8 or larger than the IP payload. */
  UdpBadLength: 37,
  /** Non-zero UDP checksum that does not verify. */
  UdpBadChecksum: 38,
  /** Destination port 0 (reserved; nothing can be bound to it). */
  UdpBadPort: 39,
} as const;

export type DropReason = (typeof DropReason)[keyof typeof DropReason];

/** How many reasons there are: the length of a per-reason counter array. */
export const DROP_REASON_COUNT = Object.keys(DropReason).length;

const NAMES: string[] = [];
for (const [name, code] of Object.entries(DropReason)) NAMES[code] = name;

/** The reason's name (`'Ipv4BadChecksum'`), or `'Unknown(n)'` for a code this build does not know. */
export function dropReasonName(code: number): string {
  return NAMES[code] ?? `Unknown(${code})`;
}
