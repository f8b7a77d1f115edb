/** rxFilter: QEMU's receive_filter semantics, one rule per test. */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import type { RxFilterState } from './rx-filter.js';
import { rxFilter } from './rx-filter.js';

const OWN = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
const OTHER = [0x52, 0x54, 0, 0xaa, 0xbb, 0xcc];
const MCAST = [0x01, 0x00, 0x5e, 0, 0, 0xfb];
const BCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

function frame(dst: number[], vlan?: number): Uint8Array {
  return Uint8Array.from([...dst, 2, 0, 0, 0, 0, 1, ...(vlan === undefined ? [] : [0x81, 0, vlan >> 8, vlan & 0xff]), 0x08, 0x00, 0x45]);
}

function state(over: Partial<RxFilterState> = {}): RxFilterState {
  const vlans = new Uint8Array(512);
  vlans[0] = 1; // VLAN 0
  return { mac: Uint8Array.from(OWN), promisc: false, allmulti: false, alluni: false, nomulti: false, nouni: false, nobcast: false, macTable: new Uint8Array(0), inUse: 0, firstMulti: 0, multiOverflow: false, uniOverflow: false, vlans, ...over };
}

describe('virtio-net receive filter', () => {
  test('own unicast and broadcast pass; another unicast and an unlisted multicast are dropped', () => {
    assert.equal(rxFilter(state(), frame(OWN)), 'accept');
    assert.equal(rxFilter(state(), frame(BCAST)), 'accept');
    assert.equal(rxFilter(state(), frame(OTHER)), 'drop-unicast');
    assert.equal(rxFilter(state(), frame(MCAST)), 'drop-multicast');
  });

  test('promiscuous mode accepts everything, even filtered VLANs', () => {
    assert.equal(rxFilter(state({ promisc: true }), frame(OTHER, 99)), 'accept');
  });

  test('a VLAN not in the filter is dropped, one in it passes', () => {
    assert.equal(rxFilter(state(), frame(OWN, 100)), 'drop-vlan');
    const s = state();
    const at = (100 >> 5) * 4 + ((100 & 31) >> 3);
    s.vlans[at] = s.vlans[at]! | (1 << (100 & 7));
    assert.equal(rxFilter(s, frame(OWN, 100)), 'accept');
  });

  test('nobcast drops broadcast', () => {
    assert.equal(rxFilter(state({ nobcast: true }), frame(BCAST)), 'drop-broadcast');
  });

  test('the multicast table, allmulti, overflow and nomulti', () => {
    const table = Uint8Array.from([...OTHER, ...MCAST]);
    assert.equal(rxFilter(state({ macTable: table, inUse: 2, firstMulti: 1 }), frame(MCAST)), 'accept');
    assert.equal(rxFilter(state({ allmulti: true }), frame(MCAST)), 'accept');
    assert.equal(rxFilter(state({ multiOverflow: true }), frame(MCAST)), 'accept');
    assert.equal(rxFilter(state({ allmulti: true, nomulti: true }), frame(MCAST)), 'drop-multicast');
  });

  test('the unicast table, alluni, overflow and nouni', () => {
    const table = Uint8Array.from([...OTHER, ...MCAST]);
    assert.equal(rxFilter(state({ macTable: table, inUse: 2, firstMulti: 1 }), frame(OTHER)), 'accept');
    assert.equal(rxFilter(state({ macTable: table, inUse: 2, firstMulti: 0 }), frame(OTHER)), 'drop-unicast', 'an entry past first_multi is not a unicast entry');
    assert.equal(rxFilter(state({ alluni: true }), frame(OTHER)), 'accept');
    assert.equal(rxFilter(state({ uniOverflow: true }), frame(OTHER)), 'accept');
    assert.equal(rxFilter(state({ nouni: true }), frame(OWN)), 'drop-unicast');
  });

  test('a runt frame is dropped, not read past its end', () => {
    assert.equal(rxFilter(state(), Uint8Array.from(OWN)), 'drop-unicast');
  });
});
