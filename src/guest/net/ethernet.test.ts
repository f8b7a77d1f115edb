/** Ethernet II and 802.1Q: golden layouts, every drop reason, in-place tag insert/strip. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { hasCode } from '../../core/index.js';
import { DropReason } from './drop-reason.js';
import {
  ETH_P_ARP,
  ETH_P_IP,
  ETH_P_IPV6,
  ETH_ZLEN,
  EthernetHeader,
  NOT_TAGGED,
  NO_VLAN_TAG,
  insertVlanTag,
  makeVlanTci,
  padToMinimumFrame,
  parseEthernetHeader,
  stripVlanTag,
  vlanDropEligibleOfTci,
  vlanIdOfTci,
  vlanPriorityOfTci,
  vlanTciForInterface,
  writeEthernetHeader,
} from './ethernet.js';
import { BROADCAST_MAC } from './mac-address.js';
import { OUR_MAC, PEER_MAC, hex, inSharedRam, toHex } from './net-test-kit.js';

const UNTAGGED = hex(`
  52 54 00 12 34 56   # destination
  02 00 00 00 00 01   # source
  08 00               # IPv4
  de ad be ef`);

const TAGGED = hex(`
  ff ff ff ff ff ff   # destination: broadcast
  02 00 00 00 00 01   # source
  81 00               # TPID 802.1Q
  b0 64               # TCI: PCP 5, DEI 1, VID 100
  08 06               # ARP
  de ad be ef`);

describe('Ethernet II', () => {
  it('parses an untagged frame', () => {
    const eth = new EthernetHeader();
    assert.equal(parseEthernetHeader(UNTAGGED, 0, UNTAGGED.length, eth), DropReason.None);
    assert.equal(eth.dstMac, OUR_MAC);
    assert.equal(eth.srcMac, PEER_MAC);
    assert.equal(eth.etherType, ETH_P_IP);
    assert.equal(eth.isVlanTagged, false);
    assert.equal(eth.vlanId, 0);
    assert.deepEqual([eth.headerLength, eth.payloadOffset, eth.payloadLength], [14, 14, 4]);
  });

  it('parses an 802.1Q tag: PCP, DEI, VID and the inner ethertype', () => {
    const eth = new EthernetHeader();
    const { ram, offset } = inSharedRam(TAGGED);
    assert.equal(parseEthernetHeader(ram, offset, TAGGED.length, eth), DropReason.None);
    assert.equal(eth.dstMac, BROADCAST_MAC);
    assert.ok(eth.isVlanTagged);
    assert.equal(eth.vlanTci, 0xb064);
    assert.deepEqual([eth.vlanId, eth.vlanPriority, vlanDropEligibleOfTci(eth.vlanTci)], [100, 5, true]);
    assert.equal(eth.etherType, ETH_P_ARP);
    assert.deepEqual([eth.headerLength, eth.payloadOffset, eth.payloadLength], [18, offset + 18, 4]);
  });

  it('drops what is not a single-tagged Ethernet II frame, with the reason', () => {
    const eth = new EthernetHeader();
    const cases: [string, string, DropReason][] = [
      ['13 bytes', '52 54 00 12 34 56 02 00 00 00 00 01 08', DropReason.FrameTooShort],
      ['tag cut short', '52 54 00 12 34 56 02 00 00 00 00 01 81 00 00 64 08', DropReason.VlanTruncated],
      ['QinQ: two 802.1Q tags', '52 54 00 12 34 56 02 00 00 00 00 01 81 00 00 64 81 00 00 65 08 00', DropReason.VlanStacked],
      ['802.1ad S-tag outside', '52 54 00 12 34 56 02 00 00 00 00 01 88 a8 00 64 81 00 00 65 08 00', DropReason.VlanStacked],
      ['802.1ad inside', '52 54 00 12 34 56 02 00 00 00 00 01 81 00 00 64 88 a8 00 65', DropReason.VlanStacked],
      ['reserved VID 4095', '52 54 00 12 34 56 02 00 00 00 00 01 81 00 0f ff 08 00', DropReason.VlanReservedId],
      ['802.3 length field', '52 54 00 12 34 56 02 00 00 00 00 01 00 2e aa aa 03', DropReason.NotEthernetII],
      ['tagged 802.3 length', '52 54 00 12 34 56 02 00 00 00 00 01 81 00 00 64 05 ff', DropReason.NotEthernetII],
    ];
    for (const [what, listing, reason] of cases) {
      const bytes = hex(listing);
      assert.equal(parseEthernetHeader(bytes, 0, bytes.length, eth), reason, what);
    }
    assert.equal(parseEthernetHeader(hex('52 54 00 12 34 56 02 00 00 00 00 01 06 00'), 0, 14, eth), DropReason.None, '0x0600 is the first ethertype');
  });

  it('throws for a span outside the view (a caller bug), never for content', () => {
    assert.throws(() => parseEthernetHeader(UNTAGGED, 4, UNTAGGED.length, new EthernetHeader()), (e) => hasCode(e, 'ERR_GUEST_SPAN_OUT_OF_RANGE'));
    assert.throws(() => parseEthernetHeader(UNTAGGED, -1, 2, new EthernetHeader()), (e) => hasCode(e, 'ERR_GUEST_SPAN_OUT_OF_RANGE'));
  });

  it('writes untagged and tagged headers byte for byte', () => {
    const out = new Uint8Array(18);
    assert.equal(writeEthernetHeader(out, 0, 18, OUR_MAC, PEER_MAC, ETH_P_IP), 14);
    assert.equal(toHex(out.subarray(0, 14)), '525400123456' + '020000000001' + '0800');
    assert.equal(writeEthernetHeader(out, 0, 18, BROADCAST_MAC, PEER_MAC, ETH_P_ARP, makeVlanTci(100, 5, true)), 18);
    assert.equal(toHex(out), toHex(TAGGED.subarray(0, 18)));
    assert.throws(() => writeEthernetHeader(out, 0, 17, OUR_MAC, PEER_MAC, ETH_P_IP, 100), (e) => hasCode(e, 'ERR_GUEST_BUFFER_TOO_SMALL'));
    assert.throws(() => writeEthernetHeader(out, 0, 18, OUR_MAC, PEER_MAC, 0x05ff), (e) => hasCode(e, 'ERR_GUEST_BAD_ARGUMENT'));
    assert.throws(() => writeEthernetHeader(out, 0, 18, 2 ** 48, PEER_MAC, ETH_P_IP), (e) => hasCode(e, 'ERR_GUEST_BAD_ARGUMENT'));
  });

  it('composes TCIs and refuses out-of-range fields', () => {
    assert.equal(makeVlanTci(100), 0x0064);
    assert.equal(makeVlanTci(4094, 7, true), 0xfffe);
    assert.deepEqual([vlanIdOfTci(0xfffe), vlanPriorityOfTci(0xfffe)], [4094, 7]);
    assert.equal(vlanTciForInterface(0), NO_VLAN_TAG);
    assert.equal(vlanTciForInterface(7), 7);
    for (const [vid, pcp] of [[4095, 0], [-1, 0], [1, 8], [1.5, 0]] as const) assert.throws(() => makeVlanTci(vid, pcp), (e) => hasCode(e, 'ERR_GUEST_BAD_ARGUMENT'));
  });
});

describe('802.1Q insert and strip in place', () => {
  it('insert uses the 4 bytes of headroom and gives the tagged layout; strip restores the original', () => {
    const buffer = new Uint8Array(4 + UNTAGGED.length);
    buffer.set(UNTAGGED, 4);
    const start = insertVlanTag(buffer, 4, UNTAGGED.length, makeVlanTci(100, 5, true));
    assert.equal(start, 0);
    assert.equal(toHex(buffer), '525400123456020000000001' + '8100b064' + '0800deadbeef');
    const back = stripVlanTag(buffer, start, buffer.length);
    assert.equal(back, 4);
    assert.equal(toHex(buffer.subarray(back)), toHex(UNTAGGED));
  });

  it('strip reports NOT_TAGGED and changes nothing for untagged or truncated frames', () => {
    const copy = UNTAGGED.slice();
    assert.equal(stripVlanTag(copy, 0, copy.length), NOT_TAGGED);
    assert.deepEqual(copy, UNTAGGED);
    assert.equal(stripVlanTag(TAGGED, 0, 17), NOT_TAGGED);
  });

  it('insert needs headroom and a whole header (caller bugs)', () => {
    assert.throws(() => insertVlanTag(UNTAGGED.slice(), 0, UNTAGGED.length, 100), (e) => hasCode(e, 'ERR_GUEST_BUFFER_TOO_SMALL'));
    assert.throws(() => insertVlanTag(new Uint8Array(20), 4, 13, 100), (e) => hasCode(e, 'ERR_GUEST_BUFFER_TOO_SMALL'));
    assert.throws(() => insertVlanTag(new Uint8Array(20), 4, 14, 0x10000), (e) => hasCode(e, 'ERR_GUEST_BAD_ARGUMENT'));
  });

  it('insert then parse gives the TCI and the original type and payload; strip gives the frame back (any frame, any TCI)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 14, maxLength: 80 }), fc.integer({ min: 0, max: 4094 }), fc.integer({ min: 0, max: 7 }), (frame, vid, pcp) => {
        frame[12] = 0x08; // a plain ethertype, so the original parses as untagged
        frame[13] = 0x00;
        const buffer = new Uint8Array(frame.length + 8);
        buffer.set(frame, 8);
        const start = insertVlanTag(buffer, 8, frame.length, makeVlanTci(vid, pcp));
        const eth = new EthernetHeader();
        assert.equal(parseEthernetHeader(buffer, start, frame.length + 4, eth), DropReason.None);
        assert.deepEqual([eth.vlanId, eth.vlanPriority, eth.etherType, eth.payloadLength], [vid, pcp, ETH_P_IP, frame.length - 14]);
        assert.deepEqual(buffer.subarray(start + 18, start + frame.length + 4), frame.subarray(14));
        const back = stripVlanTag(buffer, start, frame.length + 4);
        assert.deepEqual(buffer.subarray(back, back + frame.length), frame);
      }),
    );
  });

  it('padToMinimumFrame zero-fills to 60 bytes and leaves longer frames alone', () => {
    const buffer = new Uint8Array(64).fill(0xee);
    buffer.set(UNTAGGED);
    assert.equal(padToMinimumFrame(buffer, 0, UNTAGGED.length, 64), ETH_ZLEN);
    assert.ok(buffer.subarray(UNTAGGED.length, 60).every((b) => b === 0));
    assert.equal(buffer[60], 0xee);
    assert.equal(padToMinimumFrame(buffer, 0, 61, 64), 61);
    assert.throws(() => padToMinimumFrame(buffer, 10, 20, 54), (e) => hasCode(e, 'ERR_GUEST_BUFFER_TOO_SMALL'));
  });

  it('an IPv6 frame parses (the classifier, not the parser, refuses it)', () => {
    const bytes = hex('33 33 00 00 00 01 02 00 00 00 00 01 86 dd 60 00');
    const eth = new EthernetHeader();
    assert.equal(parseEthernetHeader(bytes, 0, bytes.length, eth), DropReason.None);
    assert.equal(eth.etherType, ETH_P_IPV6);
  });
});
