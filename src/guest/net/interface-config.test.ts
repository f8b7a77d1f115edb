/** The interface configuration: its 80-byte RAM layout, validation, round trips. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { hasCode } from '../../core/index.js';
import { INTERFACE_CONFIG_BYTES, NET_CONFIG_F_ACCEPT_IPV4_MULTICAST, decodeInterfaceConfig, encodeInterfaceConfig, validateInterfaceConfig } from './interface-config.js';
import type { InterfaceConfig } from './interface-config.js';
import { hex, sampleConfig, toHex } from './net-test-kit.js';

const SAMPLE_BYTES = hex(`
  4e 43 46 47              # magic "NCFG"
  01 00                    # layout version 1
  03                       # 3 interfaces
  01                       # flags: accept IPv4 multicast
  52 54 00 12 34 56        # MAC
  00 00                    # reserved
  0a 00 00 02  18 00  00 00   # 10.0.0.2/24, untagged
  c0 a8 64 02  18 00  64 00   # 192.168.100.2/24, VLAN 100
  0a 00 00 02  18 00  c8 00   # 10.0.0.2/24, VLAN 200
  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00
  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  # 5 unused slots`);

const badConfig = (code: string) => (e: unknown) => hasCode(e, code);

describe('interface configuration', () => {
  it('encodes to the documented 80-byte layout', () => {
    const out = new Uint8Array(INTERFACE_CONFIG_BYTES).fill(0xee);
    assert.equal(encodeInterfaceConfig(sampleConfig(NET_CONFIG_F_ACCEPT_IPV4_MULTICAST), out, 0), 80);
    assert.equal(SAMPLE_BYTES.length, 80);
    assert.equal(toHex(out), toHex(SAMPLE_BYTES));
  });

  it('decodes it back from a SharedArrayBuffer (guest RAM) at an offset', () => {
    const ram = new Uint8Array(new SharedArrayBuffer(200));
    ram.set(SAMPLE_BYTES, 64);
    assert.deepEqual(decodeInterfaceConfig(ram, 64), sampleConfig(NET_CONFIG_F_ACCEPT_IPV4_MULTICAST));
  });

  it('refuses a region that was never written, another layout version, or too many interfaces', () => {
    assert.throws(() => decodeInterfaceConfig(new Uint8Array(80), 0), badConfig('ERR_GUEST_BAD_INTERFACE_CONFIG'));
    const version2 = SAMPLE_BYTES.slice();
    version2[4] = 2;
    assert.throws(() => decodeInterfaceConfig(version2, 0), badConfig('ERR_GUEST_BAD_INTERFACE_CONFIG'));
    const nine = SAMPLE_BYTES.slice();
    nine[6] = 9;
    assert.throws(() => decodeInterfaceConfig(nine, 0), badConfig('ERR_GUEST_BAD_INTERFACE_CONFIG'));
    const badPrefix = SAMPLE_BYTES.slice();
    badPrefix[16 + 4] = 33;
    assert.throws(() => decodeInterfaceConfig(badPrefix, 0), badConfig('ERR_GUEST_BAD_INTERFACE_CONFIG'));
    assert.throws(() => decodeInterfaceConfig(SAMPLE_BYTES, 1), badConfig('ERR_GUEST_SPAN_OUT_OF_RANGE'));
  });

  it('validates what the classifier relies on', () => {
    const base = sampleConfig();
    const broken: [string, InterfaceConfig][] = [
      ['multicast MAC', { ...base, mac: 0x0100_5e00_0001 }],
      ['zero MAC', { ...base, mac: 0 }],
      ['unknown flag', { ...base, flags: 2 }],
      ['nine interfaces', { ...base, interfaces: Array.from({ length: 9 }, (_, i) => ({ vlanId: i, ip: 0x0a00_0002, prefixLength: 24 })) }],
      ['VLAN 4095', { ...base, interfaces: [{ vlanId: 4095, ip: 0x0a00_0002, prefixLength: 24 }] }],
      ['address 0.0.0.0', { ...base, interfaces: [{ vlanId: 0, ip: 0, prefixLength: 24 }] }],
      ['multicast address', { ...base, interfaces: [{ vlanId: 0, ip: 0xe000_0001, prefixLength: 24 }] }],
      ['prefix 33', { ...base, interfaces: [{ vlanId: 0, ip: 0x0a00_0002, prefixLength: 33 }] }],
      ['same address twice on one VLAN', { ...base, interfaces: [base.interfaces[0]!, { ...base.interfaces[0]!, prefixLength: 16 }] }],
    ];
    for (const [what, config] of broken) assert.throws(() => validateInterfaceConfig(config), badConfig('ERR_GUEST_BAD_INTERFACE_CONFIG'), what);
    assert.throws(() => encodeInterfaceConfig(broken[0]![1], new Uint8Array(80), 0), badConfig('ERR_GUEST_BAD_INTERFACE_CONFIG'));
    validateInterfaceConfig({ mac: 0x0200_0000_0001, flags: 0, interfaces: [] });
  });

  it('encode → decode round-trips any valid configuration', () => {
    const iface = fc.record({
      vlanId: fc.integer({ min: 0, max: 4094 }),
      ip: fc.integer({ min: 0x0100_0000, max: 0xdfff_ffff }),
      prefixLength: fc.integer({ min: 0, max: 32 }),
    });
    const config = fc.record({
      mac: fc.integer({ min: 1, max: 2 ** 48 - 1 }).map((m) => m - (Math.floor(m / 2 ** 40) & 1) * 2 ** 40).filter((m) => m !== 0),
      flags: fc.constantFrom(0, NET_CONFIG_F_ACCEPT_IPV4_MULTICAST),
      interfaces: fc.uniqueArray(iface, { maxLength: 8, selector: (i) => `${i.vlanId}/${i.ip}` }),
    });
    fc.assert(
      fc.property(config, (c) => {
        const out = new Uint8Array(90);
        encodeInterfaceConfig(c, out, 5);
        const back = decodeInterfaceConfig(out, 5);
        assert.deepEqual(back, { mac: c.mac, flags: c.flags, interfaces: c.interfaces.map((i) => ({ vlanId: i.vlanId, ip: i.ip, prefixLength: i.prefixLength })) });
      }),
    );
  });
});
