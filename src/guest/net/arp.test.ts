/** ARP (RFC 826), gratuitous ARP, and QEMU's RARP self-announce (net/announce.c), byte for byte. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { hasCode } from '../../core/index.js';
import {
  ARPOP_REQUEST,
  ARPOP_RREQUEST,
  ArpPacket,
  NOT_AN_ANNOUNCE,
  buildArpReplyFrame,
  buildArpRequestFrame,
  buildGratuitousArpFrame,
  buildRarpAnnounceFrame,
  parseArpPacket,
  parseRarpAnnounceFrame,
} from './arp.js';
import { DropReason } from './drop-reason.js';
import { ETH_HLEN, NO_VLAN_TAG, makeVlanTci } from './ethernet.js';
import { parseIpv4Address } from './ipv4-address.js';
import { parseMac } from './mac-address.js';
import { OUR_IP, OUR_MAC, PEER_IP, PEER_MAC, hex, toHex } from './net-test-kit.js';

// "Who has 10.0.0.1? Tell 10.0.0.2", from 52:54:00:12:34:56 — RFC 826's packet after a broadcast Ethernet header.
const ARP_REQUEST = hex(`
  ff ff ff ff ff ff  52 54 00 12 34 56  08 06   # Ethernet: broadcast, from us, ARP
  00 01                                         # ar$hrd: Ethernet
  08 00                                         # ar$pro: IPv4
  06 04                                         # ar$hln, ar$pln
  00 01                                         # ar$op: request
  52 54 00 12 34 56  0a 00 00 02                # sender: our MAC, 10.0.0.2
  00 00 00 00 00 00  0a 00 00 01                # target: unknown MAC, 10.0.0.1`);

// QEMU's announce_self_create() for 52:54:00:12:34:56: 60 bytes.
const QEMU_RARP_ANNOUNCE = hex(`
  ff ff ff ff ff ff                             # broadcast
  52 54 00 12 34 56                             # the NIC's MAC
  80 35                                         # ETH_P_RARP
  00 01  08 00  06 04                           # Ethernet, IPv4, 6, 4
  00 03                                         # ARP_OP_REQUEST_REV
  52 54 00 12 34 56  00 00 00 00                # sender MAC, sender IP 0
  52 54 00 12 34 56  00 00 00 00                # target MAC, target IP 0
  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00   # 18 bytes of padding`);

describe('ARP', () => {
  it('builds the RFC 826 request layout', () => {
    const out = new Uint8Array(64);
    const length = buildArpRequestFrame(out, 0, 64, NO_VLAN_TAG, OUR_MAC, OUR_IP, PEER_IP);
    assert.equal(length, 42);
    assert.equal(toHex(out.subarray(0, length)), toHex(ARP_REQUEST));
  });

  it('parses the request back', () => {
    const arp = new ArpPacket();
    assert.equal(parseArpPacket(ARP_REQUEST, ETH_HLEN, ARP_REQUEST.length - ETH_HLEN, arp), DropReason.None);
    assert.deepEqual({ ...arp }, { operation: ARPOP_REQUEST, senderMac: OUR_MAC, senderIp: OUR_IP, targetMac: 0, targetIp: PEER_IP });
  });

  it('builds a unicast reply to the requester', () => {
    const out = new Uint8Array(64);
    const length = buildArpReplyFrame(out, 0, 64, NO_VLAN_TAG, OUR_MAC, OUR_IP, PEER_MAC, PEER_IP);
    assert.equal(
      toHex(out.subarray(0, length)),
      toHex(hex(`
        02 00 00 00 00 01  52 54 00 12 34 56  08 06
        00 01 08 00 06 04  00 02
        52 54 00 12 34 56  0a 00 00 02
        02 00 00 00 00 01  0a 00 00 01`)),
    );
  });

  it('builds the gratuitous ARP Linux sends on NETDEV_NOTIFY_PEERS, tagged on a VLAN', () => {
    const out = new Uint8Array(64);
    const ip = parseIpv4Address('192.168.100.2');
    const length = buildGratuitousArpFrame(out, 0, 64, makeVlanTci(100), OUR_MAC, ip);
    assert.equal(length, 46);
    assert.equal(
      toHex(out.subarray(0, length)),
      toHex(hex(`
        ff ff ff ff ff ff  52 54 00 12 34 56  81 00 00 64  08 06
        00 01 08 00 06 04  00 01
        52 54 00 12 34 56  c0 a8 64 02
        00 00 00 00 00 00  c0 a8 64 02   # target IP = sender IP: an announcement`)),
    );
  });

  it('drops short or non-Ethernet/IPv4 ARP', () => {
    const arp = new ArpPacket();
    const body = ARP_REQUEST.slice(ETH_HLEN);
    assert.equal(parseArpPacket(body, 0, 27, arp), DropReason.ArpTruncated);
    for (const [at, value] of [[1, 6], [2, 0x86], [4, 8], [5, 16]] as const) {
      const bad = body.slice();
      bad[at] = value;
      assert.equal(parseArpPacket(bad, 0, bad.length, arp), DropReason.ArpUnsupportedFormat, `byte ${at} = ${value}`);
    }
  });

  it('refuses out-of-range builder arguments', () => {
    assert.throws(() => buildArpRequestFrame(new Uint8Array(41), 0, 41, NO_VLAN_TAG, OUR_MAC, OUR_IP, PEER_IP), (e) => hasCode(e, 'ERR_GUEST_BUFFER_TOO_SMALL'));
    assert.throws(() => buildArpRequestFrame(new Uint8Array(64), 0, 64, NO_VLAN_TAG, OUR_MAC, -1, PEER_IP), (e) => hasCode(e, 'ERR_GUEST_BAD_ARGUMENT'));
  });
});

describe("QEMU's RARP self-announce", () => {
  it('is the 60-byte frame of net/announce.c', () => {
    const out = new Uint8Array(80).fill(0xee);
    assert.equal(buildRarpAnnounceFrame(out, 10, 70, parseMac('52:54:00:12:34:56')), 60);
    assert.equal(toHex(out.subarray(10, 70)), toHex(QEMU_RARP_ANNOUNCE));
    assert.equal(out[70], 0xee, 'nothing written past 60 bytes');
  });

  it('parses back: the announced MAC, the RARP fields', () => {
    assert.equal(parseRarpAnnounceFrame(QEMU_RARP_ANNOUNCE, 0, 60), OUR_MAC);
    assert.equal(parseRarpAnnounceFrame(QEMU_RARP_ANNOUNCE, 0, 42), OUR_MAC, 'padding is not required');
    const arp = new ArpPacket();
    assert.equal(parseArpPacket(QEMU_RARP_ANNOUNCE, ETH_HLEN, 60 - ETH_HLEN, arp), DropReason.None);
    assert.equal(arp.operation, ARPOP_RREQUEST);
    assert.equal(arp.senderIp, 0);
  });

  it('is not recognised when any identifying field differs', () => {
    const mutations: [number, number][] = [
      [0, 0x01], // not broadcast
      [13, 0x06], // ARP, not RARP
      [21, 0x04], // reverse reply
      [27, 0x57], // sender MAC differs from the source
      [37, 0x57], // target MAC differs
    ];
    for (const [at, value] of mutations) {
      const bad = QEMU_RARP_ANNOUNCE.slice();
      bad[at] = value;
      assert.equal(parseRarpAnnounceFrame(bad, 0, 60), NOT_AN_ANNOUNCE, `byte ${at}`);
    }
    assert.equal(parseRarpAnnounceFrame(QEMU_RARP_ANNOUNCE, 0, 41), NOT_AN_ANNOUNCE);
    assert.equal(parseRarpAnnounceFrame(ARP_REQUEST, 0, 42), NOT_AN_ANNOUNCE);
  });
});
