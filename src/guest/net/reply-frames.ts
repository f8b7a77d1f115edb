/**
 * Building the stack's answers to classified frames, straight into a
 * transmit buffer (normally a TX descriptor's buffer in guest RAM):
 *
 *   RxVerdict.ArpRequest       → buildArpReplyFor       "our IP is at our MAC"
 *   RxVerdict.IcmpEchoRequest  → buildIcmpEchoReplyFor  same id, sequence and data
 *   RxVerdict.Udp              → buildUdpReplyFor       ports and addresses swapped,
 *                                                      payload placed by the caller
 *
 * Replies leave on the VLAN the request came in on (untagged for VLAN 0,
 * without the request's priority), to the requester's MAC, from the NIC's MAC
 * and the address the request was for (for a UDP broadcast: the interface's
 * own address). Each returns the frame length; the caller prepends the
 * virtio-net header and marks the written span dirty.
 */

import { VmigError } from '../../core/index.js';
import { copyBytes, checkSpan } from './byte-access.js';
import { buildArpReplyFrame } from './arp.js';
import { vlanTciForInterface } from './ethernet.js';
import { ICMP_ECHOREPLY, buildIcmpEchoFrame, icmpEchoFrameDataOffset } from './icmp.js';
import type { InterfaceAddress, InterfaceConfig } from './interface-config.js';
import { IPV4_DEFAULT_TTL } from './ipv4.js';
import { RxClassification, RxVerdict } from './receive-classifier.js';
import { buildUdpFrame, udpFramePayloadOffset } from './udp.js';
import type { UdpChecksumMode } from './udp.js';

/** What `buildIcmpEchoReplyFor` returns when the reply does not fit the buffer (the guest counts it, nothing is sent). */
export const REPLY_DOES_NOT_FIT = 0;

function requireVerdict(rx: RxClassification, verdict: RxVerdict, config: InterfaceConfig, what: string): InterfaceAddress {
  const iface = config.interfaces[rx.interfaceIndex];
  if (rx.verdict !== verdict || iface === undefined) {
    throw new VmigError('ERR_GUEST_BAD_ARGUMENT', `Cannot build ${what}: the classification has verdict ${rx.verdict} and interface ${rx.interfaceIndex}, not verdict ${verdict} on a configured interface`, {
      details: { verdict: rx.verdict, expected: verdict, interfaceIndex: rx.interfaceIndex },
    });
  }
  return iface;
}

/**
 * The ARP reply to an ArpRequest classification. For an RFC 5227 probe
 * (sender IP 0) the reply's target IP is 0, as Linux answers probes.
 * @throws VmigError ERR_GUEST_BAD_ARGUMENT for another verdict, ERR_GUEST_BUFFER_TOO_SMALL below 46 bytes
 */
export function buildArpReplyFor(rx: RxClassification, config: InterfaceConfig, tx: Uint8Array, txOffset: number, txCapacity: number): number {
  const iface = requireVerdict(rx, RxVerdict.ArpRequest, config, 'an ARP reply');
  return buildArpReplyFrame(tx, txOffset, txCapacity, vlanTciForInterface(rx.vlanId), config.mac, iface.ip, rx.arp.senderMac, rx.arp.senderIp);
}

/** Length of the echo reply to an IcmpEchoRequest classification (to size the TX buffer). */
export function icmpEchoReplyFrameLength(rx: RxClassification): number {
  return icmpEchoFrameDataOffset(vlanTciForInterface(rx.vlanId)) + rx.icmp.dataLength;
}

/**
 * The echo reply to an IcmpEchoRequest classification of the frame in
 * `rxBytes`, copying its data (rx and tx may be views of the same RAM).
 * Returns the frame length, or REPLY_DOES_NOT_FIT when a (peer-chosen)
 * large ping does not fit `txCapacity` — input, not a caller bug.
 * @throws VmigError ERR_GUEST_BAD_ARGUMENT for another verdict
 */
export function buildIcmpEchoReplyFor(
  rx: RxClassification,
  rxBytes: Uint8Array,
  config: InterfaceConfig,
  tx: Uint8Array,
  txOffset: number,
  txCapacity: number,
  identification = 0,
): number {
  requireVerdict(rx, RxVerdict.IcmpEchoRequest, config, 'an ICMP echo reply');
  checkSpan(tx, txOffset, txCapacity, 'echo reply destination');
  if (icmpEchoReplyFrameLength(rx) > txCapacity) return REPLY_DOES_NOT_FIT;
  const vlanTci = vlanTciForInterface(rx.vlanId);
  checkSpan(rxBytes, rx.icmp.dataOffset, rx.icmp.dataLength, 'echo request data');
  copyBytes(rxBytes, rx.icmp.dataOffset, tx, txOffset + icmpEchoFrameDataOffset(vlanTci), rx.icmp.dataLength);
  return buildIcmpEchoFrame(
    tx,
    txOffset,
    txCapacity,
    {
      dstMac: rx.ethernet.srcMac,
      srcMac: config.mac,
      vlanTci,
      srcIp: rx.ipv4.dstIp, // echo requests to broadcasts are dropped, so this is our unicast address
      dstIp: rx.ipv4.srcIp,
      ttl: IPV4_DEFAULT_TTL,
      identification,
      type: ICMP_ECHOREPLY,
      identifier: rx.icmp.identifier,
      sequence: rx.icmp.sequence,
    },
    rx.icmp.dataLength,
  );
}

/** Where the caller writes the reply payload before `buildUdpReplyFor`, relative to txOffset. */
export function udpReplyPayloadOffset(rx: RxClassification): number {
  return udpFramePayloadOffset(vlanTciForInterface(rx.vlanId));
}

/**
 * Headers for a reply to a Udp classification around the `payloadLength`
 * bytes the caller wrote at txOffset + udpReplyPayloadOffset(rx). Returns the
 * frame length.
 * @throws VmigError ERR_GUEST_BAD_ARGUMENT for another verdict, ERR_GUEST_BUFFER_TOO_SMALL
 */
export function buildUdpReplyFor(
  rx: RxClassification,
  config: InterfaceConfig,
  tx: Uint8Array,
  txOffset: number,
  txCapacity: number,
  payloadLength: number,
  checksumMode: UdpChecksumMode = 'full',
  identification = 0,
): number {
  const iface = requireVerdict(rx, RxVerdict.Udp, config, 'a UDP reply');
  return buildUdpFrame(
    tx,
    txOffset,
    txCapacity,
    {
      dstMac: rx.ethernet.srcMac,
      srcMac: config.mac,
      vlanTci: vlanTciForInterface(rx.vlanId),
      srcIp: rx.destinationKind === 'unicast' ? rx.ipv4.dstIp : iface.ip,
      dstIp: rx.ipv4.srcIp,
      srcPort: rx.udp.dstPort,
      dstPort: rx.udp.srcPort,
      ttl: IPV4_DEFAULT_TTL,
      identification,
      checksumMode,
    },
    payloadLength,
  );
}
