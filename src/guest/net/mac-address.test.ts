/** MAC and IPv4 address helpers: text forms, byte forms, multicast mappings (RFC 1112 §6.4, RFC 2464 §7), subnets. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { hasCode } from '../../core/index.js';
import {
  BROADCAST_MAC,
  formatMac,
  ipv4MulticastMac,
  ipv6MulticastMac,
  isBroadcastMac,
  isLocallyAdministeredMac,
  isMulticastMac,
  isUnicastMac,
  parseMac,
  readMac,
  writeMac,
} from './mac-address.js';
import {
  formatIpv4Address,
  ipv4DirectedBroadcast,
  ipv4PrefixMask,
  isIpv4Multicast,
  isMartianIpv4Source,
  isSameIpv4Subnet,
  parseIpv4Address,
} from './ipv4-address.js';

const mac48 = fc.integer({ min: 0, max: BROADCAST_MAC });

describe('MAC addresses', () => {
  it('parse and format "52:54:00:12:34:56" as the number 0x525400123456', () => {
    assert.equal(parseMac('52:54:00:12:34:56'), 0x5254_0012_3456);
    assert.equal(parseMac('52-54-00-12-34-56'), 0x5254_0012_3456);
    assert.equal(parseMac('FF:ff:FF:ff:FF:ff'), BROADCAST_MAC);
    assert.equal(formatMac(0x5254_0012_3456), '52:54:00:12:34:56');
    assert.equal(formatMac(0x0000_0000_0001), '00:00:00:00:00:01');
  });

  it('parseMac refuses anything but six hex pairs with one kind of separator (ERR_GUEST_BAD_ADDRESS)', () => {
    for (const bad of ['', '52:54:00:12:34', '52:54:00:12:34:56:78', '52:54:00:12:34:5g', '52:54-00:12:34:56', '525400123456', '52:54:00:12:34:567', ' 52:54:00:12:34:56']) {
      assert.throws(() => parseMac(bad), (e) => hasCode(e, 'ERR_GUEST_BAD_ADDRESS'), bad);
    }
  });

  it('format(parse(x)) and parse(format(x)) round-trip for every 48-bit value', () => {
    fc.assert(fc.property(mac48, (mac) => parseMac(formatMac(mac)) === mac));
  });

  it('readMac/writeMac store the first octet first, at any offset', () => {
    const bytes = new Uint8Array(9);
    writeMac(bytes, 3, 0x0100_5e7f_fffa);
    assert.deepEqual([...bytes], [0, 0, 0, 0x01, 0x00, 0x5e, 0x7f, 0xff, 0xfa]);
    assert.equal(readMac(bytes, 3), 0x0100_5e7f_fffa);
    fc.assert(fc.property(mac48, (mac) => (writeMac(bytes, 1, mac), readMac(bytes, 1) === mac)));
  });

  it('classify by the I/G and U/L bits of the first octet', () => {
    assert.ok(isMulticastMac(BROADCAST_MAC) && isBroadcastMac(BROADCAST_MAC));
    assert.ok(isMulticastMac(parseMac('01:00:5e:00:00:01')) && !isBroadcastMac(parseMac('01:00:5e:00:00:01')));
    assert.ok(isMulticastMac(parseMac('33:33:00:00:00:01')));
    assert.ok(!isMulticastMac(parseMac('52:54:00:12:34:56')) && isUnicastMac(parseMac('52:54:00:12:34:56')));
    assert.ok(!isUnicastMac(0), 'all-zero is not an interface address');
    assert.ok(isLocallyAdministeredMac(parseMac('52:54:00:12:34:56')), "QEMU's 52:54:00 prefix is locally administered");
    assert.ok(!isLocallyAdministeredMac(parseMac('00:1b:21:00:00:01')));
  });

  it('RFC 1112 §6.4: an IPv4 group maps to 01:00:5e + its low 23 bits (32 groups share a MAC)', () => {
    assert.equal(formatMac(ipv4MulticastMac(parseIpv4Address('224.0.0.251'))), '01:00:5e:00:00:fb');
    assert.equal(formatMac(ipv4MulticastMac(parseIpv4Address('239.255.255.250'))), '01:00:5e:7f:ff:fa');
    assert.equal(ipv4MulticastMac(parseIpv4Address('224.128.0.1')), ipv4MulticastMac(parseIpv4Address('224.0.0.1')));
  });

  it('RFC 2464 §7: an IPv6 multicast address maps to 33:33 + its low 32 bits', () => {
    const allNodes = new Uint8Array(16);
    allNodes[0] = 0xff;
    allNodes[1] = 0x02;
    allNodes[15] = 0x01;
    assert.equal(formatMac(ipv6MulticastMac(allNodes)), '33:33:00:00:00:01');
    // ff02::1:ff00:1234, the solicited-node group of …:1234, at offset 2 of a larger view
    const solicitedNode = Uint8Array.from([0xee, 0xee, 0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, 0x00, 0x12, 0x34]);
    assert.equal(formatMac(ipv6MulticastMac(solicitedNode, 2)), '33:33:ff:00:12:34');
    assert.throws(() => ipv6MulticastMac(new Uint8Array(15)), (e) => hasCode(e, 'ERR_GUEST_BAD_ARGUMENT'));
  });
});

describe('IPv4 addresses', () => {
  it('parse and format dotted quads as u32 values', () => {
    assert.equal(parseIpv4Address('192.168.0.1'), 0xc0a8_0001);
    assert.equal(parseIpv4Address('255.255.255.255'), 0xffff_ffff);
    assert.equal(parseIpv4Address('0.0.0.0'), 0);
    assert.equal(formatIpv4Address(0xc0a8_0001), '192.168.0.1');
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), (ip) => parseIpv4Address(formatIpv4Address(ip)) === ip));
  });

  it('refuses leading zeros, octets above 255 and other shapes (ERR_GUEST_BAD_ADDRESS)', () => {
    for (const bad of ['010.0.0.1', '256.0.0.1', '1.2.3', '1.2.3.4.5', '1.2.3.-4', '1.2.3.4 ', 'a.b.c.d', '']) {
      assert.throws(() => parseIpv4Address(bad), (e) => hasCode(e, 'ERR_GUEST_BAD_ADDRESS'), bad);
    }
  });

  it('computes masks, subnets and directed broadcasts (none for /31 and /32, RFC 3021)', () => {
    assert.equal(ipv4PrefixMask(0), 0);
    assert.equal(ipv4PrefixMask(24), 0xffff_ff00);
    assert.equal(ipv4PrefixMask(32), 0xffff_ffff);
    assert.ok(isSameIpv4Subnet(parseIpv4Address('10.0.0.2'), parseIpv4Address('10.0.0.254'), 24));
    assert.ok(!isSameIpv4Subnet(parseIpv4Address('10.0.0.2'), parseIpv4Address('10.0.1.2'), 24));
    assert.equal(formatIpv4Address(ipv4DirectedBroadcast(parseIpv4Address('10.0.0.2'), 24)), '10.0.0.255');
    assert.equal(formatIpv4Address(ipv4DirectedBroadcast(parseIpv4Address('172.16.5.9'), 12)), '172.31.255.255');
    assert.equal(ipv4DirectedBroadcast(parseIpv4Address('10.0.0.2'), 31), -1);
    assert.equal(ipv4DirectedBroadcast(parseIpv4Address('10.0.0.2'), 32), -1);
  });

  it('knows multicast and the sources that are never valid', () => {
    assert.ok(isIpv4Multicast(parseIpv4Address('224.0.0.1')) && isIpv4Multicast(parseIpv4Address('239.255.255.255')));
    assert.ok(!isIpv4Multicast(parseIpv4Address('223.255.255.255')) && !isIpv4Multicast(parseIpv4Address('240.0.0.0')));
    assert.ok(isMartianIpv4Source(0) && isMartianIpv4Source(0xffff_ffff) && isMartianIpv4Source(parseIpv4Address('224.0.0.5')));
    assert.ok(!isMartianIpv4Source(parseIpv4Address('10.0.0.1')));
  });
});
